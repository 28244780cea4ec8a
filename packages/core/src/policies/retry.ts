/**
 * Retry: runs an operation again after retryable failures, with backoff and jitter, honouring
 * Retry-After, a retry budget, the request deadline and idempotency, and stopping at once on abort.
 */
import { getContext } from '../context/context.js';
import { RetryExhaustedError } from '../errors/bulwark-error.js';
import { getRetryAfterMs, isPermanent, isRetryable } from '../errors/classify.js';
import { defaultEvents, type EventStream } from '../telemetry/events.js';
import type { ExecuteOptions, Operation, Policy } from '../types.js';
import { toMs } from '../util/duration.js';
import { abortReason, NEVER_ABORTED_SIGNAL, sleep } from '../util/time.js';
import { type BackoffConfig, nextDelay, type RandomFn } from './backoff.js';
import type { BackoffKind, JitterKind, RetryOptions } from './options.js';
import { RetryBudget } from './retry-budget.js';

/** Retry options plus test seams that are not part of the declarative config. */
export interface RetryPolicyOptions extends RetryOptions {
  /** Random source for jitter. Default `Math.random`. */
  random?: RandomFn;
  /** A budget shared with other policies; overrides `budget` settings. */
  budgetInstance?: RetryBudget;
}

const BACKOFFS: readonly BackoffKind[] = ['exponential', 'linear', 'constant'];
const JITTERS: readonly JitterKind[] = ['none', 'full', 'equal', 'decorrelated'];

function invalid(name: string, value: unknown, expected: string): TypeError {
  const shown =
    typeof value === 'function' ? 'a function' : typeof value === 'string' ? `'${value}'` : String(value);
  return new TypeError(`Expected \`${name}\` to be ${expected}, got ${shown}.`);
}

/**
 * A retry policy. Build it with {@link retry}.
 *
 * Each `execute` counts one call in the budget; after a retryable failure it waits the backoff
 * (or the server's Retry-After, capped at `maxDelay`) and tries again, up to `maxAttempts` in all.
 * It gives up with the last error when the next attempt could not start before the deadline, when
 * the budget is spent, or when the call is not idempotent; it throws a `RetryExhaustedError`
 * (cause = last error) when attempts run out, and rethrows non-retryable errors unchanged.
 */
export class RetryPolicy implements Policy {
  /** Name used in events and errors. */
  readonly name: string;
  /** Total attempts, including the first. */
  readonly maxAttempts: number;
  /** The budget, or undefined when disabled. */
  readonly budget: RetryBudget | undefined;
  private readonly backoff: BackoffConfig;
  private readonly retryOn: (error: unknown, attempt: number) => boolean;
  private readonly honorRetryAfter: boolean;
  private readonly retryNonIdempotent: boolean;
  private readonly events: EventStream;
  private readonly random: RandomFn;

  constructor(options: RetryPolicyOptions = {}) {
    const o = { ...options };
    const maxAttempts = o.maxAttempts ?? 3;
    if (!(maxAttempts === Number.POSITIVE_INFINITY || (Number.isInteger(maxAttempts) && maxAttempts >= 1))) {
      throw invalid('maxAttempts', maxAttempts, 'a positive integer (or Infinity)');
    }
    const backoff = o.backoff ?? 'exponential';
    if (typeof backoff !== 'function' && !BACKOFFS.includes(backoff)) {
      throw invalid('backoff', backoff, `one of ${BACKOFFS.map((b) => `'${b}'`).join(', ')} or a function`);
    }
    const jitter = o.jitter ?? 'full';
    if (!JITTERS.includes(jitter)) {
      throw invalid('jitter', jitter, `one of ${JITTERS.map((j) => `'${j}'`).join(', ')}`);
    }
    const factor = o.factor ?? 2;
    if (!(Number.isFinite(factor) && factor >= 1)) throw invalid('factor', factor, 'a finite number >= 1');
    const initialDelayMs = toMs(o.initialDelay ?? 100, 'initialDelay');
    const maxDelayMs = toMs(o.maxDelay ?? 10_000, 'maxDelay');
    if (maxDelayMs < initialDelayMs) {
      throw invalid('maxDelay', o.maxDelay, `at least initialDelay (${initialDelayMs}ms)`);
    }
    if (o.retryOn !== undefined && typeof o.retryOn !== 'function')
      throw invalid('retryOn', o.retryOn, 'a function');
    if (o.random !== undefined && typeof o.random !== 'function')
      throw invalid('random', o.random, 'a function');

    this.name = o.name ?? 'retry';
    this.maxAttempts = maxAttempts;
    this.backoff = { backoff, initialDelayMs, maxDelayMs, factor, jitter };
    this.retryOn = o.retryOn ?? isRetryable;
    this.honorRetryAfter = o.honorRetryAfter ?? true;
    this.retryNonIdempotent = o.retryNonIdempotent ?? false;
    this.events = o.events ?? defaultEvents;
    this.random = o.random ?? Math.random;
    if (o.budgetInstance) this.budget = o.budgetInstance;
    else if (o.budget === false) this.budget = undefined;
    else if (o.budget === undefined || (typeof o.budget === 'object' && o.budget !== null)) {
      const b = o.budget ?? {};
      this.budget = new RetryBudget({
        ratio: b.ratio,
        minPerSecond: b.minPerSecond,
        windowMs: b.window === undefined ? undefined : toMs(b.window, 'budget.window'),
      });
    } else throw invalid('budget', o.budget, 'false or an object { ratio, minPerSecond, window }');
  }

