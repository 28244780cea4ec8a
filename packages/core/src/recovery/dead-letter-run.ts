/**
 * One retry of one dead letter: mark it `in-progress` durably, run its handler inside the entry's
 * correlation ID and trace, then record the outcome (recovered, rescheduled with backoff, or
 * failed) durably. The queue guarantees one run per entry at a time.
 */
import { runWithCorrelation } from '../context/job.js';
import { newSpanId } from '../context/trace.js';
import { getRetryAfterMs } from '../errors/classify.js';
import type { EventInput } from '../telemetry/events.js';
import { type EntryBook, recordAttempt } from './dead-letter-book.js';
import { describeError, isPermanentFailure } from './dead-letter-entry.js';
import { delayBefore } from './dead-letter-loop.js';
import type { ResolvedDeadLetterOptions } from './dead-letter-options.js';
import type {
  DeadLetterAttempt,
  DeadLetterEntry,
  DeadLetterHandler,
  ReplayReport,
} from './dead-letter-types.js';

/** How a run ended, or why it did not start. */
export type RunOutcome = 'recovered' | 'failed' | 'interrupted' | ReplayReport['skipped'][number]['reason'];

/** The queue's counters since it was opened. */
export interface Totals {
  failed: number;
  retried: number;
  recovered: number;
  exhausted: number;
  refused: number;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An event as the queue emits it (it adds `policy` and `correlationId`). */
export type QueueEvent = DistributiveOmit<EventInput, 'policy'>;

/** What a run needs from its queue. */
export interface RunHost {
  readonly book: EntryBook;
  readonly o: ResolvedDeadLetterOptions;
  /** Aborted when the queue closes. */
  readonly signal: AbortSignal;
  readonly totals: Totals;
  emit(event: QueueEvent): void;
}

/** Sets the next retry of `entry` after a failure with `error`, by the queue's backoff. */
export function scheduleNext(
  o: ResolvedDeadLetterOptions,
  entry: DeadLetterEntry,
  error: unknown,
  now: number,
): void {
  const delay = delayBefore(o, entry.attempts + 1, entry.lastDelayMs, error, getRetryAfterMs(error, now));
  entry.nextAttemptAt = now + delay;
  entry.lastDelayMs = delay;
}

function ref(e: DeadLetterEntry): { deadLetterId: string; deadLetterType: string } {
  return { deadLetterId: e.id, deadLetterType: e.type };
}

/** Runs the handler of one entry once. `replay`: a `failed` entry that fails again stays `failed`. */
export async function runEntry(
  h: RunHost,
  id: string,
  handler: DeadLetterHandler,
  mode: 'auto' | 'replay',
): Promise<RunOutcome> {
  const entry = await h.book.read(id);
  if (entry === undefined || !h.book.index.has(id)) return 'not-found';
  const previous = entry.status;
  const attempt = entry.attempts + 1;
  const at = Date.now();
  entry.status = 'in-progress';
  entry.updatedAt = at;
  // Durable before the handler runs: a crash from here on is an interrupted retry after a restart.
  await h.book.save(entry);
  const started = performance.now();
  let failure: unknown;
  let ok = false;
  try {
    await invoke(handler, entry, attempt, h.signal);
    ok = true;
  } catch (error) {
    failure = error;
  }
  const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
  const now = Date.now();
  entry.updatedAt = now;
  const limit = h.o.historyLimit;
  if (!ok && h.signal.aborted) {
    // The queue closed under it: not the operation's failure, so not counted; it runs again later.
    entry.status = previous;
    recordAttempt(entry, { at, durationMs, outcome: 'interrupted' }, limit);
    await h.book.save(entry);
    return 'interrupted';
  }
  h.totals.retried++;
  entry.attempts = attempt;
  if (ok) return recovered(h, entry, { at, durationMs, outcome: 'recovered' });
  const d = describeError(failure);
  entry.lastError = d;
  recordAttempt(entry, { at, durationMs, outcome: 'failed', code: d.code, message: d.message }, limit);
  const exhausted =
    isPermanentFailure(d) || attempt >= entry.maxAttempts || (mode === 'replay' && previous === 'failed');
  if (exhausted) {
    entry.status = 'failed';
    entry.settledAt = now;
    delete entry.nextAttemptAt;
    h.totals.exhausted++;
  } else {
    entry.status = 'retrying';
    scheduleNext(h.o, entry, failure, now);
  }
  await h.book.save(entry);
  if (exhausted) h.emit({ type: 'dead-letter.exhausted', ...ref(entry), attempts: attempt, error: failure });
  else
    h.emit({
      type: 'dead-letter.retried',
      ...ref(entry),
      attempt,
      nextAttemptAt: entry.nextAttemptAt as number,
      error: failure,
    });
  return 'failed';
}

async function recovered(
  h: RunHost,
  entry: DeadLetterEntry,
  attempt: DeadLetterAttempt,
): Promise<RunOutcome> {
  entry.status = 'recovered';
  entry.settledAt = entry.updatedAt;
  delete entry.nextAttemptAt;
  recordAttempt(entry, attempt, h.o.historyLimit);
  h.totals.recovered++;
  if (h.o.removeRecovered) await h.book.remove(entry.id);
  else await h.book.save(entry);
  h.emit({ type: 'dead-letter.recovered', ...ref(entry), attempts: entry.attempts });
  return 'recovered';
}

/**
 * Runs the handler inside the entry's correlation ID and trace (a new span of the failed
 * request's trace), with the queue's signal; the handler gets a copy, so what it changes is not stored.
 */
function invoke(
  handler: DeadLetterHandler,
  entry: DeadLetterEntry,
  attempt: number,
  signal: AbortSignal,
): Promise<unknown> {
  const copy = structuredClone(entry);
  const traceparent = entry.traceId ? `00-${entry.traceId}-${newSpanId()}-01` : undefined;
  return runWithCorrelation(
    entry.correlationId,
    async () => handler(copy.payload, { entry: copy, signal, attempt }),
    traceparent ? { traceparent } : undefined,
  );
}
