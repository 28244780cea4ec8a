import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isBulwarkError } from '../errors/bulwark-error.js';
import { createBulwark } from '../registry/bulwark.js';
import { failDependency } from './fail-dependency.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllEnvs();
});

async function app() {
  const b = createBulwark({
    policies: {
      cache: { fallback: { value: 'stale' }, circuitBreaker: true },
      sessions: { circuitBreaker: true },
      other: {},
    },
  });
  b.health.register('redis', { criticality: 'optional', check: () => {}, policies: ['cache', 'sessions'] });
  await vi.advanceTimersByTimeAsync(0);
  return b;
}

describe('failDependency', () => {
  it('marks the dependency down and fails the policies it names, until forMs passes', async () => {
    const b = await app();
    const fn = vi.fn(() => 'fresh');
    const outage = failDependency(b, 'redis', { forMs: '30s', reason: 'game day' });
    expect(outage.policies).toEqual(['cache', 'sessions']);
    expect(b.health.status('redis')).toBe('down');
    expect(b.health.report().dependencies[0]).toMatchObject({
      reason: 'override',
      override: { reason: 'game day' },
    });
    // The code paths that meet the outage run: the fallback answers, the other policy fails.
    expect(await b.run('cache', fn)).toBe('stale');
    const err = await b.run('sessions', fn).catch((e: unknown) => e);
    expect(isBulwarkError(err) && err.code).toBe('DOWNSTREAM_ERROR');
    expect(await b.run('other', fn)).toBe('fresh');
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(b.health.status('redis')).toBe('up');
    expect(await b.run('cache', fn)).toBe('fresh');
    expect(b.chaos.status()).toEqual({});
    await b.close();
  });

  it('restore() gives the policies back their own chaos, and is idempotent', async () => {
    const b = await app();
    b.chaos.set('cache', { latency: '10ms', enabled: false });
    const own = b.chaos.get('cache');
    const outage = failDependency(b, 'redis', {
      policies: ['cache'],
      chaos: { errorRate: 1, error: 'TIMEOUT' },
    });
    expect(b.chaos.get('cache')).not.toBe(own);
    outage.restore();
    outage.restore();
    expect(b.chaos.get('cache')).toBe(own);
    expect(b.health.status('redis')).toBe('up');
    await b.close();
  });

  it('with policies: false only overrides health; an unknown dependency changes nothing', async () => {
    const b = await app();
    const outage = failDependency(b, 'redis', { policies: false });
    expect(outage.policies).toEqual([]);
    expect(b.health.status('redis')).toBe('down');
    expect(await b.run('cache', () => 'fresh')).toBe('fresh');
    outage.restore();
    expect(() => failDependency(b, 'nope')).toThrow();
    expect(b.chaos.status()).toEqual({});
    await b.close();
  });

  it('refuses its chaos in production unless allowed, before overriding anything', async () => {
    const b = await app();
    vi.stubEnv('NODE_ENV', 'production');
    expect(() => failDependency(b, 'redis')).toThrow('allowInProduction');
    expect(b.health.status('redis')).toBe('up');
    const outage = failDependency(b, 'redis', { chaos: { errorRate: 1, allowInProduction: true } });
    expect(b.health.status('redis')).toBe('down');
    outage.restore();
    await b.close();
  });
});
