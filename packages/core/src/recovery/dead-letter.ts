/**
 * The dead-letter queue: failed operations kept durably with what is needed to run them again,
 * handlers per type, an auto-retry loop with the retry policy's backoff, inspection, replay,
 * purge, archive and stats.
 *
 * Storage: one record per entry in a `Records` collection (kind `dead-letters`), written with
 * `put`, which resolves once durable; the archive is a second kind (`dead-letters.archive`). The
 * queue keeps a slim summary of every entry in memory (bounded by `maxSize`) for stats, filters
 * and scheduling; payloads stay in the store. One process owns a queue's records: two processes
 * running the loop on the same file could run an entry twice.
 */
import { getContext } from '../context/context.js';
import { CancelledError } from '../errors/bulwark-error.js';
import type { EventInput } from '../telemetry/events.js';
import type { Closeable, Disposable } from '../types.js';
import { EntryBook } from './dead-letter-book.js';
import {
  checkFilter,
  checkType,
  describeError,
  isPermanentFailure,
  newDeadLetterId,
} from './dead-letter-entry.js';
import { DeadLetterFullError } from './dead-letter-errors.js';
import { checkAddInput, RetryLoop } from './dead-letter-loop.js';
import {
  type DeadLetterQueueOptions,
  type ResolvedDeadLetterOptions,
  resolveDeadLetterOptions,
} from './dead-letter-options.js';
import { type QueueEvent, type RunOutcome, runEntry, scheduleNext, type Totals } from './dead-letter-run.js';
import {
  type AddDeadLetterInput,
  DEAD_LETTER_STATUSES,
  type DeadLetterEntry,
  type DeadLetterFilter,
  type DeadLetterHandler,
  type DeadLetterStats,
  type DeadLetterStatus,
  type ReplayReport,
} from './dead-letter-types.js';

/** A durable dead-letter queue. Build it with {@link createDeadLetterQueue}, or use `bulwark.deadLetters`. */
export class DeadLetterQueue implements Closeable {
  /** Name in events. */
  readonly name: string;
  private readonly o: ResolvedDeadLetterOptions;
  private readonly book: EntryBook;
  private readonly handlers = new Map<string, DeadLetterHandler>();
  private readonly inflight = new Map<string, Promise<RunOutcome>>();
  private readonly loop: RetryLoop;
  private readonly abort = new AbortController();
  /** Adds waiting for their put: they count towards `maxSize`. */
  private reserved = 0;
  private closed = false;
  private readonly totals: Totals = { failed: 0, retried: 0, recovered: 0, exhausted: 0, refused: 0 };

  constructor(options: DeadLetterQueueOptions) {
    this.o = resolveDeadLetterOptions(options);
    this.name = this.o.name;
    this.book = new EntryBook(options.records, this.o.kind, this.o.historyLimit, (id, error) =>
      this.storeFailed('load', error, id),
    );
    this.loop = new RetryLoop(this.o.concurrency, {
      summaries: this.book.index,
      eligible: (id, s) => this.handlers.has(s.type) && !this.inflight.has(id),
      run: (id) => void this.runOne(id, 'auto'),
      running: () => this.inflight.size,
    });
    if (this.o.autoRetry) this.start().catch((error) => this.storeFailed('load', error));
  }

  /**
   * Adds a failed operation; resolves with the entry's id once the entry is durable (the store's
   * `put` resolved). Rejects with `DEAD_LETTER_FULL` when the queue holds `maxSize` entries (the
   * overflow rule: refuse, never drop), with a TypeError for input it cannot store, or with the
   * store's error; each refusal also emits `dead-letter.refused`. The entry keeps the correlation
   * ID and trace id of the current request context.
   * @example
   * const id = await bulwark.deadLetters.add({ type: 'orders.sync', payload: order, error });
   */
  async add(input: AddDeadLetterInput): Promise<string> {
    this.assertOpen();
    try {
      checkAddInput(input, this.o);
    } catch (error) {
      this.emit({
        type: 'dead-letter.refused',
        deadLetterType: String(input?.type),
        reason: 'invalid',
        error,
      });
      throw error;
    }
    if (!this.book.isLoaded) {
      try {
        await this.book.load();
      } catch (error) {
        this.emit({ type: 'dead-letter.refused', deadLetterType: input.type, reason: 'store', error });
        throw error;
      }
    }
    if (this.book.index.size + this.reserved >= this.o.maxSize) {
      const error = new DeadLetterFullError(this.o.maxSize);
      this.totals.refused++;
      this.emit({ type: 'dead-letter.refused', deadLetterType: input.type, reason: 'full', error });
      throw error;
    }
    const entry = this.newEntry(input);
    this.reserved++;
    try {
      await this.book.insert(entry);
    } catch (error) {
      this.emit({ type: 'dead-letter.refused', deadLetterType: input.type, reason: 'store', error });
      throw error;
    } finally {
      this.reserved--;
    }
    this.totals.failed++;
    if (this.o.events.active)
      this.emit({
        type: 'dead-letter.added',
        deadLetterId: entry.id,
        deadLetterType: entry.type,
        code: entry.error.code,
        category: entry.error.category,
      });
    if (entry.nextAttemptAt !== undefined) this.loop.scheduled(entry.nextAttemptAt);
    return entry.id;
  }

