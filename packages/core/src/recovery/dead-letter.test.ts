import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { runWithCorrelation } from '../context/job.js';
import { BulwarkError, CircuitOpenError } from '../errors/bulwark-error.js';
import { markPermanent } from '../errors/classify.js';
import { memoryRecords, type RecordStore } from '../stores/records.js';
import { type BulwarkEvent, EventStream } from '../telemetry/events.js';
import { createDeadLetterQueue, type DeadLetterQueue } from './dead-letter.js';
import { isDeadLetterFullError } from './dead-letter-errors.js';
import type { DeadLetterQueueOptions } from './dead-letter-options.js';
import type { DeadLetterEntry, DeadLetterRun } from './dead-letter-types.js';

const T0 = Date.UTC(2026, 0, 1);
let events: EventStream;
let seen: BulwarkEvent[];
let queues: DeadLetterQueue[];

function queue(options: Partial<DeadLetterQueueOptions> = {}, records: RecordStore = memoryRecords()) {
  const q = createDeadLetterQueue({
    records,
    events,
    backoff: { initialDelay: '1s', maxDelay: '1m', jitter: 'none' },
    ...options,
  });
  queues.push(q);
  return q;
}

function types(): string[] {
  return seen.map((e) => e.type);
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
  events = new EventStream();
  seen = [];
  events.onAny((e) => seen.push(e));
  queues = [];
});

afterEach(async () => {
  await Promise.all(queues.map((q) => q.close()));
  vi.useRealTimers();
});

