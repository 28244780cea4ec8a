import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidConfigError, isBulwarkError, isCancelledError } from '../errors/bulwark-error.js';
import { classify, isRetryable } from '../errors/classify.js';
import { isHttpStatusError } from '../errors/http-status-error.js';
import { pipeline } from '../pipeline.js';
import { type BulwarkEvent, EventStream } from '../telemetry/events.js';
import { chaos } from './chaos.js';
import { retry } from './retry.js';

/** A random source returning `values` in turn (then 0.999: no fault). */
function seq(...values: number[]) {
  let i = 0;
  return () => values[i++] ?? 0.999;
}

const ok = () => Promise.resolve('ok');

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllEnvs();
});

describe('chaos', () => {
  it('passes calls through untouched when no fault is set, or when disabled', async () => {
    expect(await chaos().execute(ok)).toBe('ok');
    const c = chaos({ errorRate: 1, enabled: false });
    expect(c.enabled).toBe(false);
    expect(await c.execute(ok)).toBe('ok');
    expect(c.stats()).toEqual({ calls: 0, delayed: 0, failed: 0, aborted: 0 });
  });

  it('injects errors at errorRate, a retryable DOWNSTREAM_ERROR by default', async () => {
    const c = chaos({ name: 'payments', errorRate: 0.5, random: seq(0.4, 0.6) });
    const err = await c.execute(ok).catch((e: unknown) => e);
    expect(isBulwarkError(err) && err.code).toBe('DOWNSTREAM_ERROR');
    expect((err as Error).message).toBe('Fault injected by the chaos policy "payments".');
    expect(isRetryable(err)).toBe(true);
    expect(await c.execute(ok)).toBe('ok');
    expect(c.stats()).toMatchObject({ calls: 2, failed: 1 });
  });

  it('injects the given code, HTTP status or error', async () => {
    const code = await chaos({ errorRate: 1, error: 'TIMEOUT' })
      .execute(ok)
      .catch((e: unknown) => e);
    expect(isBulwarkError(code) && code.code).toBe('TIMEOUT');
    const status = await chaos({ errorRate: 1, error: 503 })
      .execute(ok)
      .catch((e: unknown) => e);
    expect(isHttpStatusError(status) && status.status).toBe(503);
    const own = new Error('mine');
    expect(
      await chaos({ errorRate: 1, error: () => own })
        .execute(ok)
        .catch((e: unknown) => e),
    ).toBe(own);
  });

  it('adds latency at latencyRate, and the caller can still abort the wait', async () => {
    const fn = vi.fn(ok);
    const c = chaos({ latency: '300ms' });
    const p = c.execute(fn);
    await vi.advanceTimersByTimeAsync(299);
    expect(fn).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(await p).toBe('ok');
    const ac = new AbortController();
    const waiting = c.execute(fn, { signal: ac.signal }).catch((e: unknown) => e);
    ac.abort();
    expect(isCancelledError(await waiting)).toBe(true);
    expect(fn).toHaveBeenCalledTimes(1);
    // latencyRate 0.5 with a draw of 0.7: no delay.
    expect(await chaos({ latency: '1s', latencyRate: 0.5, random: seq(0.7) }).execute(ok)).toBe('ok');
  });

  it('cuts a call off after abortAfter: its signal aborts and it rejects with ECONNRESET even if it answered', async () => {
    let seen: AbortSignal | undefined;
    const c = chaos({ abortRate: 1, abortAfter: '100ms' });
    const p = c
      .execute((signal) => {
        seen = signal;
        return Promise.resolve('answered, but lost');
      })
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    const err = (await p) as Error & { code?: string };
    expect(err.code).toBe('ECONNRESET');
    expect(classify(err)).toBe('transient');
    expect(seen?.aborted).toBe(true);
    expect(c.stats()).toMatchObject({ aborted: 1 });
  });

  it('draws latency first, then error, then abort, and injects only for the listed keys', async () => {
    const c = chaos({ errorRate: 0.5, abortRate: 0.5, keys: ['tenant-a'], random: seq(0.9, 0.1) });
    expect(await c.execute(ok, { key: 'tenant-b' })).toBe('ok');
    const p = c.execute(ok, { key: 'tenant-a' }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(0);
    expect(((await p) as { code?: string }).code).toBe('ECONNRESET');
    expect(c.stats()).toEqual({ calls: 1, delayed: 0, failed: 0, aborted: 1 });
  });

  it('switches at run time: disable, enable, set', async () => {
    const c = chaos({ errorRate: 1 });
    c.disable();
    expect(await c.execute(ok)).toBe('ok');
    c.enable();
    await expect(c.execute(ok)).rejects.toThrow('Fault injected');
    c.set({ errorRate: 0 });
    expect(await c.execute(ok)).toBe('ok');
    expect(() => c.set({ errorRate: 2 })).toThrow(InvalidConfigError);
  });

  it('meets the other policies as a real fault would: retry retries an injected error', async () => {
    const c = chaos({ errorRate: 0.5, random: seq(0.1, 0.2, 0.9) });
    const policy = pipeline(
      retry({ maxAttempts: 3, backoff: 'constant', initialDelay: 10, jitter: false }),
      c,
    );
    const p = policy.execute(ok);
    await vi.advanceTimersByTimeAsync(50);
    expect(await p).toBe('ok');
    expect(c.stats()).toMatchObject({ calls: 3, failed: 2 });
  });

  it('reports each fault as a chaos.injected event', async () => {
    const events = new EventStream();
    const seen: BulwarkEvent[] = [];
    events.onAny((e) => seen.push(e));
    const c = chaos({ name: 'inv', events, errorRate: 1 });
    await c.execute(ok, { key: 'k' }).catch(() => {});
    expect(seen).toMatchObject([{ type: 'chaos.injected', policy: 'inv', key: 'k', fault: 'error' }]);
  });

  it('is refused while NODE_ENV=production unless allowInProduction, with a fix', () => {
    vi.stubEnv('NODE_ENV', 'production');
    expect(() => chaos({ errorRate: 0.1 })).toThrow(
      'chaos.allowInProduction: expected true to inject faults while NODE_ENV=production',
    );
    // Switched off it may sit in the config; switching it on is refused the same way.
    const off = chaos({ errorRate: 0.1, enabled: false });
    expect(() => off.enable()).toThrow(InvalidConfigError);
    const allowed = chaos({ errorRate: 1, allowInProduction: true });
    expect(allowed.enabled).toBe(true);
  });

  it('names every bad option, with the fix', () => {
    let err: unknown;
    try {
      chaos({ errorRate: 1.5, error: 'NOPE', latency: 'soon', delay: '1s' } as never);
    } catch (e) {
      err = e;
    }
    const text = (err as Error).message;
    expect(text).toContain('chaos.errorRate: expected a rate from 0 to 1, got 1.5');
    expect(text).toContain(
      "chaos.error: expected a Bulwark error code (e.g. 'TIMEOUT'), a status, or a function",
    );
    expect(text).toContain('chaos.latency: expected a duration');
    expect(text).toContain("did you mean 'latency'?");
  });
});