  /** Runs `fn`, retrying retryable failures; `fn` receives the signal and the 1-based attempt number. */
  async execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const signal = options?.signal;
    const opSignal = signal ?? NEVER_ABORTED_SIGNAL;
    const canRetry = options?.idempotent !== false || this.retryNonIdempotent;
    this.budget?.recordCall();
    let prevDelay = this.backoff.initialDelayMs;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw abortReason(signal);
      try {
        return await fn(opSignal, attempt);
      } catch (error) {
        // Cancellation and explicit permanence win over any classifier.
        if (signal?.aborted || isPermanent(error) || !this.retryOn(error, attempt)) throw error;
        if (!canRetry) {
          this.gaveUp(attempt, error, options);
          throw error;
        }
        if (attempt >= this.maxAttempts) {
          this.gaveUp(attempt, error, options);
          throw new RetryExhaustedError(attempt, {
            cause: error,
            policy: this.name,
            message: `${this.name}: all ${attempt} attempts failed`,
          });
        }
        const delay = this.delayFor(attempt, prevDelay, error);
        if (delay === undefined) {
          // The server asked for a longer wait than maxDelay: retrying earlier would ignore it.
          this.gaveUp(attempt, error, options);
          throw error;
        }
        const deadline = options?.deadline ?? getContext()?.deadline;
        if (deadline !== undefined && Date.now() + delay >= deadline) {
          this.gaveUp(attempt, error, options);
          throw error;
        }
        if (this.budget && !this.budget.tryRetry()) {
          if (this.events.active) {
            this.events.emit({
              type: 'retry.budget-exhausted',
              policy: this.name,
              key: options?.key,
              correlationId: getContext()?.correlationId,
              attempt: attempt + 1,
              error,
            });
          }
          throw error;
        }
        if (this.events.active) {
          this.events.emit({
            type: 'retry.scheduled',
            policy: this.name,
            key: options?.key,
            correlationId: getContext()?.correlationId,
            attempt: attempt + 1,
            delayMs: delay,
            error,
          });
        }
        prevDelay = delay;
        // Rejects at once on abort, so no attempt runs after cancellation.
        await sleep(delay, signal);
      }
    }
  }

  /**
   * Delay before the attempt after `attempt`: Retry-After if honoured and present, else the backoff.
   * Undefined when Retry-After asks for longer than maxDelay (the caller gives up rather than retry early).
   */
  private delayFor(attempt: number, prevDelay: number, error: unknown): number | undefined {
    if (this.honorRetryAfter) {
      const ra = getRetryAfterMs(error);
      if (ra !== undefined) return ra <= this.backoff.maxDelayMs ? ra : undefined;
    }
    return nextDelay(this.backoff, attempt, prevDelay, error, this.random);
  }

  private gaveUp(attempts: number, error: unknown, options: ExecuteOptions | undefined): void {
    if (!this.events.active) return;
    this.events.emit({
      type: 'retry.gave-up',
      policy: this.name,
      key: options?.key,
      correlationId: getContext()?.correlationId,
      attempts,
      error,
    });
  }
}

/**
 * Creates a retry policy.
 * @example
 * const policy = retry({ maxAttempts: 4, initialDelay: '200ms', jitter: 'full' });
 * const res = await policy.execute((signal) => fetch(url, { signal }));
 */
export function retry(options?: RetryPolicyOptions): RetryPolicy {
  return new RetryPolicy(options);
}
