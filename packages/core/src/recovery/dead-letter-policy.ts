/**
 * The pipeline layer of a policy's `deadLetter` option: outermost, so it sees only what is left
 * after retries and fallback. A call that still fails is added to the dead-letter queue with the
 * payload the caller handed over (`run(name, fn, { payload })`), and the caller's error carries
 * the entry's id (`error.deadLetterId`, `deadLetterIdOf(error)`).
 *
 * What is queued: every failure, Bulwark's own refusals included (open breaker, full bulkhead or
 * queue, rate limit, spent retry budget: the operation did not run, so running it later is exactly
 * what the queue is for; `refusals: false` leaves them out). Never queued: cancellations (the
 * caller went away or aborted) and a failure an inner `deadLetter` layer already queued.
 */
import { isBulwarkError } from '../errors/bulwark-error.js';
import { isCancellation } from '../errors/classify.js';
import type { ErrorCode } from '../errors/codes.js';
import type { ExecuteOptions, Operation, Policy } from '../types.js';
import { boolean, type Check, either, shape } from '../util/checks.js';
import { NEVER_ABORTED_SIGNAL } from '../util/time.js';
import type { DeadLetterQueue } from './dead-letter.js';
import { attachDeadLetterId, isDeadLettered } from './dead-letter-errors.js';
import { MAX_DEAD_LETTER_ATTEMPTS } from './dead-letter-options.js';

/** A policy's `deadLetter` option: the entry type, or the type with per-policy settings. */
export type DeadLetterPolicyConfig =
  | string
  | {
      /** The entry type (`[A-Za-z0-9._:-]{1,128}`), which picks the handler. */
      type: string;
      /** Retries each entry of this policy gets. Default: the queue's `maxAttempts`. */
      maxAttempts?: number;
      /** Queue Bulwark's own refusals (open breaker, full bulkhead, rate limit, retry budget). Default true. */
      refusals?: boolean;
    };

/** Bulwark's refusals: the operation was not run at all. */
const REFUSALS: ReadonlySet<string> = new Set<ErrorCode>([
  'CIRCUIT_OPEN',
  'BULKHEAD_FULL',
  'QUEUE_TIMEOUT',
  'RATE_LIMITED',
  'RETRY_BUDGET_EXHAUSTED',
]);

const typeCheck: Check = (v, p, out) => {
  if (typeof v !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(v))
    out.add(p, 'a dead-letter type of 1 to 128 characters from [A-Za-z0-9._:-]', v, "e.g. 'orders.sync'");
};

const attemptsCheck: Check = (v, p, out) => {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_DEAD_LETTER_ATTEMPTS))
    out.add(p, `a whole number from 1 to ${MAX_DEAD_LETTER_ATTEMPTS}`, v, 'use e.g. 5');
};

/** Checks a policy's `deadLetter` option (a type, or `{ type, maxAttempts, refusals }`). */
export const checkDeadLetterPolicyConfig: Check = either(
  (v) => typeof v === 'string',
  typeCheck,
  shape(
    { type: typeCheck, maxAttempts: attemptsCheck, refusals: boolean },
    {
      required: ['type'],
      expected: "a dead-letter type such as 'orders.sync', or { type, maxAttempts, refusals }",
    },
  ),
);

/** The outermost layer of a policy with `deadLetter`. */
export class DeadLetterPolicy implements Policy {
  private readonly type: string;
  private readonly maxAttempts: number | undefined;
  private readonly refusals: boolean;

  constructor(
    /** The policy's name (kept in the entry's context). */
    readonly name: string,
    config: DeadLetterPolicyConfig,
    /** The queue, created on the first failure. */
    private readonly queue: () => DeadLetterQueue,
  ) {
    const c = typeof config === 'string' ? { type: config } : config;
    this.type = c.type;
    this.maxAttempts = c.maxAttempts;
    this.refusals = c.refusals ?? true;
  }

  async execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    try {
      return await fn(options?.signal ?? NEVER_ABORTED_SIGNAL, options?.attempt ?? 1);
    } catch (error) {
      if (!this.queues(error, options)) throw error;
      let id: string;
      try {
        id = await this.queue().add({
          type: this.type,
          payload: options?.payload ?? null,
          error,
          // The key only when the caller chose one (a named policy defaults it to its own name).
          context:
            options?.key === undefined || options.key === this.name
              ? { policy: this.name }
              : { policy: this.name, key: options.key },
          ...(this.maxAttempts === undefined ? {} : { maxAttempts: this.maxAttempts }),
        });
      } catch {
        // Not queued (full, store down, payload not JSON): the caller still gets its own error, and
        // the operator the `dead-letter.refused` event the queue emitted.
        throw error;
      }
      attachDeadLetterId(error, id);
      throw error;
    }
  }

  private queues(error: unknown, options: ExecuteOptions | undefined): boolean {
    if (options?.signal?.aborted || isCancellation(error) || isDeadLettered(error)) return false;
    return this.refusals || !(isBulwarkError(error) && REFUSALS.has(error.code));
  }
}
