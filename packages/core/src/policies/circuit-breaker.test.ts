import { describe, expect, it, vi } from 'vitest';
import { runWithContext } from '../context/context.js';
import { CancelledError, isCancelledError, isCircuitOpenError } from '../errors/bulwark-error.js';
import { defaultIsFailure } from './circuit-breaker.js';

import {
  boom,
  deferred,
  fail,
  httpError,
  make,
  ok,
  openIt,
  recorder,
  useBreakerTests,
} from './circuit-breaker.test-helper.js';

useBreakerTests();

describe('error-rate threshold', () => {
  it('stays closed before the minimum volume, opens once volume and threshold are reached', async () => {
    const b = make();
    for (let i = 0; i < 3; i++) await fail(b);
    expect(b.state()).toBe('closed');
    expect(b.stats()).toMatchObject({ calls: 3, failures: 3, successes: 0 });
    await fail(b);
    expect(b.state()).toBe('open');
  });

  it('opens when the error rate reaches the threshold (>=), not below it', async () => {
    const below = make({ errorThresholdPercentage: 60 });
    const at = make({ errorThresholdPercentage: 50 });
    for (const b of [below, at]) {
      for (let i = 0; i < 2; i++) {
        await ok(b);
        await fail(b);
      }
    }
    expect(below.state()).toBe('closed');
    expect(below.stats().errorRate).toBe(50);
    expect(at.state()).toBe('open');
  });

  it('errorThresholdPercentage 100 opens when every call fails, and only then', async () => {
    const b = make({ errorThresholdPercentage: 100 });
    await ok(b);
    for (let i = 0; i < 5; i++) await fail(b);
    expect(b.state()).toBe('closed');
    const all = make({ errorThresholdPercentage: 100 });
    await openIt(all);
  });

  it('forgets failures that rolled out of the window, lazily and without a timer', async () => {
    const b = make({ window: 1000, buckets: 10, volumeThreshold: 2 });
    await fail(b);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1100);
    expect(b.stats().calls).toBe(0);
    await fail(b);
    expect(b.state()).toBe('closed');
    vi.advanceTimersByTime(500);
    await fail(b);
    expect(b.state()).toBe('open');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a bucket that rolls out takes only its own calls with it', async () => {
    const b = make({ window: 1000, buckets: 4, volumeThreshold: 100 });
    await ok(b);
    vi.advanceTimersByTime(250);
    await fail(b);
    await fail(b);
    vi.advanceTimersByTime(750);
    expect(b.stats()).toMatchObject({ calls: 2, failures: 2 });
    vi.advanceTimersByTime(250);
    expect(b.stats()).toMatchObject({ calls: 0, failures: 0 });
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

describe('consecutive failures', () => {
  it('opens after failureThreshold consecutive failures (rate threshold off unless asked for)', async () => {
    const { events, seen } = recorder();
    const b = make({ failureThreshold: 3, volumeThreshold: 1, events });
    await fail(b);
    await fail(b);
    expect(b.state()).toBe('closed');
    await fail(b);
    expect(b.state()).toBe('open');
    expect(seen[0]).toMatchObject({
      type: 'breaker.opened',
      reason: 'threshold',
      threshold: 'consecutive-failures',
    });
  });

  it('a success resets the count', async () => {
    const b = make({ failureThreshold: 3, volumeThreshold: 1 });
    for (let i = 0; i < 10; i++) {
      await fail(b);
      await fail(b);
      await ok(b);
    }
    expect(b.state()).toBe('closed');
    expect(b.stats().consecutiveFailures).toBe(0);
    await fail(b);
    expect(b.stats().consecutiveFailures).toBe(1);
  });

  it('combines with the error rate when both are set', async () => {
    const b = make({ failureThreshold: 5, errorThresholdPercentage: 50, volumeThreshold: 4 });
    await ok(b);
    await fail(b);
    await ok(b);
    await fail(b);
    expect(b.state()).toBe('open');
  });

  it('expresses "5 failures, 60 s reset, 2 half-open calls"', async () => {
    const b = make({ failureThreshold: 5, resetTimeout: '60s', halfOpenProbes: 2 });
    for (let i = 0; i < 5; i++) await fail(b);
    expect(b.state()).toBe('open');
    vi.advanceTimersByTime(59_999);
    expect(b.state()).toBe('open');
    vi.advanceTimersByTime(1);
    const d = deferred<string>();
    const p1 = b.execute(() => d.promise);
    const p2 = b.execute(() => d.promise);
    await expect(b.execute(() => 'third')).rejects.toSatisfy(isCircuitOpenError);
    d.resolve('up');
    await Promise.all([p1, p2]);
    expect(b.state()).toBe('closed');
  });
});

describe('slow calls', () => {
  const slowCall =
    (ms: number, fails = false) =>
    () =>
      new Promise<string>((res, rej) =>
        setTimeout(() => (fails ? rej(new Error('slow boom')) : res('late')), ms),
      );

  it('opens when the slow-call rate reaches slowCallRateThreshold (resilience4j semantics)', async () => {
    const { events, seen } = recorder();
    const b = make({ slowCallDuration: '100ms', slowCallRateThreshold: 50, volumeThreshold: 4, events });
    for (const ms of [10, 150, 10]) {
      const p = b.execute(slowCall(ms));
      await vi.advanceTimersByTimeAsync(ms);
      await p;
    }
    expect(b.stats()).toMatchObject({ calls: 3, slowCalls: 1, failures: 0 });
    // exactly slowCallDuration is not slow
    let p = b.execute(slowCall(100));
    await vi.advanceTimersByTimeAsync(100);
    await p;
    expect(b.state()).toBe('closed');
    p = b.execute(slowCall(101));
    await vi.advanceTimersByTimeAsync(101);
    await p;
    expect(b.stats().slowCalls).toBe(2);
    expect(b.state()).toBe('closed');
    p = b.execute(slowCall(200));
    await vi.advanceTimersByTimeAsync(200);
    await p;
    expect(b.state()).toBe('open');
    expect(seen.find((e) => e.type === 'breaker.opened')).toMatchObject({ threshold: 'slow-call-rate' });
  });

  it('works alone with errorThresholdPercentage: false, and a slow failure counts as both', async () => {
    const b = make({ errorThresholdPercentage: false, slowCallDuration: 50, volumeThreshold: 2 });
    for (let i = 0; i < 4; i++) await fail(b);
    expect(b.state()).toBe('closed');
    const p = b.execute(slowCall(60, true)).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(60);
    await p;
    expect(b.stats()).toMatchObject({ slowCalls: 1, failures: 5 });
    expect(b.state()).toBe('closed');
    const q = b.execute(slowCall(60));
    await vi.advanceTimersByTimeAsync(60);
    await q;
    expect(b.state()).toBe('closed');
    const all = make({ errorThresholdPercentage: false, slowCallDuration: 50, volumeThreshold: 2 });
    for (let i = 0; i < 2; i++) {
      const s = all.execute(slowCall(51));
      await vi.advanceTimersByTimeAsync(51);
      await s;
    }
    expect(all.state()).toBe('open');
  });

  it('a slow probe counts as a failed probe', async () => {
    const b = make({ slowCallDuration: 50, volumeThreshold: 1, errorThresholdPercentage: false });
    const s = b.execute(slowCall(80));
    await vi.advanceTimersByTimeAsync(80);
    await s;
    expect(b.state()).toBe('open');
    vi.advanceTimersByTime(1000);
    const probe = b.execute(slowCall(80));
    await vi.advanceTimersByTimeAsync(80);
    await probe;
    expect(b.state()).toBe('open');
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
    expect(err).toMatchObject({ retryAfterMs: 0 });
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

  it('needs successThreshold probe successes to close', async () => {
    const b = make({ successThreshold: 3 });
    await openIt(b);
    vi.advanceTimersByTime(1000);
    await ok(b);
    await ok(b);
    expect(b.state()).toBe('half-open');
    await ok(b);
    expect(b.state()).toBe('closed');
  });

  it('reopens on a probe failure and restarts the reset timeout', async () => {
    const { events, seen } = recorder();
    const b = make({ successThreshold: 2, events });
    await openIt(b);
    vi.advanceTimersByTime(1000);
    await ok(b);
    await fail(b);
    expect(b.state()).toBe('open');
    expect(seen.at(-1)).toMatchObject({ type: 'breaker.opened', threshold: 'half-open-probe' });
    const err = await b.execute(() => 1).catch((e: unknown) => e);
    expect(err).toMatchObject({ retryAfterMs: 1000 });
    vi.advanceTimersByTime(1000);
    expect(b.state()).toBe('half-open');
    await ok(b);
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

  it('probes that never report are abandoned after resetTimeout', async () => {
    const b = make();
    await openIt(b);
    vi.advanceTimersByTime(1000);
    const hung = deferred<string>();
    const first = b.execute(() => hung.promise);
    await expect(b.execute(() => 1)).rejects.toSatisfy(isCircuitOpenError);
    vi.advanceTimersByTime(1000);
    await ok(b);
    expect(b.state()).toBe('closed');
    hung.reject(new Error('late'));
    await expect(first).rejects.toThrow('late');
    expect(b.state()).toBe('closed');
    expect(b.stats().failures).toBe(0);
  });

  it('ignores the late outcome of a call started before the breaker opened', async () => {
    const b = make({ volumeThreshold: 1 });
    const late = deferred<string>();
    const p = b.execute(() => late.promise);
    await fail(b);
    expect(b.state()).toBe('open');
    vi.advanceTimersByTime(1000);
    late.resolve('late');
    await p;
    expect(b.state()).toBe('half-open');
  });
});

describe('cancellation', () => {
  it('rejects a call with an already-aborted signal as cancelled, before counting it', async () => {
    const b = make({ volumeThreshold: 1 });
    const ac = new AbortController();
    ac.abort();
    const fn = vi.fn(() => 1);
    const err = await b.execute(fn, { signal: ac.signal }).catch((e: unknown) => e);
    expect(isCancelledError(err)).toBe(true);
    expect(fn).not.toHaveBeenCalled();
    expect(b.stats().calls).toBe(0);
    b.forceOpen();
    await expect(b.execute(fn, { signal: ac.signal })).rejects.toSatisfy(isCancelledError);
    expect(b.stats().rejects).toBe(0);
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
    await expect(b.execute(boom)).rejects.toThrow('boom');
    expect(b.stats()).toMatchObject({ calls: 7, failures: 1 });
  });

  it('uses `handles` (and the deprecated isFailure); a throwing predicate counts as a failure', async () => {
    const b = make({ handles: () => false });
    for (let i = 0; i < 6; i++) await fail(b);
    expect(b.state()).toBe('closed');
    const c = make({ isFailure: (e) => (e as Error).message === 'boom' });
    await openIt(c);
    const d = make({
      handles: () => {
        throw new Error('bad predicate');
      },
    });
    await openIt(d);
  });
});

describe('events', () => {
  it('emits opened, rejected, half-open and closed with policy, key and correlationId', async () => {
    const { events, seen } = recorder();
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
      threshold: 'error-rate',
    });
    expect(seen[1]).toMatchObject({ retryAfterMs: 1000, correlationId: 'corr-1' });
    expect(seen[3]).toMatchObject({ reason: 'probe-succeeded', key: 'k' });
  });

  it('emits forced transitions', async () => {
    const { events, seen } = recorder();
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
