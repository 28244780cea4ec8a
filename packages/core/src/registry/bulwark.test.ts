import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BulwarkError, InvalidConfigError } from '../errors/bulwark-error.js';
import { toProblem } from '../errors/problem.js';
import type { HttpEngine } from '../http/engine.js';
import type { Admission, RouteProtection } from '../http/types.js';
import { MemoryStore } from '../stores/memory-store.js';
import { EventStream } from '../telemetry/events.js';
import { type Bulwark, createBulwark } from './bulwark.js';
import type { BulwarkConfig } from './config.js';
import type { UnknownPolicyError } from './unknown-policy.js';

/** Routes `protection` (as an adapter does at start-up), then protects `handler` under it. */
function protectOn<T>(
  engine: HttpEngine,
  admission: Admission,
  protection: RouteProtection,
  handler: (signal: AbortSignal) => Promise<T> | T,
): Promise<T> {
  return engine.protect(admission, engine.route(protection), handler);
}

const none = { env: false, file: false } as const;
const opened: Bulwark[] = [];
const make = (config?: BulwarkConfig, sources: Parameters<typeof createBulwark>[1] = none) => {
  const b = createBulwark(config, sources);
  opened.push(b);
  return b;
};
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(opened.splice(0).map((b) => b.close()));
});

/** An operation that never settles on its own, only when its signal aborts. */
const hang = (signal: AbortSignal) =>
  new Promise<never>((_, reject) =>
    signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
  );

const failing = (times: number, value = 'ok') => {
  let calls = 0;
  const fn = vi.fn(async (_signal: AbortSignal, _attempt: number) => {
    calls++;
    if (calls <= times) throw Object.assign(new Error('boom'), { code: 'ECONNRESET' });
    return value;
  });
  return fn;
};

const rejection = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    return e as BulwarkError;
  }
  throw new Error('expected a rejection');
};

