import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type RequestContext, runWithContext } from '../context/context.js';
import {
  DeadlineExceededError,
  isDeadlineExceededError,
  isTimeoutError,
  TimeoutError,
} from '../errors/bulwark-error.js';
import { type BulwarkEvent, EventStream } from '../telemetry/events.js';
import { NEVER_ABORTED_SIGNAL } from '../util/time.js';
import { deadlineFrom, TimeoutPolicy, timeout } from './timeout.js';

function ctx(over: Partial<RequestContext> = {}): RequestContext {
  return {
    correlationId: 'corr-t',
    trace: { traceId: '0'.repeat(32), spanId: '1'.repeat(16), flags: 1 },
    criticality: 'default',
    degraded: [],
    ...over,
  };
}

/** Never settles on its own; records the signal it got. */
function hanging() {
  const seen: { signal?: AbortSignal; attempt?: number } = {};
  const fn = vi.fn((signal: AbortSignal, attempt: number) => {
    seen.signal = signal;
    seen.attempt = attempt;
    return new Promise<string>(() => {});
  });
  return { fn, seen };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_700_000_000_000);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('timeout', () => {
  it('resolves with the result when fn is fast enough and leaves no timer behind', async () => {
    const p = timeout(100).execute(async () => 'ok');
    await expect(p).resolves.toBe('ok');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('aborts the signal with a TimeoutError and rejects at once, without waiting for fn', async () => {
    const { events, seen: evs } = (() => {
      const events = new EventStream();
      const seen: BulwarkEvent[] = [];
      events.onAny((e) => seen.push(e));
      return { events, seen };
    })();
    const { fn, seen } = hanging();
    const p = timeout({ timeout: '50ms', name: 'db', kind: 'total', events }).execute(fn, {
      key: 'k',
      attempt: 3,
    });
    const assertion = expect(p).rejects.toSatisfy(
      (e: unknown) => isTimeoutError(e) && e.policy === 'db' && /50ms/.test(e.message),
    );
    await vi.advanceTimersByTimeAsync(49);
    expect(seen.signal?.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await assertion;
    expect(seen.signal?.aborted).toBe(true);
    expect(seen.signal?.reason).toBeInstanceOf(TimeoutError);
    expect(seen.attempt).toBe(3);
    expect(evs).toMatchObject([{ type: 'timeout', policy: 'db', key: 'k', timeoutMs: 50, kind: 'total' }]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('passes fn errors through and clears its timer', async () => {
    const err = new Error('boom');
    await expect(
      timeout(100).execute(() => {
        throw err;
      }),
    ).rejects.toBe(err);
    await expect(timeout(100).execute(async () => Promise.reject(err))).rejects.toBe(err);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('is bounded by a tighter deadline and then rejects with DeadlineExceededError', async () => {
    const { fn, seen } = hanging();
    const p = timeout(1000).execute(fn, { deadline: Date.now() + 30 });
    const assertion = expect(p).rejects.toBeInstanceOf(DeadlineExceededError);
    await vi.advanceTimersByTimeAsync(30);
    await assertion;
    expect(seen.signal?.reason).toBeInstanceOf(DeadlineExceededError);
  });

  it('keeps its own limit when the deadline is further away', async () => {
    const { fn } = hanging();
    const p = timeout(20).execute(fn, { deadline: Date.now() + 1000 });
    const assertion = expect(p).rejects.toSatisfy(isTimeoutError);
    await vi.advanceTimersByTimeAsync(20);
    await assertion;
  });

  it('reads the deadline from the request context', async () => {
    const { fn } = hanging();
    const p = runWithContext(ctx({ deadline: Date.now() + 10 }), () => timeout(1000).execute(fn));
    const assertion = expect(p).rejects.toSatisfy(isDeadlineExceededError);
    await vi.advanceTimersByTimeAsync(10);
    await assertion;
  });

  it('rejects a spent deadline without calling fn', async () => {
    const events = new EventStream();
    const seen: BulwarkEvent[] = [];
    events.on('timeout', (e) => seen.push(e));
    const fn = vi.fn(async () => 'never');
    await expect(
      timeout({ timeout: 100, events }).execute(fn, { deadline: Date.now() }),
    ).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(fn).not.toHaveBeenCalled();
    expect(seen).toMatchObject([{ kind: 'deadline', timeoutMs: 0 }]);
  });

  it('rejects at once when the caller aborts, and aborts the child signal', async () => {
    const ac = new AbortController();
    const { fn, seen } = hanging();
    const p = timeout(1000).execute(fn, { signal: ac.signal });
    const assertion = expect(p).rejects.toThrow('gone');
    ac.abort(new Error('gone'));
    await assertion;
    expect(seen.signal?.aborted).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not call fn when the caller signal is already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    const fn = vi.fn(async () => 1);
    await expect(timeout(10).execute(fn, { signal: ac.signal })).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(fn).not.toHaveBeenCalled();
  });

  it('removes its listener from the caller signal when done', async () => {
    const ac = new AbortController();
    const remove = vi.spyOn(ac.signal, 'removeEventListener');
    await timeout(100).execute(async () => 1, { signal: ac.signal });
    expect(remove).toHaveBeenCalledWith('abort', expect.any(Function));
  });

  it('never unrefs its timer, so a hung call in a script still gets its TimeoutError', async () => {
    const unref = vi.fn();
    const armed = globalThis.setTimeout; // the fake one
    const spy = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((cb: () => void, ms: number) => {
      const t = armed(cb, ms);
      t.unref = () => {
        unref();
        return t;
      };
      return t;
    }) as typeof setTimeout);
    try {
      const p = timeout(20).execute(() => new Promise(() => {}));
      const settled = expect(p).rejects.toMatchObject({ code: 'TIMEOUT' });
      await vi.advanceTimersByTimeAsync(20);
      await settled;
    } finally {
      spy.mockRestore();
    }
    expect(unref).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('nested timeouts: the outer one aborts the inner signal with its own reason, without listeners', async () => {
    const outer = timeout({ timeout: 50, kind: 'total', name: 'total' });
    const inner = timeout({ timeout: 1000, name: 'attempt' });
    const { fn, seen } = hanging();
    let outerSignal: AbortSignal | undefined;
    const p = outer.execute((s) => {
      outerSignal = s;
      const add = vi.spyOn(s, 'addEventListener');
      const r = inner.execute(fn, { signal: s });
      expect(add).not.toHaveBeenCalled();
      return r;
    });
    const assertion = expect(p).rejects.toSatisfy((e: unknown) => isTimeoutError(e) && e.policy === 'total');
    await vi.advanceTimersByTimeAsync(50);
    await assertion;
    expect(seen.signal?.aborted).toBe(true);
    expect(seen.signal?.reason).toBe(outerSignal?.reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('nested timeouts: an inner timeout does not abort the outer one, and settled inner calls unlink', async () => {
    const outer = timeout({ timeout: 1000, kind: 'total' });
    const inner = timeout({ timeout: 20, name: 'attempt' });
    let outerSignal: AbortSignal | undefined;
    const p = outer.execute(async (s) => {
      outerSignal = s;
      await inner.execute(async () => 1, { signal: s });
      const err = await inner.execute(() => new Promise<never>(() => {}), { signal: s }).catch((e) => e);
      expect(isTimeoutError(err) && err.policy === 'attempt').toBe(true);
      return 'done';
    });
    await vi.advanceTimersByTimeAsync(20);
    await expect(p).resolves.toBe('done');
    expect(outerSignal?.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('adds no listener to the shared never-aborting signal outer policies hand in', async () => {
    const add = vi.spyOn(NEVER_ABORTED_SIGNAL, 'addEventListener');
    await expect(timeout(100).execute(async () => 1, { signal: NEVER_ABORTED_SIGNAL })).resolves.toBe(1);
    expect(add).not.toHaveBeenCalled();
    add.mockRestore();
  });

  it('accepts a bare duration string and validates', () => {
    expect(timeout('2s').timeoutMs).toBe(2000);
    expect(new TimeoutPolicy({ timeout: 5 }).kind).toBe('attempt');
    expect(() => timeout(0)).toThrow(/timeout: expected a duration greater than zero, got 0/);
    expect(() => timeout('soon' as never)).toThrow(/timeout: expected a duration, got "soon"/);
    expect(() => timeout('900h')).toThrow(/timeout: expected a duration of at most 2147483647 ms/);
    expect(() => timeout({ timeout: 1, kind: 'x' as never })).toThrow(/timeout\.kind/);
    expect(() => timeout({} as never)).toThrow(/timeout\.timeout: expected a duration \(required\)/);
  });

  it('deadlineFrom adds a duration to now', () => {
    expect(deadlineFrom('2s', 1000)).toBe(3000);
    expect(deadlineFrom(50)).toBe(Date.now() + 50);
  });
});