describe('add', () => {
  it('keeps the failure with its correlation ID, trace id, code, category, suggestion and payload', async () => {
    const q = queue();
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const id = await runWithCorrelation(
      'req-42',
      () =>
        q.add({
          type: 'orders.sync',
          payload: { order: 7 },
          error: new CircuitOpenError(),
          context: { tenant: 'acme' },
        }),
      { traceparent: tp },
    );
    const e = (await q.get(id)) as DeadLetterEntry;
    expect(e).toMatchObject({
      id,
      type: 'orders.sync',
      status: 'pending',
      payload: { order: 7 },
      context: { tenant: 'acme' },
      correlationId: 'req-42',
      traceId: '0af7651916cd43dd8448eb211c80319c',
      attempts: 0,
      maxAttempts: 5,
      history: [],
      createdAt: T0,
      nextAttemptAt: T0 + 1000,
      error: { code: 'CIRCUIT_OPEN', category: 'circuit-open', name: 'CircuitOpenError' },
    });
    expect(e.error.suggestion).toContain('Retry after');
    expect(seen[0]).toMatchObject({
      type: 'dead-letter.added',
      deadLetterId: id,
      code: 'CIRCUIT_OPEN',
      correlationId: 'req-42',
    });
  });

  it('describes foreign errors with the one classifier: a plain error is INTERNAL_ERROR, a 503 transient', async () => {
    const q = queue();
    const wrapped = new Error('all failed', { cause: new Error('ECONNREFUSED 10.0.0.1:5432') });
    const a = await q.get(await q.add({ type: 'a', error: wrapped }));
    expect(a?.error).toMatchObject({
      code: 'INTERNAL_ERROR',
      category: 'internal',
      cause: 'ECONNREFUSED 10.0.0.1:5432',
    });
    const b = await q.get(
      await q.add({ type: 'a', error: Object.assign(new Error('bad gateway'), { status: 503 }) }),
    );
    expect(b?.error.category).toBe('transient');
    const c = await q.get(await q.add({ type: 'a', error: 'a thrown string' }));
    expect(c?.error.message).toBe('a thrown string');
  });

  it('makes time-sortable ids, so list() is oldest first even within one millisecond', async () => {
    const q = queue();
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      ids.push(await q.add({ type: 't', payload: i, error: new Error('x') }));
      if (i % 10 === 0) vi.advanceTimersByTime(1);
    }
    expect([...ids].sort()).toEqual(ids);
    expect((await q.list()).map((e) => e.payload)).toEqual(ids.map((_, i) => i));
  });

  it('resolves only after the store put resolved', async () => {
    const records = memoryRecords();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const inner = records.records('dead-letters');
    const put = inner.put.bind(inner);
    vi.spyOn(inner, 'put').mockImplementation(async (id, value) => {
      await gate;
      return put(id, value);
    });
    const q = queue({}, records);
    let resolved = false;
    const pending = q.add({ type: 't', error: new Error('x') }).then((id) => {
      resolved = true;
      return id;
    });
    await vi.advanceTimersByTimeAsync(50);
    expect(resolved).toBe(false);
    release();
    const id = await pending;
    expect(await inner.get(id)).toBeDefined();
  });

  it('refuses with DEAD_LETTER_FULL at maxSize, emits dead-letter.refused, never drops an entry', async () => {
    const q = queue({ maxSize: 3 });
    const ids = await Promise.all(
      [1, 2, 3].map((i) => q.add({ type: 't', payload: i, error: new Error('x') })),
    );
    const err = await q.add({ type: 't', payload: 4, error: new Error('x') }).catch((e: unknown) => e);
    expect(isDeadLetterFullError(err)).toBe(true);
    expect((err as BulwarkError).status).toBe(503);
    expect(seen.at(-1)).toMatchObject({ type: 'dead-letter.refused', reason: 'full', deadLetterType: 't' });
    expect((await q.list()).map((e) => e.id)).toEqual(ids);
    expect((await q.stats()).totalRefused).toBe(1);
    // Concurrent adds count the ones still being written.
    const q2 = queue({ maxSize: 2 });
    const all = await Promise.allSettled([1, 2, 3].map(() => q2.add({ type: 't', error: 'x' })));
    expect(all.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
  });

  it('a store that fails refuses the add with its own error and tells the operator', async () => {
    const records = memoryRecords();
    const inner = records.records('dead-letters');
    const down = new Error('disk full');
    const list = vi.spyOn(inner, 'list').mockRejectedValueOnce(down);
    const q = queue({}, records);
    await expect(q.add({ type: 't', error: 'x' })).rejects.toBe(down);
    vi.spyOn(inner, 'put').mockRejectedValueOnce(down);
    await expect(q.add({ type: 't', error: 'x' })).rejects.toBe(down);
    expect(seen.map((e) => [e.type, (e as { reason?: string }).reason])).toEqual([
      ['dead-letter.refused', 'store'],
      ['dead-letter.refused', 'store'],
    ]);
    // The load is tried again on the next call; nothing half-written stays behind.
    expect(list).toHaveBeenCalledTimes(2);
    expect((await q.stats()).currentSize).toBe(0);
    await q.add({ type: 't', error: 'x' });
    expect((await q.stats()).currentSize).toBe(1);
  });

  it('refuses input it cannot store, naming the field and the fix', async () => {
    const q = queue({ maxPayloadBytes: 100 });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await expect(q.add({ type: 't', payload: circular, error: 'x' })).rejects.toThrow(
      /add\(\{ payload \}\).*JSON/,
    );
    await expect(q.add({ type: 't', payload: 'x'.repeat(200), error: 'x' })).rejects.toThrow(
      /maxPayloadBytes/,
    );
    await expect(q.add({ type: 'bad type!', error: 'x' })).rejects.toThrow(/add\(\{ type \}\)/);
    await expect(q.add({ type: 't', error: 'x', maxAttempts: 0 })).rejects.toThrow(/maxAttempts/);
    expect(seen.filter((e) => e.type === 'dead-letter.refused').length).toBe(4);
    expect((await q.stats()).currentSize).toBe(0);
  });
});

