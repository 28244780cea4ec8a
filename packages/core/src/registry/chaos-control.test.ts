import { afterEach, describe, expect, it, vi } from 'vitest';
import { isBulwarkError } from '../errors/bulwark-error.js';
import { createBulwark } from './bulwark.js';
import { configIssues } from './validate.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

const ok = () => 'ok';

describe('chaos in the registry', () => {
  it('runs config chaos innermost: retry meets the injected faults as a dependency failure', async () => {
    let draws = 0;
    const b = createBulwark({
      policies: {
        api: {
          retry: { maxAttempts: 3, initialDelay: 1, jitter: false },
          chaos: { errorRate: 0.5, random: () => (draws++ < 2 ? 0.1 : 0.9) },
        },
      },
    });
    const calls: number[] = [];
    expect(await b.run('api', (_s, attempt) => calls.push(attempt) && 'ok')).toBe('ok');
    // Attempts 1 and 2 were failed by chaos before reaching the operation; attempt 3 reached it.
    expect(calls).toEqual([3]);
    expect(b.chaos.status()).toEqual({ api: { enabled: true, calls: 3, delayed: 0, failed: 2, aborted: 0 } });
    await b.close();
  });

  it('sets, switches and clears chaos on any named policy at run time', async () => {
    const b = createBulwark({ policies: { db: {}, cache: {} } });
    expect(await b.run('db', ok)).toBe('ok');
    expect(b.chaos.get('db')).toBeUndefined();
    expect(() => b.chaos.enable('db')).toThrow("Policy 'db' has no chaos to switch.");
    b.chaos.set('db', { errorRate: 1, error: 'TIMEOUT' });
    const err = await b.run('db', ok).catch((e: unknown) => e);
    expect(isBulwarkError(err) && err.code).toBe('TIMEOUT');
    expect(await b.run('cache', ok)).toBe('ok');
    b.chaos.disable();
    expect(await b.run('db', ok)).toBe('ok');
    b.chaos.enable();
    await expect(b.run('db', ok)).rejects.toThrow('Fault injected by the chaos policy "db"');
    // set() again replaces the settings of the same chaos.
    b.chaos.set('db', { errorRate: 0 });
    expect(await b.run('db', ok)).toBe('ok');
    expect(b.chaos.status().db).toMatchObject({ enabled: true, failed: 2 });
    b.chaos.clear('db');
    expect(b.chaos.status()).toEqual({});
    expect(() => b.chaos.set('nope', { errorRate: 1 })).toThrow(/nope/);
    await b.close();
  });

  it('injects only for the keys it names', async () => {
    const b = createBulwark({ policies: { api: { chaos: { errorRate: 1, keys: ['tenant-a'] } } } });
    await expect(b.run('api', ok, { key: 'tenant-a' })).rejects.toThrow('Fault injected');
    expect(await b.run('api', ok, { key: 'tenant-b' })).toBe('ok');
    await b.close();
  });

  it('is a config error in production unless allowInProduction, naming the policy', async () => {
    vi.stubEnv('NODE_ENV', 'production');
    const issues = configIssues({ policies: { api: { chaos: { errorRate: 0.1 } } } });
    expect(issues).toMatchObject([
      {
        path: 'policies.api.chaos.allowInProduction',
        expected: 'true to inject faults while NODE_ENV=production',
      },
    ]);
    expect(() => createBulwark({ policies: { api: { chaos: { errorRate: 0.1 } } } })).toThrow(
      'policies.api.chaos.allowInProduction',
    );
    expect(configIssues({ policies: { api: { chaos: { errorRate: 0.1, enabled: false } } } })).toEqual([]);
    const b = createBulwark({ policies: { api: {} } });
    expect(() => b.chaos.set('api', { errorRate: 1 })).toThrow('allowInProduction');
    b.chaos.set('api', { errorRate: 1, allowInProduction: true });
    await expect(b.run('api', ok)).rejects.toThrow('Fault injected');
    await b.close();
  });
});
