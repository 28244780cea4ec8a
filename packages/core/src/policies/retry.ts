/**
 * Retry: runs an operation again after retryable failures, with backoff and jitter, honouring
 * Retry-After, a retry budget, the request deadline and idempotency, and stopping at once on abort.
 */
import { getContext } from '../context/context.js';
import { RetryBudgetExhaustedError, RetryExhaustedError } from '../errors/bulwark-error.js';
import { getRetryAfterMs, isPermanent, isRetryable } from '../errors/classify.js';
import { defaultEvents, type EventStream, type RetryGaveUpReason } from '../telemetry/events.js';
import type { CommonPolicyOptions, ExecuteOptions, Operation, Policy } from '../types.js';
import {
  boolean,
  type Check,
  commonFields,
  duration,
  either,
  falseOr,
  func,
  Issues,
  isPlainObject,
  join,
  numberIn,
  oneOf,
  shape,
  throwIfIssues,
} from '../util/checks.js';
import { type Duration, parseDuration } from '../util/duration.js';
import { abortReason, NEVER_ABORTED_SIGNAL, sleep } from '../util/time.js';
import {
  type BackoffConfig,
  type BackoffKind,
  type JitterKind,
  nextDelay,
  type RandomFn,
} from './backoff.js';
import {
  checkRetryBudgetOptions,
  RetryBudget,
  type RetryBudgetConfig,
  resolveRetryBudgetOptions,
} from './retry-budget.js';

/** Decides whether retry acts on an error ("retry retries it"); `attempt` is the attempt that failed. */
export type RetryHandles = (error: unknown, attempt: number) => boolean;

/** Retry options. */
export interface RetryOptions extends CommonPolicyOptions {
  /** Total attempts including the first (a positive integer, or Infinity from code). Default 3. */
  maxAttempts?: number;
  /** Backoff kind, or a function of (attempt, previousDelayMs, error) returning ms. Default 'exponential'. */
  backoff?: BackoffKind | ((attempt: number, previousDelayMs: number, error: unknown) => number);
  /** First delay. Default 100ms. */
  initialDelay?: Duration;
  /** Largest delay. A Retry-After longer than it ends the retries (never retried early). Default 10s. */
  maxDelay?: Duration;
  /** Exponential factor. Default 2. */
  factor?: number;
  /** Jitter; `true` is 'full', `false` is 'none'. Default 'full'. */
  jitter?: JitterKind | boolean;
  /**
   * Which errors retry acts on. Default `isRetryable` (errors/classify.ts): every error except
   * cancellations, client errors (4xx other than 408/429) and errors marked permanent. Cancellation
   * and `markPermanent` always win.
   */
  handles?: RetryHandles;
  /** @deprecated Use `handles`. */
  retryOn?: RetryHandles;
  /** Honour Retry-After found on the error/response. Default true. */
  honorRetryAfter?: boolean;
  /** Retry budget; `false` disables it. On by default: 20% of recent calls, floor 10 retries/s, window 10s. */
  budget?: false | RetryBudgetConfig;
  /**
   * Retry operations explicitly marked `idempotent: false` (e.g. a POST without an Idempotency-Key).
   * Default false. Calls that say nothing about idempotency are retried.
   */
  retryNonIdempotent?: boolean;
}

/** Retry options plus seams that are not part of the declarative config. */
export interface RetryPolicyOptions extends RetryOptions {
  /** Random source for jitter. Default `Math.random`. */
  random?: RandomFn;
  /** A budget shared with other policies; overrides `budget` settings. */
  budgetInstance?: RetryBudget;
}

/** Retry options after {@link resolveRetryOptions}: defaulted, in ms, frozen. */
export interface ResolvedRetryOptions {
  readonly name: string;
  readonly events: EventStream;
  readonly maxAttempts: number;
  readonly backoff: Readonly<BackoffConfig>;
  readonly handles: RetryHandles;
  readonly honorRetryAfter: boolean;
  readonly retryNonIdempotent: boolean;
  readonly random: RandomFn;
  /** The budget to use; undefined when disabled. */
  readonly budget: RetryBudget | undefined;
}

