import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runWithContext } from '../context/context.js';
import { CancelledError, isCircuitOpenError } from '../errors/bulwark-error.js';
import type { Store } from '../stores/store.js';
import { type BulwarkEvent, EventStream } from '../telemetry/events.js';
import { activeClocks } from './breaker/clock.js';
import { type CircuitBreakerPolicy, circuitBreaker, defaultIsFailure } from './circuit-breaker.js';
import type { CircuitBreakerOptions } from './options.js';

const boom = () => {
  throw new Error('boom');
};
const httpError = (status: number) => Object.assign(new Error(`HTTP ${status}`), { status });

let policies: CircuitBreakerPolicy[] = [];
function make(options: CircuitBreakerOptions = {}): CircuitBreakerPolicy {
  const p = circuitBreaker({
    name: 'svc',
    volumeThreshold: 4,
    resetTimeout: 1000,
    events: new EventStream(),
    ...options,
  });
  policies.push(p);
  return p;
}
async function fail(b: CircuitBreakerPolicy, key?: string, error: () => unknown = boom): Promise<void> {
  await expect(b.execute(error as () => never, { key })).rejects.not.toSatisfy(isCircuitOpenError);
}
async function openIt(b: CircuitBreakerPolicy, key?: string): Promise<void> {
  for (let i = 0; i < 4; i++) await fail(b, key);
  expect(b.state(key)).toBe('open');
}
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

beforeEach(() => {
  vi.useFakeTimers();
  policies = [];
});
afterEach(() => {
  for (const p of policies) p.close();
  vi.useRealTimers();
});

describe('circuitBreaker thresholds', () => {
  it('stays closed before the minimum volume, opens once volume and threshold are reached', async () => {
    const b = make();
    for (let i = 0; i < 3; i++) await fail(b);
    expect(b.state()).toBe('closed');
    expect(b.stats()).toMatchObject({ calls: 3, failures: 3, successes: 0 });
    await fail(b);
    expect(b.state()).toBe('open');
  });

  it('does not open while the error rate is at or below the threshold', async () => {
    const b = make({ errorThresholdPercentage: 50 });
    for (let i = 0; i < 5; i++) {
      await b.execute(() => 1);
      await fail(b);
    }
    expect(b.state()).toBe('closed');
    expect(b.stats().errorRate).toBe(50);
  });

  it('forgets failures that rolled out of the window (shared clock rotates)', async () => {
    const b = make({ window: 1000, buckets: 10, volumeThreshold: 2 });
    await fail(b);
    vi.advanceTimersByTime(1100);
    expect(b.stats().calls).toBe(0);
    await fail(b);
    expect(b.state()).toBe('closed');
  });

  it('fails fast with CircuitOpenError carrying retryAfterMs, policy and key', async () => {
    const b = make();
    await openIt(b, 'k1');
    vi.advanceTimersByTime(300);
    const fn = vi.fn(() => 1);
    const err = await b.execute(fn, { key: 'k1' }).catch((e: unknown) => e);
    expect(fn).not.toHaveBeenCalled();
    expect(isCircuitOpenError(err)).toBe(true);
    expect(err).toMatchObject({ retryAfterMs: 700, policy: 'svc', status: 503 });
    expect((err as Error).message).toContain('"svc"');
    expect((err as Error).message).toContain('"k1"');
    expect(b.stats('k1').rejects).toBe(1);
  });
});

describe('half-open', () => {
  it('goes half-open after resetTimeout and admits exactly halfOpenProbes concurrent probes', async () => {
    const b = make({ halfOpenProbes: 2 });
    await openIt(b);
    vi.advanceTimersByTime(999);
    expect(b.state()).toBe('open');
    vi.advanceTimersByTime(1);
    expect(b.state()).toBe('half-open');
    const d = deferred<string>();
    const fn = vi.fn(() => d.promise);
    const p1 = b.execute(fn);
    const p2 = b.execute(fn);
    const err = await b.execute(fn).catch((e: unknown) => e);
    expect(isCircuitOpenError(err)).toBe(true);
    expect(fn).toHaveBeenCalledTimes(2);
    d.resolve('ok');
    await expect(Promise.all([p1, p2])).resolves.toEqual(['ok', 'ok']);
  });

  it('closes on a probe success, with a fresh window', async () => {
    const b = make();
    await openIt(b);
    vi.advanceTimersByTime(1000);
    await expect(b.execute(() => 'up')).resolves.toBe('up');
    expect(b.state()).toBe('closed');
    expect(b.stats().failures).toBe(0);
    await fail(b);
    expect(b.state()).toBe('closed');
  });

  it('reopens on a probe failure and restarts the reset timeout', async () => {
    const b = make();
    await openIt(b);
    vi.advanceTimersByTime(1000);
    await fail(b);
    expect(b.state()).toBe('open');
    const err = await b.execute(() => 1).catch((e: unknown) => e);
    expect(err).toMatchObject({ retryAfterMs: 1000 });
    vi.advanceTimersByTime(1000);
    expect(b.state()).toBe('half-open');
  });

  it('a cancelled probe frees its slot without closing or reopening', async () => {
    const b = make();
    await openIt(b);
    vi.advanceTimersByTime(1000);
    await fail(b, undefined, () => {
      throw new CancelledError();
    });
    expect(b.state()).toBe('half-open');
    await expect(b.execute(() => 2)).resolves.toBe(2);
    expect(b.state()).toBe('closed');
  });
});