describe('createBulwark: running named policies', () => {
  it('runs a named retry policy and passes the attempt number', async () => {
    const b = make({ policies: { api: { retry: { maxAttempts: 3, initialDelay: 0, jitter: 'none' } } } });
    const fn = failing(2);
    await expect(b.run('api', fn)).resolves.toBe('ok');
    expect(fn.mock.calls.map((c) => c[1])).toEqual([1, 2, 3]);
  });

  it('composes attemptTimeout inside retry and timeout outside it', async () => {
    vi.useFakeTimers();
    const b = make({
      policies: {
        api: {
          timeout: '1s',
          retry: { maxAttempts: 10, initialDelay: 0, jitter: 'none' },
          attemptTimeout: '300ms',
        },
      },
    });
    const fn = vi.fn(hang);
    const result = rejection(b.run('api', fn));
    await vi.advanceTimersByTimeAsync(1000);
    const err = await result;
    expect(err.code).toBe('TIMEOUT');
    expect(fn.mock.calls.length).toBe(4); // attempts at 0, 300, 600, 900 ms; the total timeout ends the 4th
  });

  it('puts fallback outermost: it answers when retries are exhausted', async () => {
    const b = make({
      policies: { api: { fallback: { value: 'cached' }, retry: { maxAttempts: 2, initialDelay: 0 } } },
    });
    const fn = failing(5);
    await expect(b.run('api', fn)).resolves.toBe('cached');
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('puts the rate limit inside the fallback and outside retry', async () => {
    const b = make({
      policies: {
        api: {
          fallback: () => 'limited',
          rateLimit: { limit: 1, interval: '1h' },
          retry: { initialDelay: 0 },
        },
      },
    });
    const fn = vi.fn(async () => 'fresh');
    await expect(b.run('api', fn)).resolves.toBe('fresh');
    await expect(b.run('api', fn)).resolves.toBe('limited');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('builds each policy once and names it after its config key', () => {
    const b = make({ policies: { api: { retry: {}, circuitBreaker: true }, bare: {} } });
    expect(b.policy('api')).toBe(b.policy('api'));
    expect(b.policy('api').name).toBe('api');
    expect(b.policy('bare').name).toBe('bare');
  });

  it('reports every policy event on the shared stream', async () => {
    const events = new EventStream();
    const seen: string[] = [];
    events.onAny((e) => seen.push(`${e.type}:${e.policy}`));
    const b = make({ events, policies: { api: { retry: { maxAttempts: 2, initialDelay: 0 } } } });
    expect(b.events).toBe(events);
    await b.run('api', failing(1));
    expect(seen).toContain('retry.scheduled:api');
  });
});

describe('createBulwark: names', () => {
  it('has() and names() list declared policies', () => {
    const b = make({ policies: { b: {}, a: {} } });
    expect(b.names()).toEqual(['a', 'b']);
    expect(b.has('a')).toBe(true);
    expect(b.has('c')).toBe(false);
  });

  it('rejects an unknown name with UNKNOWN_POLICY; the did-you-mean and declared names are fields', async () => {
    const b = make({ policies: { 'payments-api': {}, search: {} } });
    const err = (await rejection(b.run('payment-api', async () => 1))) as UnknownPolicyError;
    expect(err).toBeInstanceOf(BulwarkError);
    expect(err.code).toBe('UNKNOWN_POLICY');
    expect(err.message).toBe("No policy named 'payment-api' is declared.");
    expect(err.didYouMean).toBe('payments-api');
    expect(err.declared).toEqual(['payments-api', 'search']);
    expect(() => b.policy('nope')).toThrow(/No policy named 'nope'/);
  });

  it('never lists declared policy names in a production problem response', async () => {
    const b = make({ policies: { 'payments-api': {}, 'internal-ledger': {} } });
    const err = await rejection(b.run('payments-apii', async () => 1));
    const body = JSON.stringify(toProblem(err, { production: true, instance: '/x' }));
    expect(body).toContain('UNKNOWN_POLICY');
    expect(body).not.toMatch(/payments-api'|internal-ledger/);
  });

  it('assertPolicy checks a name at start-up with the did-you-mean and the declared names', () => {
    const b = make({ policies: { 'user-db': {}, search: {} } });
    expect(() => b.assertPolicy('user-db')).not.toThrow();
    let err: InvalidConfigError | undefined;
    try {
      b.assertPolicy('users-db', 'protect({ policy })');
    } catch (e) {
      err = e as InvalidConfigError;
    }
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect(err?.issues[0]).toMatchObject({
      path: 'protect({ policy })',
      received: '"users-db"',
      fix: "did you mean 'user-db'?",
    });
    expect(err?.message).toContain("declared: 'search', 'user-db'");
  });
});

describe('createBulwark: breaker control', () => {
  it('forces the breaker of a named policy open and resets it', async () => {
    const b = make({ policies: { api: { circuitBreaker: { volumeThreshold: 1 } } } });
    const control = b.breaker('api');
    expect(control.state()).toBe('closed');
    control.forceOpen();
    expect(control.state()).toBe('open');
    expect((await rejection(b.run('api', async () => 1))).code).toBe('CIRCUIT_OPEN');
    control.reset();
    await expect(b.run('api', async () => 1)).resolves.toBe(1);
    expect(control.stats().successes).toBeGreaterThanOrEqual(1);
  });

  it('throws for a policy without a breaker and for an unknown policy', () => {
    const b = make({ policies: { api: { retry: {} } } });
    expect(() => b.breaker('api')).toThrow("Policy 'api' has no circuit breaker.");
    expect(() => b.breaker('other')).toThrow(/No policy named 'other'/);
  });
});

describe('createBulwark: config sources and precedence', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-reg-'));
  const file = join(dir, 'bulwark.yaml');
  writeFileSync(
    file,
    [
      'policies:',
      '  api:',
      '    timeout: 4s',
      '    retry:',
      '      maxAttempts: 4',
      '  fromFile:',
      '    attemptTimeout: 1s',
    ].join('\n'),
  );
  const code: BulwarkConfig = {
    policies: { api: { timeout: '5s', retry: { maxAttempts: 3, jitter: 'none' } } },
  };

  it('merges code < file < env deeply', () => {
    const b = make(code, { file, env: { BULWARK_POLICIES__API__RETRY__MAX_ATTEMPTS: '6' } });
    expect(b.config.policies).toEqual({
      api: { timeout: '4s', retry: { maxAttempts: 6, jitter: 'none' } },
      fromFile: { attemptTimeout: '1s' },
    });
  });

  it('reads the file named by BULWARK_CONFIG_FILE, and the file option wins over it', () => {
    expect(make(code, { env: { BULWARK_CONFIG_FILE: file } }).has('fromFile')).toBe(true);
    expect(
      make(code, { env: { BULWARK_CONFIG_FILE: join(dir, 'missing.yaml') }, file }).has('fromFile'),
    ).toBe(true);
    expect(make(code, { env: { BULWARK_CONFIG_FILE: file }, file: false }).has('fromFile')).toBe(false);
  });

  it('reads process.env by default', () => {
    process.env.BULWARK_POLICIES__FROM_PROCESS__TIMEOUT = '2s';
    try {
      expect(make({ policies: { 'from-process': {} } }, {}).config.policies?.['from-process']).toEqual({
        timeout: '2s',
      });
    } finally {
      delete process.env.BULWARK_POLICIES__FROM_PROCESS__TIMEOUT;
    }
  });

  it('refuses an env variable naming an undeclared policy, with a did-you-mean', () => {
    let err: InvalidConfigError | undefined;
    try {
      createBulwark(
        { policies: { 'payments-api': { timeout: '5s' } } },
        { file: false, env: { BULWARK_POLICIES__PAYMNETS_API__TIMEOUT: '8s' } },
      );
    } catch (e) {
      err = e as InvalidConfigError;
    }
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect(err?.issues).toEqual([
      {
        path: 'policies.paymnets-api',
        expected: 'a policy declared in code or the config file (env variables tune declared policies)',
        received: 'an env-only policy (from BULWARK_POLICIES__PAYMNETS_API__TIMEOUT)',
        fix: "did you mean 'payments-api' (BULWARK_POLICIES__PAYMENTS_API__…)?",
        source: 'BULWARK_POLICIES__PAYMNETS_API__TIMEOUT',
      },
    ]);
    // A policy the file declares may be tuned by env.
    const fromFile = make({}, { file, env: { BULWARK_POLICIES__API__TIMEOUT: '2s' } });
    expect(fromFile.config.policies?.api?.timeout).toBe('2s');
  });

  it('lets env variables create policies only with allowEnvOnlyPolicies', () => {
    const env = { BULWARK_POLICIES__ENV_ONLY__TIMEOUT: '2s' };
    expect(() => createBulwark({}, { file: false, env })).toThrow(/allowEnvOnlyPolicies: true/);
    expect(make({ allowEnvOnlyPolicies: true }, { file: false, env }).has('env-only')).toBe(true);
    const optIn = { ...env, BULWARK_ALLOW_ENV_ONLY_POLICIES: 'true' };
    expect(make({}, { file: false, env: optIn }).has('env-only')).toBe(true);
  });

  it('never changes the caller config', () => {
    const frozen = structuredClone(code);
    const deepFreeze = (o: object): void => {
      Object.freeze(o);
      for (const v of Object.values(o)) if (typeof v === 'object' && v !== null) deepFreeze(v);
    };
    deepFreeze(frozen);
    const b = make(frozen, { file, env: { BULWARK_POLICIES__API__TIMEOUT: '1s' } });
    expect(b.config.policies?.api?.timeout).toBe('1s');
    expect(frozen).toEqual(code);
  });

  it('validates once at start-up, naming the layer that set each bad value', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'policies:\n  api:\n    timeout: soon\n');
    let err: InvalidConfigError | undefined;
    try {
      createBulwark(
        { policies: { api: { retry: { maxAttempts: 0 } } } },
        { file: bad, env: { BULWARK_POLICIES__API__BULKHEAD__MAX_QUEUE: '-1' } },
      );
    } catch (e) {
      err = e as InvalidConfigError;
    }
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect(err?.issues.map((i) => [i.path, i.received]).sort()).toEqual([
      ['policies.api.bulkhead.maxQueue', '-1 (from BULWARK_POLICIES__API__BULKHEAD__MAX_QUEUE)'],
      ['policies.api.retry.maxAttempts', '0'],
      ['policies.api.timeout', `"soon" (from ${bad})`],
    ]);
  });

  it('reports file and env read errors together', () => {
    expect(() =>
      createBulwark({}, { file: join(dir, 'nope.yaml'), env: { BULWARK_POLICIES____X: '1' } }),
    ).toThrow(/nope\.yaml: expected a readable YAML config file[\s\S]*BULWARK_POLICIES____X/);
  });

  it('rejects a config that is not an object', () => {
    expect(() => createBulwark(7 as never, none)).toThrow(InvalidConfigError);
  });
});

describe('createBulwark: define', () => {
  it('validates and registers a code policy, under file and env settings of the same name', async () => {
    const b = make(
      { allowEnvOnlyPolicies: true },
      { file: false, env: { BULWARK_POLICIES__LATE__RETRY__MAX_ATTEMPTS: '2' } },
    );
    expect(b.has('late')).toBe(true); // env alone declares it
    b.define('late', { retry: { maxAttempts: 5, initialDelay: 0 } });
    const fn = failing(5);
    await expect(b.run('late', fn)).rejects.toThrow();
    expect(fn).toHaveBeenCalledTimes(2);
    expect(b.define('late', { retry: { maxAttempts: 5, initialDelay: 0 } })).toBe(b.policy('late'));
    expect(() => b.define('late', {})).toThrow(
      /policies\.late\.retry: expected the config 'late' was first defined with/,
    );
    expect(() => b.define('other', { timeout: 'never' as never })).toThrow(/policies\.other\.timeout/);
    expect(b.has('other')).toBe(false);
  });
});

describe('createBulwark: store, http and close', () => {
  it('creates and closes its own MemoryStore, but never closes a given store', async () => {
    const own = createBulwark({}, none);
    expect(own.store).toBeInstanceOf(MemoryStore);
    const ownClose = vi.spyOn(own.store, 'close');
    await own.close();
    expect(ownClose).toHaveBeenCalledTimes(1);

    const store = new MemoryStore();
    const closeSpy = vi.spyOn(store, 'close');
    const given = createBulwark({ store }, none);
    expect(given.store).toBe(store);
    await given.close();
    expect(closeSpy).not.toHaveBeenCalled();
  });

  it('closes built policies and rejects runs after close; close is idempotent', async () => {
    const b = createBulwark({ policies: { api: { bulkhead: { maxConcurrent: 1, maxQueue: 1 } } } }, none);
    const controller = new AbortController();
    const running = b.run('api', hang, { signal: controller.signal });
    const queued = rejection(b.run('api', async () => 1));
    await b.close();
    expect((await queued).code).toBe('CANCELLED'); // the bulkhead part was closed
    controller.abort();
    await running.catch(() => undefined);
    await b.close();
    expect((await rejection(b.run('api', async () => 1))).code).toBe('CANCELLED');
    expect(() => b.http).toThrow(/closed/);
  });

  it('creates the HTTP engine lazily, once, with resolvePolicy wired to the registry', async () => {
    const b = make({
      http: { degradedHeader: 'x-degraded' },
      policies: { api: { fallback: { value: 'fb' } } },
    });
    const engine = b.http;
    expect(b.http).toBe(engine);
    expect(engine.degradedHeader).toBe('x-degraded');
    const admission = await engine.admit({ method: 'GET', path: '/x', headers: {} });
    const result = await protectOn(engine, admission, { policy: 'api' }, async () => {
      throw new Error('down');
    });
    expect(result).toBe('fb');
    admission.release();
  });
});
