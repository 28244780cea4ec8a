import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type RequestContext, runWithContext } from '../context/context.js';
import {
  CircuitOpenError,
  InvalidConfigError,
  isRetryBudgetExhaustedError,
  isRetryExhaustedError,
  RetryBudgetExhaustedError,
  RetryExhaustedError,
  TimeoutError,
} from '../errors/bulwark-error.js';
import { markPermanent } from '../errors/classify.js';
import { type BulwarkEvent, EventStream } from '../telemetry/events.js';
import { RetryPolicy, resolveRetryOptions, retry } from './retry.js';
import { RetryBudget } from './retry-budget.js';

const transient = () => Object.assign(new Error('reset'), { code: 'ECONNRESET' });

function ctx(over: Partial<RequestContext> = {}): RequestContext {
  return {
    correlationId: 'corr-1',
    trace: { traceId: '0'.repeat(32), spanId: '1'.repeat(16), flags: 1 },
    criticality: 'default',
    degraded: [],
    ...over,
  };
}

function recorder() {
  const events = new EventStream();
  const seen: BulwarkEvent[] = [];
  events.onAny((e) => seen.push(e));
  return { events, seen };
}

/** An operation that fails `n` times with `err()` then returns 'ok'. */
function failing(n: number, err: () => unknown = transient) {
  return vi.fn(async (_signal: AbortSignal, _attempt: number) => {
    if (n-- > 0) throw err();
    return 'ok';
  });
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_700_000_000_000);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('retry', () => {
  it('retries transient errors with exponential backoff and passes signal and attempt', async () => {
    const fn = failing(2);
    const p = retry({ jitter: 'none', initialDelay: 100 }).execute(fn);
    await vi.advanceTimersByTimeAsync(99);
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fn).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(199);
    expect(fn).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1);
    await expect(p).resolves.toBe('ok');
    expect(fn.mock.calls.map((c) => c[1])).toEqual([1, 2, 3]);
    expect(fn.mock.calls[0]?.[0]).toBeInstanceOf(AbortSignal);
  });

  it('throws RetryExhaustedError with cause and attempts when attempts run out', async () => {
    const last = transient();
    const fn = vi.fn(async () => {
      throw last;
    });
    const p = retry({ maxAttempts: 3, jitter: 'none', initialDelay: 10 }).execute(fn);
    const assertion = expect(p).rejects.toSatisfy(
      (e: unknown) => e instanceof RetryExhaustedError && e.attempts === 3 && e.cause === last,
    );
    await vi.advanceTimersByTimeAsync(1000);
    await assertion;
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('rethrows a non-retryable error as is, without retrying', async () => {
    const notFound = Object.assign(new Error('nope'), { status: 404 });
    const fn = failing(1, () => notFound);
    await expect(retry().execute(fn)).rejects.toBe(notFound);
    expect(fn).toHaveBeenCalledTimes(1);
    const open = new CircuitOpenError();
    await expect(retry().execute(failing(1, () => open))).rejects.toBe(open);
  });

  it('never retries errors marked permanent, even with a permissive retryOn', async () => {
    const fn = failing(1, () => markPermanent(transient()));
    await expect(retry({ retryOn: () => true }).execute(fn)).rejects.toThrow('reset');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('uses a custom retryOn with the attempt number', async () => {
    const retryOn = vi.fn((_e: unknown, attempt: number) => attempt < 2);
    const fn = failing(5, () => new Error('custom'));
    const p = retry({ retryOn, jitter: 'none', initialDelay: 1, maxAttempts: 10 }).execute(fn);
    const assertion = expect(p).rejects.toThrow('custom');
    await vi.advanceTimersByTimeAsync(10);
    await assertion;
    expect(fn).toHaveBeenCalledTimes(2);
    expect(retryOn.mock.calls.map((c) => c[1])).toEqual([1, 2]);
  });

  it('treats a synchronous throw like a rejection', async () => {
    let n = 0;
    const p = retry({ jitter: 'none', initialDelay: 5 }).execute(() => {
      if (n++ === 0) throw transient();
      return 7;
    });
    await vi.advanceTimersByTimeAsync(5);
    await expect(p).resolves.toBe(7);
  });

  it('rejects at once when aborted during the backoff wait and never runs another attempt', async () => {
    const ac = new AbortController();
    const fn = failing(5);
    const p = retry({ jitter: 'none', initialDelay: 1000 }).execute(fn, { signal: ac.signal });
    const assertion = expect(p).rejects.toThrow('stop');
    await vi.advanceTimersByTimeAsync(10);
    ac.abort(new Error('stop'));
    await assertion;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('checks the signal before the first attempt', async () => {
    const ac = new AbortController();
    ac.abort();
    const fn = failing(0);
    await expect(retry().execute(fn, { signal: ac.signal })).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(fn).not.toHaveBeenCalled();
  });

  it('does not retry when the operation failed because the caller aborted', async () => {
    const ac = new AbortController();
    const fn = vi.fn(async () => {
      ac.abort();
      throw transient();
    });
    await expect(retry().execute(fn, { signal: ac.signal })).rejects.toThrow('reset');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('honours Retry-After for the next delay when it fits in maxDelay', async () => {
    const fn = failing(2, () =>
      Object.assign(new Error('busy'), { status: 503, headers: { 'retry-after': '2' } }),
    );
    const { events, seen } = recorder();
    const p = retry({ jitter: 'none', initialDelay: 10, maxDelay: '5s', events }).execute(fn);
    await vi.advanceTimersByTimeAsync(1999);
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fn).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(2000);
    await expect(p).resolves.toBe('ok');
    expect(
      seen.filter((e) => e.type === 'retry.scheduled').map((e) => (e as { delayMs: number }).delayMs),
    ).toEqual([2000, 2000]);
  });

  it('gives up (never retries early) when Retry-After asks for longer than maxDelay', async () => {
    const busy = Object.assign(new Error('busy'), { status: 503, headers: { 'retry-after': '30' } });
    const fn = failing(2, () => busy);
    const { events, seen } = recorder();
    const p = retry({ jitter: 'none', initialDelay: 10, maxDelay: '2s', events }).execute(fn);
    await expect(p).rejects.toBe(busy);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(seen.map((e) => e.type)).toEqual(['retry.gave-up']);
  });

  it('ignores Retry-After when honorRetryAfter is false', async () => {
    const fn = failing(1, () => Object.assign(new Error('busy'), { status: 429, retryAfterMs: 5000 }));
    const p = retry({ jitter: 'none', initialDelay: 10, honorRetryAfter: false }).execute(fn);
    await vi.advanceTimersByTimeAsync(10);
    await expect(p).resolves.toBe('ok');
  });

  it('gives up with the last error when the next delay would end past the deadline', async () => {
    const last = transient();
    const fn = vi.fn(async () => {
      throw last;
    });
    const { events, seen } = recorder();
    const policy = retry({ jitter: 'none', initialDelay: 100, maxAttempts: 10, events });
    const p = policy.execute(fn, { deadline: Date.now() + 250 });
    const assertion = expect(p).rejects.toBe(last);
    // attempt 1 at 0, wait 100, attempt 2 at 100, next wait 200 would end at 300 > 250.
    await vi.advanceTimersByTimeAsync(500);
    await assertion;
    expect(fn).toHaveBeenCalledTimes(2);
    expect(seen.at(-1)).toMatchObject({ type: 'retry.gave-up', attempts: 2, error: last });
  });

  it('reads the deadline from the request context', async () => {
    const fn = failing(3);
    const p = runWithContext(ctx({ deadline: Date.now() + 50 }), () =>
      retry({ jitter: 'none', initialDelay: 100 }).execute(fn),
    );
    await expect(p).rejects.toThrow('reset');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('does not retry non-idempotent calls unless retryNonIdempotent is set', async () => {
    const fn = failing(1);
    await expect(retry().execute(fn, { idempotent: false })).rejects.toThrow('reset');
    expect(fn).toHaveBeenCalledTimes(1);

    const fn2 = failing(1);
    const p = retry({ retryNonIdempotent: true, jitter: 'none', initialDelay: 1 }).execute(fn2, {
      idempotent: false,
    });
    await vi.advanceTimersByTimeAsync(1);
    await expect(p).resolves.toBe('ok');
  });

  it('retries Bulwark TIMEOUT errors', async () => {
    const p = retry({ jitter: 'none', initialDelay: 1 }).execute(failing(1, () => new TimeoutError()));
    await vi.advanceTimersByTimeAsync(1);
    await expect(p).resolves.toBe('ok');
  });

  it('stops at the budget with RetryBudgetExhaustedError (cause = the last error) and says so in events', async () => {
    const budgetInstance = new RetryBudget({ ratio: 0, minPerSecond: 0.1, windowMs: 10_000 }); // one retry per window
    const { events, seen } = recorder();
    const policy = retry({ budgetInstance, jitter: 'none', initialDelay: 1, maxAttempts: 5, events });
    const last = transient();
    const p = policy.execute(
      vi.fn(async () => {
        throw last;
      }),
      { key: 'k' },
    );
    const assertion = expect(p).rejects.toSatisfy(
      (e: unknown) => e instanceof RetryBudgetExhaustedError && e.cause === last && e.attempts === 2,
    );
    await vi.advanceTimersByTimeAsync(10);
    await assertion;
    const err = (await p.catch((e: unknown) => e)) as RetryBudgetExhaustedError;
    expect(err).toMatchObject({ code: 'RETRY_BUDGET_EXHAUSTED', status: 503, policy: 'retry' });
    expect(isRetryBudgetExhaustedError(err)).toBe(true);
    expect(seen.map((e) => e.type)).toEqual(['retry.scheduled', 'retry.budget-exhausted', 'retry.gave-up']);
    expect(seen[1]).toMatchObject({ policy: 'retry', key: 'k', attempt: 3, error: last });
    expect(seen[2]).toMatchObject({ attempts: 2, reason: 'budget', error: last });
  });

  it('says how many attempts a recovered call took', async () => {
    const { events, seen } = recorder();
    let n = 0;
    const p = retry({ jitter: 'none', initialDelay: 1, maxAttempts: 5, events }).execute(async () => {
      if (++n < 3) throw transient();
      return 'ok';
    });
    await vi.advanceTimersByTimeAsync(10);
    await expect(p).resolves.toBe('ok');
    expect(seen.filter((e) => e.type === 'retry.succeeded')).toEqual([
      expect.objectContaining({ type: 'retry.succeeded', policy: 'retry', attempts: 3 }),
    ]);
    // A first-attempt success is not a recovery.
    await retry({ events }).execute(async () => 1);
    expect(seen.filter((e) => e.type === 'retry.succeeded')).toHaveLength(1);
  });

  it('retries a plain Error by default, never a 4xx or a cancellation', async () => {
    const calls = { plain: 0, client: 0, abort: 0 };
    const run = (kind: keyof typeof calls, error: () => unknown) => {
      const p = retry({ jitter: 'none', initialDelay: 1, maxAttempts: 3, budget: false }).execute(
        async () => {
          calls[kind]++;
          throw error();
        },
      );
      return p.catch(() => undefined);
    };
    const all = Promise.all([
      run('plain', () => new Error('HTTP 503')),
      run('client', () => Object.assign(new Error('nope'), { status: 404 })),
      run('abort', () => new DOMException('gone', 'AbortError')),
    ]);
    await vi.advanceTimersByTimeAsync(10);
    await all;
    expect(calls).toEqual({ plain: 3, client: 1, abort: 1 });
  });

  it('has a budget on by default and none with budget: false', () => {
    expect(retry().budget).toBeInstanceOf(RetryBudget);
    expect(retry().budget?.ratio).toBe(0.2);
    expect(retry({ budget: false }).budget).toBeUndefined();
    expect(retry({ budget: { ratio: 0.5, window: '5s' } }).budget?.windowMs).toBe(5000);
  });

  it('emits retry.scheduled and retry.gave-up with name, key and correlation ID', async () => {
    const { events, seen } = recorder();
    const err = transient();
    const p = runWithContext(ctx(), () =>
      retry({ name: 'payments', jitter: 'none', initialDelay: 10, maxAttempts: 2, events }).execute(
        async () => {
          throw err;
        },
        { key: 'tenant-a' },
      ),
    );
    const assertion = expect(p).rejects.toSatisfy(isRetryExhaustedError);
    await vi.advanceTimersByTimeAsync(10);
    await assertion;
    expect(seen).toMatchObject([
      {
        type: 'retry.scheduled',
        policy: 'payments',
        key: 'tenant-a',
        correlationId: 'corr-1',
        attempt: 2,
        delayMs: 10,
      },
      {
        type: 'retry.gave-up',
        policy: 'payments',
        key: 'tenant-a',
        correlationId: 'corr-1',
        attempts: 2,
        error: err,
      },
    ]);
  });

  it('builds no event when nobody listens', async () => {
    const events = new EventStream();
    const emit = vi.spyOn(events, 'emit');
    const p = retry({ jitter: 'none', initialDelay: 1, events }).execute(failing(1));
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(emit).not.toHaveBeenCalled();
  });

  it('uses the injected random source for jitter', async () => {
    const fn = failing(1);
    const p = retry({ jitter: 'full', initialDelay: 1000, random: () => 0.25 }).execute(fn);
    await vi.advanceTimersByTimeAsync(249);
    expect(fn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(p).resolves.toBe('ok');
  });

  it('copies options and never mutates them', () => {
    const opts = { maxAttempts: 2 };
    const p = new RetryPolicy(opts);
    opts.maxAttempts = 99;
    expect(p.maxAttempts).toBe(2);
    expect(opts).toEqual({ maxAttempts: 99 });
  });

  it.each([
    [{ maxAttempts: 0 }, /retry\.maxAttempts: expected a positive integer, got 0/],
    [{ maxAttempts: 1.5 }, /retry\.maxAttempts: .*got 1\.5/],
    [{ backoff: 'fibonacci' }, /retry\.backoff: expected one of 'exponential'.*got "fibonacci"/],
    [{ jitter: 'some' }, /retry\.jitter: .*got "some"/],
    [{ factor: 0.5 }, /retry\.factor: .*got 0\.5/],
    [{ initialDelay: 'soon' }, /retry\.initialDelay: expected a duration/],
    [{ initialDelay: 500, maxDelay: 100 }, /retry\.maxDelay: expected at least initialDelay/],
    [{ retryOn: 'yes' }, /retry\.retryOn: expected a function/],
    [{ handles: 'yes' }, /retry\.handles: expected a function/],
    [{ budget: true }, /retry\.budget: expected an object, got true/],
    [{ budget: { ratio: -1 } }, /retry\.budget\.ratio/],
    [{ budget: { ratio: 1.5 } }, /retry\.budget\.ratio: expected a ratio from 0 to 1, got 1\.5/],
    [{ maxDelay: '900h' }, /retry\.maxDelay: expected a duration of at most 2147483647 ms, got "900h"/],
  ])('validates %o up front with one InvalidConfigError naming the path', (opts, message) => {
    expect(() => retry(opts as never)).toThrow(InvalidConfigError);
    expect(() => retry(opts as never)).toThrow(message);
  });

  it('reports every problem at once', () => {
    const err = (() => {
      try {
        retry({ maxAttempts: 0, jitter: 'x', budget: { ratio: 2 } } as never);
      } catch (e) {
        return e as InvalidConfigError;
      }
    })();
    expect(err?.issues.map((i) => i.path)).toEqual([
      'retry.maxAttempts',
      'retry.jitter',
      'retry.budget.ratio',
    ]);
  });

  it('accepts jitter true/false as full/none', () => {
    expect(resolveRetryOptions({ jitter: true }).backoff.jitter).toBe('full');
    expect(resolveRetryOptions({ jitter: false }).backoff.jitter).toBe('none');
    expect(resolveRetryOptions({}).backoff.jitter).toBe('full');
  });

  it('takes handles as the error predicate, retryOn as its deprecated alias', () => {
    const handles = () => false;
    expect(resolveRetryOptions({ handles }).handles).toBe(handles);
    expect(resolveRetryOptions({ retryOn: handles }).handles).toBe(handles);
    expect(() => retry({ handles, retryOn: handles })).toThrow(/either `handles` or `retryOn`/);
  });
});