describe('overrides', () => {
  it('forceOpen(key) rejects that key with retryAfterMs = resetTimeout, reset() restores it', async () => {
    const b = make();
    b.forceOpen('a');
    expect(b.override('a')).toBe('force-open');
    expect(b.override()).toBe('none');
    expect(b.state('a')).toBe('open');
    await expect(b.execute(() => 1, { key: 'a' })).rejects.toMatchObject({
      code: 'CIRCUIT_OPEN',
      retryAfterMs: 1000,
    });
    await expect(b.execute(() => 1, { key: 'b' })).resolves.toBe(1);
    b.reset('a');
    expect(b.override('a')).toBe('none');
    await expect(b.execute(() => 1, { key: 'a' })).resolves.toBe(1);
  });

  it('keeps at most maxKeys per-key overrides (the oldest goes first)', () => {
    const b = make({ maxKeys: 3 });
    for (const k of ['a', 'b', 'c', 'd']) b.forceOpen(k);
    expect(b.override('a')).toBe('none');
    expect(['b', 'c', 'd'].map((k) => b.override(k))).toEqual(['force-open', 'force-open', 'force-open']);
  });

  it('forceOpen() applies to every key, forceClose(key) exempts one', async () => {
    const b = make();
    b.forceOpen();
    b.forceClose('x');
    await expect(b.execute(() => 1, { key: 'y' })).rejects.toSatisfy(isCircuitOpenError);
    await expect(b.execute(() => 1, { key: 'x' })).resolves.toBe(1);
    b.reset();
    expect(b.override('y')).toBe('none');
    await expect(b.execute(() => 1, { key: 'y' })).resolves.toBe(1);
  });

  it('forceClose never opens but still records', async () => {
    const b = make();
    await openIt(b);
    b.forceClose();
    expect(b.state()).toBe('closed');
    for (let i = 0; i < 10; i++) await fail(b);
    expect(b.state()).toBe('closed');
    expect(b.stats().failures).toBe(10);
  });

  it('disable passes calls through and records nothing', async () => {
    const b = make();
    await openIt(b);
    b.disable();
    expect(b.state()).toBe('closed');
    await expect(b.execute(() => 'through')).resolves.toBe('through');
    for (let i = 0; i < 5; i++) await fail(b);
    expect(b.stats().calls).toBe(4);
  });

  it('metricsOnly opens and emits but never rejects', async () => {
    const events = new EventStream();
    const seen: string[] = [];
    events.onAny((e) => seen.push(e.type));
    const b = make({ events });
    b.metricsOnly('m');
    await openIt(b, 'm');
    expect(seen).toContain('breaker.opened');
    await expect(b.execute(() => 'still', { key: 'm' })).resolves.toBe('still');
    expect(seen).not.toContain('breaker.rejected');
    expect(b.stats('m').calls).toBe(5);
  });
});

describe('keys', () => {
  it('isolates keys and bounds them with an LRU that shuts evicted breakers down', async () => {
    const b = make({ maxKeys: 2 });
    await openIt(b, 'a');
    await expect(b.execute(() => 1, { key: 'b' })).resolves.toBe(1);
    expect(b.state('b')).toBe('closed');
    await b.execute(() => 1, { key: 'c' });
    expect(b.state('a')).toBe('closed');
    expect(b.stats('a').calls).toBe(0);
    await expect(b.execute(() => 1, { key: 'a' })).resolves.toBe(1);
  });

  it('uses one shared clock and stops it on close()', async () => {
    const before = activeClocks();
    const b = make();
    const c = make({ name: 'other' });
    for (let i = 0; i < 50; i++) await b.execute(() => i, { key: `k${i}` });
    await c.execute(() => 1);
    expect(activeClocks()).toBe(before + 1);
    b.close();
    expect(activeClocks()).toBe(before + 1);
    c.close();
    expect(activeClocks()).toBe(before);
  });
});