describe('the auto-retry loop', () => {
  it('retries with the backoff until the handler succeeds, then marks the entry recovered', async () => {
    const q = queue();
    const calls: { payload: unknown; attempt: number; at: number }[] = [];
    q.handle<{ n: number }>('orders.sync', (payload, run: DeadLetterRun) => {
      calls.push({ payload, attempt: run.attempt, at: Date.now() - T0 });
      if (run.attempt < 3) throw new Error(`down ${run.attempt}`);
    });
    const id = await q.add({ type: 'orders.sync', payload: { n: 1 }, error: new Error('first') });
    await q.start();
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect((await q.get(id))?.status).toBe('retrying');
    await vi.advanceTimersByTimeAsync(10_000);
    // 1s after the add, then 2s, then 4s (exponential, factor 2, no jitter).
    expect(calls.map((c) => c.at)).toEqual([1000, 3000, 7000]);
    expect(calls[0]?.payload).toEqual({ n: 1 });
    const e = (await q.get(id)) as DeadLetterEntry;
    expect(e).toMatchObject({
      status: 'recovered',
      attempts: 3,
      settledAt: T0 + 7000,
      lastError: { message: 'down 2' },
    });
    expect(e.nextAttemptAt).toBeUndefined();
    expect(e.history.map((h) => h.outcome)).toEqual(['failed', 'failed', 'recovered']);
    expect(e.history[0]).toMatchObject({ at: T0 + 1000, code: 'INTERNAL_ERROR', message: 'down 1' });
    expect(types()).toEqual([
      'dead-letter.added',
      'dead-letter.retried',
      'dead-letter.retried',
      'dead-letter.recovered',
    ]);
    expect(vi.getTimerCount()).toBe(0);
    const stats = await q.stats();
    expect(stats).toMatchObject({
      totalFailed: 1,
      totalRetried: 3,
      totalRecovered: 1,
      totalExhausted: 0,
      currentSize: 1,
      byType: { 'orders.sync': 1 },
      byStatus: { pending: 0, 'in-progress': 0, retrying: 0, failed: 0, recovered: 1 },
      autoRetry: true,
    });
  });

  it('marks an entry failed when its retries are spent, and when a retry fails permanently', async () => {
    const q = queue({ maxAttempts: 2 });
    q.handle('a', () => {
      throw new Error('still down');
    });
    q.handle('b', () => {
      throw markPermanent(new Error('gone'));
    });
    const a = await q.add({ type: 'a', error: 'x' });
    const b = await q.add({ type: 'b', error: 'x', maxAttempts: 10 });
    await q.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await q.get(a)).toMatchObject({ status: 'failed', attempts: 2 });
    expect(await q.get(b)).toMatchObject({
      status: 'failed',
      attempts: 1,
      lastError: { category: 'permanent' },
    });
    expect(
      seen
        .filter((e) => e.type === 'dead-letter.exhausted')
        .map((e) => (e as { deadLetterId: string }).deadLetterId),
    ).toEqual([b, a]);
    expect((await q.stats()).totalExhausted).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('holds one timer at most, only while a retry is due later, and none when stopped', async () => {
    const q = queue();
    expect(vi.getTimerCount()).toBe(0);
    await q.start();
    expect(vi.getTimerCount()).toBe(0); // nothing due: no timer
    await q.add({ type: 't', error: 'x' });
    expect(vi.getTimerCount()).toBe(0); // no handler for 't': nothing can run
    q.handle('t', () => {
      throw new Error('again');
    });
    for (let i = 0; i < 20; i++) await q.add({ type: 't', error: 'x' });
    expect(vi.getTimerCount()).toBe(1);
    await q.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not retry a permanent failure by itself; it waits for a replay', async () => {
    const q = queue();
    const fn = vi.fn();
    q.handle('t', fn);
    await q.start();
    const id = await q.add({ type: 't', error: Object.assign(new Error('bad request'), { status: 400 }) });
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(fn).not.toHaveBeenCalled();
    expect((await q.get(id))?.status).toBe('pending');
    expect((await q.replay(id)).recovered).toEqual([id]);
  });

  it('waits at least the Retry-After a failure carries', async () => {
    const q = queue();
    const id = await q.add({ type: 't', error: new CircuitOpenError({ retryAfterMs: 30_000 }) });
    expect((await q.get(id))?.nextAttemptAt).toBe(T0 + 30_000);
  });

  it('runs at most `concurrency` entries at once, and never one entry twice at a time', async () => {
    const q = queue({ concurrency: 2 });
    let running = 0;
    let peak = 0;
    const releases: (() => void)[] = [];
    q.handle('t', async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise<void>((r) => releases.push(r));
      running--;
    });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await q.add({ type: 't', error: 'x' }));
    await q.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(running).toBe(2);
    const first = ids[0] as string;
    expect(await q.replay(first)).toEqual({
      recovered: [],
      failed: [],
      skipped: [{ id: first, reason: 'in-progress' }],
    });
    expect(await q.purge({ id: first })).toBe(0);
    while (releases.length > 0) {
      for (const r of releases.splice(0)) r();
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(peak).toBe(2);
    expect((await q.stats()).byStatus.recovered).toBe(5);
  });

  it('starts entries registered before a handler came as soon as it does', async () => {
    const q = queue();
    const id = await q.add({ type: 't', error: 'x' });
    await q.start();
    await vi.advanceTimersByTimeAsync(5000);
    const fn = vi.fn();
    q.handle('t', fn);
    await vi.advanceTimersByTimeAsync(0);
    expect(fn).toHaveBeenCalledOnce();
    expect((await q.get(id))?.status).toBe('recovered');
  });

  it('runs the handler in the entry correlation ID, with a signal aborted by close()', async () => {
    const q = queue();
    const { getContext } = await import('../context/context.js');
    let seenId: string | undefined;
    let signal: AbortSignal | undefined;
    q.handle('t', (_p, run) => {
      seenId = getContext()?.correlationId;
      signal = run.signal;
      return new Promise((_, reject) =>
        run.signal.addEventListener('abort', () => reject(run.signal.reason)),
      );
    });
    const id = await runWithCorrelation('job-9', () => q.add({ type: 't', error: 'x' }));
    await q.start();
    await vi.advanceTimersByTimeAsync(1000);
    expect(seenId).toBe('job-9');
    expect((await q.get(id))?.status).toBe('in-progress');
    await q.close();
    expect(signal?.aborted).toBe(true);
    const records = (q as unknown as { book: { read(id: string): Promise<DeadLetterEntry> } }).book;
    const e = await records.read(id);
    // Cut short by close(): not counted, back to where it was, runs again after a restart.
    expect(e).toMatchObject({ status: 'pending', attempts: 0 });
    expect(e.history.map((h) => h.outcome)).toEqual(['interrupted']);
  });
});

