import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runWithContext } from '../context/context.js';
import {
  BulkheadFullError,
  CancelledError,
  InvalidConfigError,
  isBulkheadFullError,
  isQueueTimeoutError,
  QueueTimeoutError,
} from '../errors/bulwark-error.js';
import { type EventOf, EventStream } from '../telemetry/events.js';
import { bulkhead, resolveBulkheadOptions } from './bulkhead.js';

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Tracks how a promise settled, without letting a rejection go unhandled. */
function track<T>(p: Promise<T>) {
  const s: { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { state: 'pending' };
  p.then(
    (v) => {
      s.state = 'resolved';
      s.value = v;
    },
    (e: unknown) => {
      s.state = 'rejected';
      s.error = e;
    },
  );
  return s;
}

const flush = () => vi.advanceTimersByTimeAsync(0);

describe('bulkhead', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs at most maxConcurrent at once and hands slots to the queue in FIFO order', async () => {
    const bh = bulkhead({ maxConcurrent: 2, maxQueue: 3 });
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const order: number[] = [];
    const calls = gates.map((g, i) =>
      bh.execute(async () => {
        order.push(i);
        await g.promise;
        return i;
      }),
    );
    await flush();
    expect(order).toEqual([0, 1]);
    expect(bh.stats()).toEqual({ running: 2, queued: 2, maxConcurrent: 2, maxQueue: 3 });
    gates[1]?.resolve();
    await flush();
    expect(order).toEqual([0, 1, 2]);
    expect(bh.stats()).toMatchObject({ running: 2, queued: 1 });
    gates[0]?.resolve();
    gates[2]?.resolve();
    gates[3]?.resolve();
    expect(await Promise.all(calls)).toEqual([0, 1, 2, 3]);
    expect(bh.stats()).toMatchObject({ running: 0, queued: 0 });
  });

  it('rejects at once when running and queue are full, with retryAfterMs from the queue timeout', async () => {
    const events = new EventStream();
    const seen: EventOf<'bulkhead.rejected'>[] = [];
    events.on('bulkhead.rejected', (e) => seen.push(e));
    const bh = bulkhead({ name: 'api', maxConcurrent: 1, maxQueue: 1, queueTimeout: '2s', events });
    const gate = deferred();
    void bh.execute(() => gate.promise);
    const queued = track(bh.execute(() => 1));
    const err = await bh.execute(() => 1, { key: 'default' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BulkheadFullError);
    expect(isBulkheadFullError(err)).toBe(true);
    expect((err as BulkheadFullError).retryAfterMs).toBe(2000);
    expect((err as BulkheadFullError).status).toBe(503);
    expect(seen).toEqual([
      expect.objectContaining({
        type: 'bulkhead.rejected',
        reason: 'full',
        running: 1,
        queued: 1,
        policy: 'api',
        key: 'default',
      }),
    ]);
    gate.resolve();
    await flush();
    expect(queued.state).toBe('resolved');
  });

  it('uses an average of run durations for retryAfterMs', async () => {
    const bh = bulkhead({ maxConcurrent: 1, queueTimeout: 5000 });
    const run = bh.execute(() => new Promise<void>((r) => setTimeout(r, 200)));
    await vi.advanceTimersByTimeAsync(200);
    await run;
    const gate = deferred();
    void bh.execute(() => gate.promise);
    const err = await bh.execute(() => 1).catch((e: unknown) => e);
    expect((err as BulkheadFullError).retryAfterMs).toBe(200);
    gate.resolve();
  });

  it('rejects a queued call with QueueTimeoutError after queueTimeout, not before', async () => {
    const events = new EventStream();
    const seen: EventOf<'bulkhead.rejected'>[] = [];
    events.on('bulkhead.rejected', (e) => seen.push(e));
    const bh = bulkhead({ maxConcurrent: 1, maxQueue: 2, queueTimeout: 1000, events });
    const gate = deferred();
    void bh.execute(() => gate.promise);
    const first = track(runWithContext(ctx('c-1'), () => bh.execute(() => 1)));
    await vi.advanceTimersByTimeAsync(400);
    const second = track(bh.execute(() => 2));
    await vi.advanceTimersByTimeAsync(599);
    expect(first.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(first.state).toBe('rejected');
    expect(first.error).toBeInstanceOf(QueueTimeoutError);
    expect(isQueueTimeoutError(first.error)).toBe(true);
    expect(second.state).toBe('pending');
    expect(bh.stats()).toMatchObject({ running: 1, queued: 1 });
    await vi.advanceTimersByTimeAsync(400);
    expect(second.state).toBe('rejected');
    expect(seen.map((e) => [e.reason, e.correlationId])).toEqual([
      ['queue-timeout', 'c-1'],
      ['queue-timeout', undefined],
    ]);
    expect(vi.getTimerCount()).toBe(0);
    gate.resolve();
  });

  it('keeps one timer per key for the whole queue', async () => {
    const bh = bulkhead({ maxConcurrent: 1, maxQueue: 10, queueTimeout: 1000 });
    const gate = deferred();
    void bh.execute(() => gate.promise);
    const queued = Array.from({ length: 10 }, () => track(bh.execute(() => 1)));
    expect(vi.getTimerCount()).toBe(1);
    gate.resolve();
    await flush();
    expect(queued.every((q) => q.state === 'resolved')).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('removes an aborted waiter from the queue at once and frees no slot', async () => {
    const bh = bulkhead({ maxConcurrent: 1, maxQueue: 3 });
    const gate = deferred();
    const ran: number[] = [];
    void bh.execute(() => gate.promise);
    const ac = new AbortController();
    const a = track(bh.execute(() => ran.push(1), { signal: ac.signal }));
    const b = track(bh.execute(() => ran.push(2)));
    ac.abort(new Error('client gone'));
    expect(bh.stats()).toMatchObject({ running: 1, queued: 1 });
    await flush();
    expect(a.state).toBe('rejected');
    expect((a.error as Error).message).toBe('client gone');
    expect(b.state).toBe('pending');
    gate.resolve();
    await flush();
    expect(ran).toEqual([2]);
    expect(bh.stats()).toMatchObject({ running: 0, queued: 0 });
  });

  it('rejects an already aborted call without taking a slot', async () => {
    const bh = bulkhead({ maxConcurrent: 1 });
    const ac = new AbortController();
    ac.abort();
    const err = await bh.acquire('k', ac.signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect(bh.stats('k')).toMatchObject({ running: 0 });
  });

  it('acquire returns an idempotent release that hands the slot to the next waiter', async () => {
    const bh = bulkhead({ maxConcurrent: 1, maxQueue: 2 });
    const release = await bh.acquire('r');
    const next = bh.acquire('r');
    const third = track(bh.acquire('r'));
    release();
    release();
    const release2 = await next;
    expect(third.state).toBe('pending');
    expect(bh.stats('r')).toMatchObject({ running: 1, queued: 1 });
    release2();
    await flush();
    expect(third.state).toBe('resolved');
    third.value?.();
    expect(bh.stats('r')).toMatchObject({ running: 0, queued: 0 });
  });

  it('passes the signal and attempt to fn and releases when fn throws', async () => {
    const bh = bulkhead({ maxConcurrent: 1 });
    const ac = new AbortController();
    const fn = vi.fn(async (_s: AbortSignal, _a: number) => {
      throw new Error('boom');
    });
    await expect(bh.execute(fn, { signal: ac.signal, attempt: 3 })).rejects.toThrow('boom');
    expect(fn).toHaveBeenCalledWith(ac.signal, 3);
    expect(bh.stats()).toMatchObject({ running: 0 });
    await expect(bh.execute(() => 'ok')).resolves.toBe('ok');
  });

  it('isolates keys', async () => {
    const bh = bulkhead({ maxConcurrent: 1 });
    const gate = deferred();
    void bh.execute(() => gate.promise, { key: 'a' });
    await expect(bh.execute(() => 'b', { key: 'b' })).resolves.toBe('b');
    await expect(bh.execute(() => 'a', { key: 'a' })).rejects.toBeInstanceOf(BulkheadFullError);
    gate.resolve();
  });

  it('never evicts a busy key and stays bounded by maxKeys', async () => {
    const bh = bulkhead({ maxConcurrent: 1, maxKeys: 2 });
    const releaseA = await bh.acquire('a');
    const releaseB = await bh.acquire('b');
    const err = await bh.acquire('c').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BulkheadFullError);
    expect(bh.stats('a')).toMatchObject({ running: 1 });
    await expect(bh.acquire('a')).rejects.toBeInstanceOf(BulkheadFullError);
    releaseB();
    const releaseC = await bh.acquire('c');
    expect(bh.stats('b')).toMatchObject({ running: 0 });
    expect(bh.stats('a')).toMatchObject({ running: 1 });
    releaseA();
    releaseC();
  });

  it('tryAcquire takes a free slot synchronously and returns undefined when it would have to wait', async () => {
    const bh = bulkhead({ maxConcurrent: 2, maxQueue: 1 });
    const r1 = bh.tryAcquire('k');
    const r2 = bh.tryAcquire('k');
    expect(typeof r1).toBe('function');
    expect(typeof r2).toBe('function');
    expect(bh.tryAcquire('k')).toBeUndefined();
    expect(bh.stats('k')).toMatchObject({ running: 2, queued: 0 });
    const waiter = track(bh.acquire('k'));
    r1?.();
    r1?.(); // idempotent: frees one slot only
    await flush();
    expect(waiter.state).toBe('resolved');
    expect(bh.stats('k')).toMatchObject({ running: 2, queued: 0 });
    r2?.();
    (waiter.value as () => void)();
    expect(bh.stats('k')).toMatchObject({ running: 0 });
    expect(bh.tryAcquire()).toBeTypeOf('function');
    bh.close();
    expect(bh.tryAcquire('other')).toBeUndefined();
  });

  it('tryAcquire returns undefined when every key is busy, without rejecting or emitting', () => {
    const events = new EventStream();
    const emit = vi.spyOn(events, 'emit');
    events.onAny(() => {});
    const bh = bulkhead({ maxConcurrent: 1, maxKeys: 1, events });
    const ra = bh.tryAcquire('a');
    expect(bh.tryAcquire('b')).toBeUndefined();
    expect(emit).not.toHaveBeenCalled();
    ra?.();
    expect(bh.tryAcquire('b')).toBeTypeOf('function');
  });

  it('execute calls fn synchronously when a slot is free', () => {
    const bh = bulkhead({ maxConcurrent: 1 });
    let called = false;
    const p = bh.execute(() => {
      called = true;
      return 1;
    });
    expect(called).toBe(true);
    return expect(p).resolves.toBe(1);
  });

  it('evicts the least recently used idle key first', async () => {
    const bh = bulkhead({ maxConcurrent: 1, maxKeys: 2 });
    await bh.execute(() => 1, { key: 'a' });
    await bh.execute(() => 1, { key: 'b' });
    await bh.execute(() => 1, { key: 'a' }); // a is now the most recently used
    await bh.execute(() => 1, { key: 'c' }); // evicts b
    const keys = [...(bh as unknown as { all: Map<string, unknown> }).all.keys()].sort();
    expect(keys).toEqual(['a', 'c']);
  });

  it('emits nothing and reads no context when nobody listens', async () => {
    const events = new EventStream();
    const emit = vi.spyOn(events, 'emit');
    const bh = bulkhead({ maxConcurrent: 1, events });
    const gate = deferred();
    void bh.execute(() => gate.promise);
    await expect(bh.execute(() => 1)).rejects.toBeInstanceOf(BulkheadFullError);
    expect(emit).not.toHaveBeenCalled();
    gate.resolve();
  });

  it('close rejects queued calls, clears timers and refuses new calls', async () => {
    const bh = bulkhead({ maxConcurrent: 1, maxQueue: 2 });
    const gate = deferred();
    const running = bh.execute(() => gate.promise);
    const queued = track(bh.execute(() => 1));
    bh.close();
    bh.close();
    await flush();
    expect(queued.error).toBeInstanceOf(CancelledError);
    expect(vi.getTimerCount()).toBe(0);
    await expect(bh.acquire()).rejects.toBeInstanceOf(CancelledError);
    gate.resolve();
    await expect(running).resolves.toBeUndefined();
  });

  it('validates options once with errors naming the option, and does not mutate them', () => {
    expect(() => bulkhead({ maxConcurrent: 0 })).toThrow(
      /bulkhead\.maxConcurrent: expected a positive integer, got 0/,
    );
    expect(() => bulkhead({ maxQueue: -1 })).toThrow(
      /bulkhead\.maxQueue: expected a non-negative integer, got -1/,
    );
    expect(() => bulkhead({ maxQueue: 1.5 })).toThrow(InvalidConfigError);
    expect(() => bulkhead({ queueTimeout: 'soon' as never })).toThrow(/bulkhead\.queueTimeout: .*"soon"/);
    expect(() => bulkhead({ maxKeys: 0 })).toThrow(/bulkhead\.maxKeys/);
    expect(() => bulkhead({ maxConcurent: 2 } as never)).toThrow(/did you mean 'maxConcurrent'/);
    expect(() => bulkhead(null as never)).toThrow(/bulkhead: expected an object, got null/);
    const options = Object.freeze({ maxConcurrent: 2 });
    expect(bulkhead(options).stats()).toEqual({ running: 0, queued: 0, maxConcurrent: 2, maxQueue: 0 });
    expect(options).toEqual({ maxConcurrent: 2 });
  });

  it('refuses a queueTimeout past the timer maximum up front instead of spinning on it', () => {
    // Node clamps a longer delay to 1 ms: the queue timer would fire and re-arm every millisecond.
    expect(() => bulkhead({ queueTimeout: '900h', maxQueue: 1 })).toThrow(
      /bulkhead\.queueTimeout: expected a duration of at most 2147483647 ms, got "900h"/,
    );
    expect(() => bulkhead({ queueTimeout: 2_147_483_648 })).toThrow(InvalidConfigError);
    expect(resolveBulkheadOptions({ queueTimeout: 2_147_483_647 }).queueTimeoutMs).toBe(2_147_483_647);
  });

  it('waits out a long queueTimeout with one timer, not a spin', async () => {
    const bh = bulkhead({ maxConcurrent: 1, maxQueue: 1, queueTimeout: '500h' });
    let open: () => void = () => {};
    const running = bh.execute(() => new Promise<void>((r) => (open = r)));
    const queued = bh.execute(async () => 'late');
    await vi.advanceTimersByTimeAsync(10);
    expect(vi.getTimerCount()).toBe(1);
    open();
    await expect(queued).resolves.toBe('late');
    await running;
    expect(vi.getTimerCount()).toBe(0);
  });
});

function ctx(correlationId: string) {
  return {
    correlationId,
    trace: { traceId: '0'.repeat(32), spanId: '0'.repeat(16), flags: 1 },
    criticality: 'default' as const,
    degraded: [],
  };
}