const attempts: Check = (v, p, out) => {
  if (!(v === Number.POSITIVE_INFINITY || (typeof v === 'number' && Number.isInteger(v) && v >= 1)))
    out.add(p, 'a positive integer', v, 'use a whole number of at least 1, e.g. 3');
};

const jitter = either(
  (v) => typeof v === 'boolean',
  boolean,
  oneOf(['none', 'full', 'equal', 'decorrelated']),
);

const retryShape = shape(
  {
    maxAttempts: attempts,
    backoff: either((v) => typeof v === 'function', func, oneOf(['exponential', 'linear', 'constant'])),
    initialDelay: duration(),
    maxDelay: duration(),
    factor: numberIn(1, Number.POSITIVE_INFINITY, 'a number of at least 1'),
    jitter,
    handles: func,
    retryOn: func,
    honorRetryAfter: boolean,
    budget: falseOr(checkRetryBudgetOptions),
    retryNonIdempotent: boolean,
    ...commonFields,
  },
  {
    aliases: {
      attempts: 'maxAttempts',
      retries: 'maxAttempts',
      isRetryable: 'handles',
      shouldRetry: 'handles',
    },
  },
);

/** Checks retry options at `path` (e.g. `policies.api.retry`), collecting every problem in `issues`. */
export function checkRetryOptions(input: unknown, path: string, issues: Issues): void {
  const before = issues.list.length;
  retryShape(input, path, issues);
  if (issues.list.length > before || !isPlainObject(input)) return;
  if (input.handles !== undefined && input.retryOn !== undefined)
    issues.add(
      join(path, 'retryOn'),
      'either `handles` or `retryOn`, not both',
      input.retryOn,
      'keep `handles`; `retryOn` is its deprecated name',
    );
  const initial = parseDuration(input.initialDelay ?? 100) as number;
  const max = parseDuration(input.maxDelay ?? 10_000) as number;
  if (max < initial) {
    issues.add(
      join(path, 'maxDelay'),
      `at least initialDelay (${initial}ms)`,
      input.maxDelay ?? '10s (the default)',
      'raise maxDelay or lower initialDelay',
      input.maxDelay === undefined,
    );
  }
}

/** The jitter kind a `jitter` option means (`true` → 'full', `false` → 'none'). */
export function jitterKind(value: JitterKind | boolean | undefined): JitterKind {
  return value === true || value === undefined ? 'full' : value === false ? 'none' : value;
}

/** Validates and defaults retry options once; throws one InvalidConfigError listing every problem. */
export function resolveRetryOptions(input: RetryPolicyOptions = {}): ResolvedRetryOptions {
  const issues = new Issues();
  if (!isPlainObject(input)) checkRetryOptions(input, 'retry', issues);
  throwIfIssues(issues);
  const { random, budgetInstance, ...options } = input;
  checkRetryOptions(options, 'retry', issues);
  if (random !== undefined) func(random, 'retry.random', issues);
  if (budgetInstance !== undefined && !(budgetInstance instanceof RetryBudget))
    issues.add('retry.budgetInstance', 'a RetryBudget', budgetInstance, 'pass new RetryBudget({ ... })');
  throwIfIssues(issues);
  const o = options;
  let budget: RetryBudget | undefined;
  if (budgetInstance) budget = budgetInstance;
  else if (o.budget !== false)
    budget = new RetryBudget(resolveRetryBudgetOptions(o.budget ?? {}, 'retry.budget'));
  return Object.freeze({
    name: o.name ?? 'retry',
    events: o.events ?? defaultEvents,
    maxAttempts: o.maxAttempts ?? 3,
    backoff: Object.freeze({
      backoff: o.backoff ?? 'exponential',
      initialDelayMs: parseDuration(o.initialDelay ?? 100) as number,
      maxDelayMs: parseDuration(o.maxDelay ?? 10_000) as number,
      factor: o.factor ?? 2,
      jitter: jitterKind(o.jitter),
    }),
    handles: o.handles ?? o.retryOn ?? isRetryable,
    honorRetryAfter: o.honorRetryAfter ?? true,
    retryNonIdempotent: o.retryNonIdempotent ?? false,
    random: random ?? Math.random,
    budget,
  });
}