describe('restart', () => {
  it('an entry left in-progress by a crash is an interrupted retry, rescheduled at once', async () => {
    const records = memoryRecords();
    const q1 = queue({}, records);
    q1.handle('t', () => new Promise(() => {}));
    const id = await q1.add({ type: 't', error: 'x' });
    await q1.start();
    await vi.advanceTimersByTimeAsync(1000);
    // A crash: the first queue is simply abandoned (no close()).
    queues.splice(queues.indexOf(q1), 1);
    vi.advanceTimersByTime(5000);
    const q2 = queue({}, records);
    const fn = vi.fn();
    q2.handle('t', fn);
    expect((await q2.get(id))?.status).toBe('in-progress');
    await q2.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(fn).toHaveBeenCalledOnce();
    expect(fn.mock.calls[0]?.[1]).toMatchObject({ attempt: 2 });
    const e = (await q2.get(id)) as DeadLetterEntry;
    expect(e.status).toBe('recovered');
    expect(e.history.map((h) => [h.outcome, h.durationMs])).toEqual([
      ['interrupted', 5000],
      ['recovered', 0],
    ]);
  });

  it('skips a record that is not a dead letter, telling the operator', async () => {
    const records = memoryRecords();
    await records.records('dead-letters').put('junk', { hello: 'world' });
    const q = queue({}, records);
    expect((await q.stats()).currentSize).toBe(0);
    expect(seen).toContainEqual(
      expect.objectContaining({ type: 'dead-letter.store-failed', deadLetterId: 'junk' }),
    );
  });
});