  /**
   * Registers the handler that runs entries of `type` again (one per type); the loop and `replay`
   * use it. Dispose the result to remove it.
   * @example
   * bulwark.deadLetters.handle<Order>('orders.sync', (order, { signal }) => syncOrder(order, signal));
   */
  handle<P = unknown>(type: string, handler: DeadLetterHandler<P>): Disposable {
    this.assertOpen();
    checkType(type, 'handle(type)');
    if (typeof handler !== 'function')
      throw new TypeError(`Expected the handler of '${type}' to be a function (payload, run) => result.`);
    if (this.handlers.has(type))
      throw new TypeError(
        `A handler for '${type}' is already registered; dispose it before registering another.`,
      );
    const h = handler as DeadLetterHandler;
    this.handlers.set(type, h);
    this.loop.changed();
    return {
      dispose: () => {
        if (this.handlers.get(type) === h) this.handlers.delete(type);
      },
    };
  }

  /**
   * Starts the auto-retry loop: due entries run (at most `concurrency` at once), the backoff
   * between retries. Its one timer is unref'd and exists only while a retry is due later, so an
   * idle process exits. Resolves once the entries are loaded and the loop is armed.
   */
  async start(): Promise<void> {
    this.assertOpen();
    await this.book.load();
    if (!this.closed) this.loop.start();
  }

  /** Stops the loop (no new runs); resolves when the runs in progress have finished. */
  async stop(): Promise<void> {
    this.loop.stop();
    await Promise.allSettled([...this.inflight.values()]);
  }

  /** The entry (a copy) from the queue, else from the archive; undefined when absent. */
  async get(id: string): Promise<DeadLetterEntry | undefined> {
    return (await this.book.read(id)) ?? (await this.book.readArchived(id));
  }