describe('classification', () => {
  it('does not count cancellations and 4xx (but counts 408/429/5xx), and still throws them', async () => {
    const b = make();
    const abort = Object.assign(new Error('aborted'), { name: 'AbortError' });
    for (const e of [httpError(404), httpError(400), abort, new CancelledError()]) {
      for (let i = 0; i < 3; i++)
        await expect(
          b.execute(() => {
            throw e;
          }),
        ).rejects.toBe(e);
    }
    expect(b.state()).toBe('closed');
    expect(b.stats().failures).toBe(0);
    expect(defaultIsFailure(httpError(408))).toBe(true);
    expect(defaultIsFailure(httpError(429))).toBe(true);
    expect(defaultIsFailure({ statusCode: 503 })).toBe(true);
    expect(defaultIsFailure({ statusCode: 422 })).toBe(false);
    expect(defaultIsFailure('string')).toBe(true);
  });

  it('plain sync functions, sync throws and undefined results work', async () => {
    const b = make({ volumeThreshold: 1 });
    for (let i = 0; i < 5; i++) await expect(b.execute(() => undefined)).resolves.toBeUndefined();
    await expect(b.execute(async () => undefined)).resolves.toBeUndefined();
    expect(b.stats()).toMatchObject({ successes: 6, failures: 0 });
    expect(b.state()).toBe('closed');
  });

  it('uses a custom isFailure', async () => {
    const b = make({ isFailure: () => false });
    for (let i = 0; i < 6; i++) await fail(b);
    expect(b.state()).toBe('closed');
  });
});

describe('events', () => {
  it('emits opened, rejected, half-open and closed with policy, key and correlationId', async () => {
    const events = new EventStream();
    const seen: BulwarkEvent[] = [];
    events.onAny((e) => seen.push(e));
    const b = make({ events });
    const ctx = {
      correlationId: 'corr-1',
      trace: { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), flags: 1 },
    };
    await runWithContext({ ...ctx, criticality: 'default', degraded: [] }, async () => {
      await openIt(b, 'k');
      await b.execute(() => 1, { key: 'k' }).catch(() => undefined);
    });
    vi.advanceTimersByTime(1000);
    await b.execute(() => 1, { key: 'k' });
    expect(seen.map((e) => e.type)).toEqual([
      'breaker.opened',
      'breaker.rejected',
      'breaker.half-open',
      'breaker.closed',
    ]);
    expect(seen[0]).toMatchObject({
      policy: 'svc',
      key: 'k',
      correlationId: 'corr-1',
      failures: 4,
      errorRate: 100,
    });
    expect(seen[1]).toMatchObject({ retryAfterMs: 1000, correlationId: 'corr-1' });
    expect(seen[3]).toMatchObject({ reason: 'probe-succeeded', key: 'k' });
  });

  it('emits forced transitions', async () => {
    const events = new EventStream();
    const seen: BulwarkEvent[] = [];
    events.onAny((e) => seen.push(e));
    const b = make({ events });
    b.forceOpen('k');
    b.forceOpen('k');
    b.reset('k');
    expect(seen).toMatchObject([
      { type: 'breaker.opened', reason: 'forced', key: 'k' },
      { type: 'breaker.closed', reason: 'reset', key: 'k' },
    ]);
  });
});

describe('options and store', () => {
  it('never mutates the caller options and validates them', () => {
    const options = Object.freeze({ resetTimeout: '2s', window: 5000, buckets: 5 });
    expect(() => make(options)).not.toThrow();
    expect(() => circuitBreaker({ halfOpenProbes: 0 })).toThrow(/halfOpenProbes/);
    expect(() => circuitBreaker({ errorThresholdPercentage: 120 })).toThrow(/errorThresholdPercentage/);
    expect(() => circuitBreaker({ window: 5, buckets: 10 })).toThrow(/window/);
  });

  it('shares overrides with other replicas through the store', async () => {
    const subs = new Map<string, Set<(m: string) => void>>();
    const store = {
      publish: async (ch: string, m: string) => {
        for (const l of subs.get(ch) ?? []) l(m);
      },
      subscribe: async (ch: string, l: (m: string) => void) => {
        const set = subs.get(ch) ?? new Set();
        subs.set(ch, set);
        set.add(l);
        return { dispose: () => set.delete(l) };
      },
    } as unknown as Store;
    const r1 = make({ store });
    const r2 = make({ store });
    await Promise.resolve();
    r1.forceOpen('payments');
    await Promise.resolve();
    expect(r2.override('payments')).toBe('force-open');
    r2.reset();
    await Promise.resolve();
    expect(r1.override('payments')).toBe('none');
  });
});