/**
 * A retry policy. Build it with {@link retry}.
 *
 * Each `execute` counts one call in the budget; after a retryable failure it waits the backoff
 * (or the server's Retry-After, capped at `maxDelay`) and tries again, up to `maxAttempts` in all.
 * It gives up with the last error when the next attempt could not start before the deadline or
 * when the call is not idempotent; it throws a `RetryBudgetExhaustedError` (cause = last error)
 * when the budget refuses a retry, a `RetryExhaustedError` (cause = last error) when attempts run
 * out, and rethrows non-retryable errors unchanged. A call that succeeds after retries emits
 * `retry.succeeded` with the attempts it took; one that gives up emits `retry.gave-up` with the
 * attempts and the reason.
 */
export class RetryPolicy implements Policy {
  /** Name used in events and errors. */
  readonly name: string;
  /** Total attempts, including the first. */
  readonly maxAttempts: number;
  /** The budget, or undefined when disabled. */
  readonly budget: RetryBudget | undefined;
  private readonly backoff: BackoffConfig;
  private readonly retryOn: RetryHandles;
  private readonly honorRetryAfter: boolean;
  private readonly retryNonIdempotent: boolean;
  private readonly events: EventStream;
  private readonly random: RandomFn;

  constructor(options: RetryPolicyOptions = {}) {
    const o = resolveRetryOptions(options);
    this.name = o.name;
    this.maxAttempts = o.maxAttempts;
    this.backoff = o.backoff;
    this.retryOn = o.handles;
    this.honorRetryAfter = o.honorRetryAfter;
    this.retryNonIdempotent = o.retryNonIdempotent;
    this.events = o.events;
    this.random = o.random;
    this.budget = o.budget;
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
        const value = await fn(opSignal, attempt);
        if (attempt > 1 && this.events.active) this.recovered(attempt, options);
        return value;
      } catch (error) {
        // Cancellation and explicit permanence win over any classifier.
        if (signal?.aborted || isPermanent(error) || !this.retryOn(error, attempt)) throw error;
        if (!canRetry) {
          this.gaveUp(attempt, error, options, 'not-idempotent');
          throw error;
        }
        if (attempt >= this.maxAttempts) {
          this.gaveUp(attempt, error, options, 'exhausted');
          throw new RetryExhaustedError(attempt, {
            cause: error,
            policy: this.name,
            message: `${this.name}: all ${attempt} attempts failed`,
          });
        }
        const delay = this.delayFor(attempt, prevDelay, error);
        if (delay === undefined) {
          // The server asked for a longer wait than maxDelay: retrying earlier would ignore it.
          this.gaveUp(attempt, error, options, 'retry-after');
          throw error;
        }
        const deadline = options?.deadline ?? getContext()?.deadline;
        if (deadline !== undefined && Date.now() + delay >= deadline) {
          this.gaveUp(attempt, error, options, 'deadline');
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
          this.gaveUp(attempt, error, options, 'budget');
          throw new RetryBudgetExhaustedError(attempt, {
            cause: error,
            policy: this.name,
            message: `${this.name}: the retry budget refused retry ${attempt} (too many retries compared with recent calls)`,
          });
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

  private gaveUp(
    attempts: number,
    error: unknown,
    options: ExecuteOptions | undefined,
    reason: RetryGaveUpReason,
  ): void {
    if (!this.events.active) return;
    this.events.emit({
      type: 'retry.gave-up',
      policy: this.name,
      key: options?.key,
      correlationId: getContext()?.correlationId,
      attempts,
      reason,
      error,
    });
  }

  /** The call succeeded after retries: "recovered after N attempts". */
  private recovered(attempts: number, options: ExecuteOptions | undefined): void {
    this.events.emit({
      type: 'retry.succeeded',
      policy: this.name,
      key: options?.key,
      correlationId: getContext()?.correlationId,
      attempts,
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