  /** The entries matching `filter`, oldest first (`archived: true` reads the archive). */
  async list(filter: DeadLetterFilter = {}): Promise<DeadLetterEntry[]> {
    checkFilter(filter, 'list(filter)');
    if (filter.archived) return this.book.archivedMatching(filter);
    await this.book.load();
    const out: DeadLetterEntry[] = [];
    for (const id of this.book.select(filter)) {
      const e = await this.book.read(id);
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  /**
   * Runs entries now, whatever their schedule (one retry each, `concurrency` at a time; the loop
   * need not run): by id, or every entry matching a filter. A `failed` entry that fails again
   * stays `failed`. Recovered entries, entries running now and entries of a type without a
   * handler are skipped, with the reason.
   */
  async replay(target: string | DeadLetterFilter): Promise<ReplayReport> {
    this.assertOpen();
    if (typeof target !== 'string') checkFilter(target, 'replay(filter)');
    await this.book.load();
    const ids = typeof target === 'string' ? [target] : this.book.select(target);
    const report: ReplayReport = { recovered: [], failed: [], skipped: [] };
    for (let i = 0; i < ids.length; i += this.o.concurrency) {
      const batch = ids.slice(i, i + this.o.concurrency);
      const outcomes = await Promise.all(batch.map((id) => this.runOne(id, 'replay')));
      batch.forEach((id, j) => {
        const o = outcomes[j] as RunOutcome;
        if (o === 'recovered') report.recovered.push(id);
        else if (o === 'failed' || o === 'interrupted') report.failed.push(id);
        else report.skipped.push({ id, reason: o });
      });
    }
    return report;
  }

  /** Deletes the matching entries (never one running now); resolves with how many. `{}` matches all. */
  async purge(filter: DeadLetterFilter): Promise<number> {
    checkFilter(filter, 'purge(filter)');
    let n = 0;
    if (filter.archived) {
      for (const e of await this.book.archivedMatching(filter)) if (await this.book.deleteArchived(e.id)) n++;
      return n;
    }
    await this.book.load();
    for (const id of this.book.select(filter, (id) => this.inflight.has(id)))
      if (await this.book.remove(id)) n++;
    this.loop.changed();
    return n;
  }

  /**
   * Moves the matching entries (never one running now) to the archive, where `get` and
   * `list({ archived: true })` still find them and they no longer count towards `maxSize`; the
   * oldest archived entries beyond `maxArchived` are deleted, each with a `dead-letter.evicted`
   * event. Resolves with how many were archived.
   */
  async archive(filter: DeadLetterFilter): Promise<number> {
    this.assertOpen();
    checkFilter(filter, 'archive(filter)');
    if (filter.archived)
      throw new TypeError('archive(filter) moves entries of the queue; `archived` does not apply.');
    await this.book.load();
    let n = 0;
    for (const id of this.book.select(filter, (id) => this.inflight.has(id)))
      if (await this.book.moveToArchive(id, Date.now())) n++;
    if (n > 0)
      for (const e of await this.book.trimArchive(this.o.maxArchived))
        this.emit({
          type: 'dead-letter.evicted',
          deadLetterId: e.id,
          deadLetterType: e.type,
          reason: 'archive-full',
        });
    this.loop.changed();
    return n;
  }

  /** Counts since the queue was opened, the entries now by type and by status, and the bound. */
  async stats(): Promise<DeadLetterStats> {
    await this.book.load();
    const byType: Record<string, number> = {};
    const byStatus = Object.fromEntries(DEAD_LETTER_STATUSES.map((s) => [s, 0])) as Record<
      DeadLetterStatus,
      number
    >;
    for (const s of this.book.index.values()) {
      byType[s.type] = (byType[s.type] ?? 0) + 1;
      byStatus[s.status]++;
    }
    const t = this.totals;
    return {
      totalFailed: t.failed,
      totalRetried: t.retried,
      totalRecovered: t.recovered,
      totalExhausted: t.exhausted,
      totalRefused: t.refused,
      currentSize: this.book.index.size,
      maxSize: this.o.maxSize,
      byType,
      byStatus,
      autoRetry: this.loop.active,
    };
  }

  /**
   * Stops the loop, aborts the handlers' signals and waits for them; a retry cut short this way is
   * not counted and runs again later. Does not close the record store (its owner does). Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.loop.stop();
    this.abort.abort(new CancelledError({ message: 'The dead-letter queue was closed.' }));
    await Promise.allSettled([...this.inflight.values()]);
  }

  private newEntry(input: AddDeadLetterInput): DeadLetterEntry {
    const now = Date.now();
    const ctx = getContext();
    const error = describeError(input.error);
    const entry: DeadLetterEntry = {
      id: newDeadLetterId(now),
      type: input.type,
      status: 'pending',
      payload: input.payload ?? null,
      context: input.context ?? {},
      error,
      attempts: 0,
      maxAttempts: input.maxAttempts ?? this.o.maxAttempts,
      history: [],
      createdAt: now,
      updatedAt: now,
    };
    if (ctx) {
      entry.correlationId = ctx.correlationId;
      entry.traceId = ctx.trace.traceId;
    }
    // A permanent failure (a client error, markPermanent) waits for a replay: retrying it blindly cannot help.
    if (!isPermanentFailure(error)) scheduleNext(this.o, entry, input.error, now);
    return entry;
  }

  /** Runs one entry once, unless it is absent, running, recovered (replay) or has no handler. */
  private runOne(id: string, mode: 'auto' | 'replay'): Promise<RunOutcome> {
    const s = this.book.index.get(id);
    if (s === undefined) return Promise.resolve('not-found');
    if (this.inflight.has(id)) return Promise.resolve('in-progress');
    if (mode === 'replay' && s.status === 'recovered') return Promise.resolve('already-recovered');
    const handler = this.handlers.get(s.type);
    if (handler === undefined) return Promise.resolve('no-handler');
    const host = {
      book: this.book,
      o: this.o,
      signal: this.abort.signal,
      totals: this.totals,
      emit: this.emit,
    };
    const run = runEntry(host, id, handler, mode)
      .catch((error): RunOutcome => {
        this.storeFailed('retry', error, id);
        return 'failed';
      })
      .finally(() => {
        this.inflight.delete(id);
        this.loop.changed();
      });
    this.inflight.set(id, run);
    return run;
  }

  private storeFailed(operation: string, error: unknown, id?: string): void {
    this.emit(
      id === undefined
        ? { type: 'dead-letter.store-failed', operation, error }
        : { type: 'dead-letter.store-failed', deadLetterId: id, operation, error },
    );
  }

  private readonly emit = (input: QueueEvent): void => {
    if (!this.o.events.active) return;
    this.o.events.emit({
      policy: this.name,
      correlationId: getContext()?.correlationId,
      ...input,
    } as EventInput);
  };

  private assertOpen(): void {
    if (this.closed)
      throw new CancelledError({
        message: 'This dead-letter queue is closed.',
        suggestion: 'Create a new one (createDeadLetterQueue) or a new Bulwark instance.',
      });
  }
}

/**
 * Creates a dead-letter queue on a record store, for plain code (`bulwark.deadLetters` is the same
 * queue, built from config `recovery.deadLetters` on `bulwark.records`).
 * @example
 * const dlq = createDeadLetterQueue({ records: memoryRecords() });
 * dlq.handle('orders.sync', (order) => syncOrder(order));
 * await dlq.start();
 */
export function createDeadLetterQueue(options: DeadLetterQueueOptions): DeadLetterQueue {
  return new DeadLetterQueue(options);
}
