/**
 * The auto-retry loop of the dead-letter queue, the delay between retries, and the checks of
 * `add()`'s input.
 *
 * The loop holds ONE timer, armed for the earliest entry due later, unref'd (a queue waiting to
 * retry never keeps a process alive) and cleared whenever nothing is due or every run slot is
 * taken (a finished run re-arms it). Due entries are run oldest-due first, at most `concurrency`
 * at once; the queue's `inflight` map makes sure an entry never runs twice at the same time.
 */

import { nextDelay } from '../policies/backoff.js';
import { isPlainObject } from '../util/checks.js';
import { MAX_TIMER_MS } from '../util/duration.js';
import { checkType, type EntrySummary } from './dead-letter-entry.js';
import { MAX_DEAD_LETTER_ATTEMPTS, type ResolvedDeadLetterOptions } from './dead-letter-options.js';
import type { AddDeadLetterInput } from './dead-letter-types.js';

/** What the loop needs from its queue. */
export interface LoopHost {
  /** Every entry's summary. */
  readonly summaries: ReadonlyMap<string, EntrySummary>;
  /** True when the entry may run now (a handler exists, it is not running). */
  eligible(id: string, s: EntrySummary): boolean;
  /** Starts one run (synchronously counted by `running()`). */
  run(id: string): void;
  /** Runs in progress. */
  running(): number;
}

function waiting(s: EntrySummary): s is EntrySummary & { nextAttemptAt: number } {
  return (s.status === 'pending' || s.status === 'retrying') && s.nextAttemptAt !== undefined;
}

/** The scheduler of the auto-retry loop (one per queue). */
export class RetryLoop {
  /** True between `start()` and `stop()`. */
  active = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  /** Due ids not started yet for want of a slot, the next to run last. */
  private ready: string[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly host: LoopHost,
  ) {}

  /** Starts the loop: due entries run now, the timer is armed for the next. */
  start(): void {
    this.active = true;
    this.changed();
  }

  /** Stops it: the timer is cleared and nothing new starts. */
  stop(): void {
    this.active = false;
    this.ready = [];
    this.disarm();
  }

  /** An entry was scheduled at `at`: re-arm only when it is due before the armed timer. */
  scheduled(at: number): void {
    if (this.active && (this.timer === undefined || at < this.timerAt)) this.changed();
  }

  /** Something changed (a run finished, a handler came, entries went): run what is due, re-arm. */
  changed(): void {
    if (!this.active) return;
    const now = Date.now();
    this.drain(now);
    let next = Number.POSITIVE_INFINITY;
    if (this.free() > 0) {
      next = this.rescan(now);
      this.drain(now);
    }
    // No slot free: a finished run calls changed() again, so no timer is needed meanwhile.
    if (this.free() <= 0 || next === Number.POSITIVE_INFINITY) {
      this.disarm();
      return;
    }
    if (this.timer !== undefined && this.timerAt === next) return;
    this.disarm();
    const delay = Math.min(Math.max(0, next - now), MAX_TIMER_MS);
    const timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      this.changed();
    }, delay);
    timer.unref?.();
    this.timer = timer;
    this.timerAt = next;
  }

  private free(): number {
    return this.concurrency - this.host.running();
  }

  /** Starts ready entries while slots are free. */
  private drain(now: number): void {
    while (this.free() > 0) {
      const id = this.ready.pop();
      if (id === undefined) return;
      const s = this.host.summaries.get(id);
      if (s !== undefined && waiting(s) && s.nextAttemptAt <= now && this.host.eligible(id, s))
        this.host.run(id);
    }
  }

  /** Refills `ready` with every due entry (oldest due runs first); returns the earliest later due time. */
  private rescan(now: number): number {
    const due: [number, string][] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const [id, s] of this.host.summaries) {
      if (!waiting(s) || !this.host.eligible(id, s)) continue;
      if (s.nextAttemptAt <= now) due.push([s.nextAttemptAt, id]);
      else if (s.nextAttemptAt < next) next = s.nextAttemptAt;
    }
    due.sort((a, b) => b[0] - a[0] || (a[1] < b[1] ? 1 : -1));
    this.ready = due.map((d) => d[1]);
    return next;
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }
}

/**
 * The delay before retry number `retry` (1 = the first): the retry policy's backoff and jitter
 * (policies/backoff.ts), but never shorter than a Retry-After the failure carried (an open
 * breaker's, a 429's), and never longer than a timer can wait.
 */
export function delayBefore(
  o: ResolvedDeadLetterOptions,
  retry: number,
  previousDelayMs: number | undefined,
  error: unknown,
  retryAfterMs: number | undefined,
): number {
  const backoff = nextDelay(o.backoff, retry, previousDelayMs ?? o.backoff.initialDelayMs, error, o.random);
  return Math.min(MAX_TIMER_MS, Math.ceil(Math.max(backoff, retryAfterMs ?? 0)));
}

function jsonLength(value: unknown, what: string): number {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new TypeError(
      `Expected \`${what}\` to be JSON (it is stored as JSON); JSON.stringify failed: ${(e as Error).message}`,
    );
  }
  if (typeof text !== 'string')
    throw new TypeError(`Expected \`${what}\` to be JSON (it is stored as JSON); got ${typeof value}.`);
  return text.length;
}

/** Throws a TypeError naming the field and the fix for input `add()` cannot store. */
export function checkAddInput(input: AddDeadLetterInput, o: ResolvedDeadLetterOptions): void {
  if (!isPlainObject(input))
    throw new TypeError('Expected add() to get an object { type, payload, error, context, maxAttempts }.');
  checkType(input.type, 'add({ type })');
  const size = jsonLength(input.payload ?? null, 'add({ payload })');
  if (size > o.maxPayloadBytes)
    throw new TypeError(
      `The payload of '${input.type}' is ${size} characters of JSON, more than maxPayloadBytes (${o.maxPayloadBytes}); ` +
        'store a reference (an id, a URL) instead, or raise recovery.deadLetters.maxPayloadBytes.',
    );
  if (input.context !== undefined) {
    if (!isPlainObject(input.context))
      throw new TypeError('Expected add({ context }) to be a plain object of JSON values.');
    if (jsonLength(input.context, 'add({ context })') > o.maxPayloadBytes)
      throw new TypeError(
        `The context of '${input.type}' is larger than maxPayloadBytes (${o.maxPayloadBytes}).`,
      );
  }
  const m = input.maxAttempts;
  if (m !== undefined && !(Number.isInteger(m) && m >= 1 && m <= MAX_DEAD_LETTER_ATTEMPTS))
    throw new TypeError(
      `Expected add({ maxAttempts }) to be a whole number from 1 to ${MAX_DEAD_LETTER_ATTEMPTS}; got ${String(m)}.`,
    );
}