describe('replay, purge, archive', () => {
  it('replays by id and by filter; a failed entry that fails again stays failed', async () => {
    const q = queue({ maxAttempts: 1 });
    let up = false;
    q.handle('t', () => {
      if (!up) throw new Error('down');
    });
    const a = await q.add({ type: 't', error: 'x' });
    const b = await q.add({ type: 't', error: 'x' });
    const c = await q.add({ type: 'unhandled', error: 'x' });
    expect(await q.replay(a)).toEqual({ recovered: [], failed: [a], skipped: [] });
    expect((await q.get(a))?.status).toBe('failed');
    expect(await q.replay(a)).toEqual({ recovered: [], failed: [a], skipped: [] });
    expect(await q.get(a)).toMatchObject({ status: 'failed', attempts: 2 });
    up = true;
    expect(await q.replay({})).toEqual({
      recovered: [a, b],
      failed: [],
      skipped: [{ id: c, reason: 'no-handler' }],
    });
    expect(await q.replay(a)).toEqual({
      recovered: [],
      failed: [],
      skipped: [{ id: a, reason: 'already-recovered' }],
    });
    expect(await q.replay('dl-nope')).toEqual({
      recovered: [],
      failed: [],
      skipped: [{ id: 'dl-nope', reason: 'not-found' }],
    });
  });

  it('lists, purges and archives by filter; a typo in a filter throws instead of matching everything', async () => {
    const q = queue({ maxArchived: 2 });
    const ids: string[] = [];
    for (const type of ['a', 'a', 'b', 'b', 'c']) {
      ids.push(await q.add({ type, error: type === 'c' ? new CircuitOpenError() : new Error('x') }));
      vi.advanceTimersByTime(10);
    }
    expect((await q.list({ type: 'a' })).map((e) => e.id)).toEqual(ids.slice(0, 2));
    expect((await q.list({ code: 'CIRCUIT_OPEN' })).map((e) => e.id)).toEqual([ids[4]]);
    expect((await q.list({ after: T0 + 20, limit: 2 })).map((e) => e.id)).toEqual(ids.slice(2, 4));
    await expect(q.purge({ typ: 'a' } as never)).rejects.toThrow(/Unknown filter field `typ`/);
    expect(await q.purge({ type: 'a' })).toBe(2);
    expect(await q.archive({ type: ['b', 'c'] })).toBe(3);
    expect((await q.stats()).currentSize).toBe(0);
    // The archive keeps the newest maxArchived (2); the oldest went with an event.
    expect((await q.list({ archived: true })).map((e) => e.id)).toEqual(ids.slice(3));
    expect(seen.filter((e) => e.type === 'dead-letter.evicted')).toEqual([
      expect.objectContaining({ deadLetterId: ids[2], deadLetterType: 'b', reason: 'archive-full' }),
    ]);
    expect((await q.get(ids[4] as string))?.archivedAt).toBe(Date.now());
    expect(await q.purge({ archived: true, type: 'c' })).toBe(1);
    expect(await q.get(ids[4] as string)).toBeUndefined();
  });
});

describe('options', () => {
  it('are validated once, naming the key, the value and the fix', () => {
    const records = memoryRecords();
    expect(() => createDeadLetterQueue({ records, maxSize: 0 })).toThrow(
      /deadLetters\.maxSize: expected a positive integer, got 0/,
    );
    expect(() => createDeadLetterQueue({ records, backoff: { intialDelay: '1s' } as never })).toThrow(
      /deadLetters\.backoff\.intialDelay.*did you mean 'initialDelay'/,
    );
    expect(() => createDeadLetterQueue({ records, backoff: { maxAttempts: 3 } as never })).toThrow(
      /deadLetters\.backoff\.maxAttempts/,
    );
    expect(() => createDeadLetterQueue({ records, maxRetries: 3 } as never)).toThrow(
      /did you mean 'maxAttempts'/,
    );
    expect(() => createDeadLetterQueue({} as never)).toThrow(/deadLetters\.records.*required/);
    const input = { records, backoff: { initialDelay: '5s' as const } };
    createDeadLetterQueue(input);
    expect(input).toEqual({ records, backoff: { initialDelay: '5s' } });
  });

  it('types the handler payload and the run', () => {
    const q = queue();
    q.handle<{ orderId: string }>('t', (payload, run) => {
      expectTypeOf(payload).toEqualTypeOf<{ orderId: string }>();
      expectTypeOf(run.signal).toEqualTypeOf<AbortSignal>();
      expectTypeOf(run.entry.status).toEqualTypeOf<
        'pending' | 'in-progress' | 'retrying' | 'failed' | 'recovered'
      >();
    });
    expectTypeOf(q.add).returns.toEqualTypeOf<Promise<string>>();
  });

  it('refuses every call after close()', async () => {
    const q = queue();
    await q.close();
    await expect(q.add({ type: 't', error: 'x' })).rejects.toThrow(/closed/);
    expect(() => q.handle('t', () => {})).toThrow(/closed/);
  });
});
