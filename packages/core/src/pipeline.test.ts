import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isRetryExhaustedError, isTimeoutError } from './errors/bulwark-error.js';
import { noopPolicy, Pipeline, pipeline } from './pipeline.js';
import { fallback } from './policies/fallback.js';
import { retry } from './policies/retry.js';
import { timeout } from './policies/timeout.js';
import type { ExecuteOptions, Operation, Policy } from './types.js';

const transient = () => Object.assign(new Error('reset'), { code: 'ECONNRESET' });

/** A layer that records the options it was handed and the order it was entered. */
function spy(name: string, log: string[], seen: ExecuteOptions[] = []): Policy {
  return {
    name,
    async execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
      log.push(`>${name}`);
      seen.push({ ...options });
      try {
        return await fn(options?.signal ?? new AbortController().signal, options?.attempt ?? 1);
      } finally {
        log.push(`<${name}`);
      }
    },
  };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_700_000_000_000);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('pipeline', () => {
  it('enters layers outermost first and leaves them innermost first', async () => {
    const log: string[] = [];
    const p = pipeline(spy('a', log), spy('b', log), spy('c', log));
    await expect(
      p.execute(async () => {
        log.push('fn');
        return 1;
      }),
    ).resolves.toBe(1);
    expect(log).toEqual(['>a', '>b', '>c', 'fn', '<c', '<b', '<a']);
    expect(p.name).toBe('a > b > c');
  });

  it('passes signal, key, deadline and idempotent inward', async () => {
    const log: string[] = [];
    const seen: ExecuteOptions[] = [];
    const ac = new AbortController();
    const deadline = Date.now() + 1000;
    let got: AbortSignal | undefined;
    await pipeline(spy('a', log, seen), spy('b', log, seen)).execute(
      async (signal) => {
        got = signal;
      },
      { signal: ac.signal, key: 'tenant', deadline, idempotent: false },
    );
    for (const o of seen)
      expect(o).toMatchObject({ signal: ac.signal, key: 'tenant', deadline, idempotent: false });
    expect(got).toBe(ac.signal);
  });

  it('hands each layer the signal the outer layer created (an outer timeout aborts the inner signal)', async () => {
    const log: string[] = [];
    const seen: ExecuteOptions[] = [];
    let inner: AbortSignal | undefined;
    const p = pipeline(timeout(100), spy('in', log, seen)).execute((signal) => {
      inner = signal;
      return new Promise(() => {});
    });
    const assertion = expect(p).rejects.toSatisfy(isTimeoutError);
    await vi.advanceTimersByTimeAsync(100);
    await assertion;
    expect(seen[0]?.signal).toBe(inner);
    expect(inner?.aborted).toBe(true);
  });

  it('passes retry’s attempt number to the layers inside it', async () => {
    const log: string[] = [];
    const seen: ExecuteOptions[] = [];
    let n = 0;
    const p = pipeline(retry({ jitter: 'none', initialDelay: 1 }), spy('in', log, seen)).execute(
      async (_s, attempt) => {
        if (n++ < 2) throw transient();
        return attempt;
      },
    );
    await vi.advanceTimersByTimeAsync(10);
    await expect(p).resolves.toBe(3);
    expect(seen.map((o) => o.attempt)).toEqual([1, 2, 3]);
  });

  it('timeout outside retry bounds all attempts together, backoff waits included', async () => {
    const fn = vi.fn(async () => {
      throw transient();
    });
    const p = pipeline(timeout(250), retry({ jitter: 'none', initialDelay: 100, maxAttempts: 10 })).execute(
      fn,
    );
    const assertion = expect(p).rejects.toSatisfy(isTimeoutError);
    // Attempts at 0 and 100; the 200ms wait from 100 is cut at 250.
    await vi.advanceTimersByTimeAsync(250);
    await assertion;
    expect(fn).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it('timeout inside retry bounds each attempt, and a timed-out attempt is retried', async () => {
    const signals: AbortSignal[] = [];
    const fn = vi.fn((signal: AbortSignal, attempt: number) => {
      signals.push(signal);
      return attempt < 3 ? new Promise<string>(() => {}) : Promise.resolve('third time');
    });
    const p = pipeline(retry({ jitter: 'none', initialDelay: 10 }), timeout(50)).execute(fn);
    await vi.advanceTimersByTimeAsync(50 + 10 + 49);
    expect(fn).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1 + 20);
    await expect(p).resolves.toBe('third time');
    expect(signals.map((s) => s.aborted)).toEqual([true, true, false]);
    expect(new Set(signals).size).toBe(3);
  });

  it('fallback outermost sees the final outcome of retry', async () => {
    const fb = vi.fn((e: unknown) => (isRetryExhaustedError(e) ? 'fallback' : 'wrong'));
    const p = pipeline(
      fallback({ fallback: fb }),
      retry({ jitter: 'none', initialDelay: 1, maxAttempts: 2 }),
    ).execute(async () => {
      throw transient();
    });
    await vi.advanceTimersByTimeAsync(5);
    await expect(p).resolves.toBe('fallback');
    expect(fb).toHaveBeenCalledTimes(1);
  });

  it('the caller’s abort reaches the operation through every layer', async () => {
    const ac = new AbortController();
    let inner: AbortSignal | undefined;
    const p = pipeline(retry(), timeout(1000), noopPolicy).execute(
      (signal) => {
        inner = signal;
        return new Promise(() => {});
      },
      { signal: ac.signal },
    );
    const assertion = expect(p).rejects.toThrow('bye');
    ac.abort(new Error('bye'));
    await assertion;
    expect(inner?.aborted).toBe(true);
  });

  it('with no policies is the noop policy; with policies a Pipeline', async () => {
    expect(pipeline()).toBe(noopPolicy);
    expect(pipeline(noopPolicy)).toBeInstanceOf(Pipeline);
    await expect(pipeline().execute(async (_s, a) => a, { attempt: 4 })).resolves.toBe(4);
    await expect(
      noopPolicy.execute(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
  });

  it('rejects things that are not policies, naming the position', () => {
    expect(() => pipeline(noopPolicy, {} as Policy)).toThrow(/policy #1/);
  });
});
