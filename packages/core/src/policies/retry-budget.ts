/**
 * A retry budget in the style of Finagle's RetryBudget and Envoy's retry_budget: over a sliding
 * window, retries may not exceed `ratio × calls + minPerSecond × windowSeconds`. Counts live in a
 * small ring of time buckets that is rotated lazily from the clock read on each call, so there is
 * no interval timer and nothing to close.
 */

import { Issues, numberIn, positiveDuration, shape, throwIfIssues } from '../util/checks.js';
import { type Duration, parseDuration } from '../util/duration.js';

/** The retry budget as `retry({ budget })` and config take it. */
export interface RetryBudgetConfig {
  /** Retries allowed per first-attempt call in the window, from 0 to 1. Default 0.2. */
  ratio?: number;
  /** Retries per second always allowed (so a quiet service can still retry). Default 10. */
  minPerSecond?: number;
  /** Window length. Default 10s. */
  window?: Duration;
}

const budgetShape = shape({
  ratio: numberIn(0, 1, 'a ratio from 0 to 1'),
  minPerSecond: numberIn(0, Number.POSITIVE_INFINITY, 'a non-negative number'),
  window: positiveDuration,
});

/** Checks a retry budget config (`{ ratio, minPerSecond, window }`) at `path`, collecting every problem. */
export function checkRetryBudgetOptions(input: unknown, path: string, issues: Issues): void {
  budgetShape(input, path, issues);
}

/** Validates and defaults a budget config into the ms-based {@link RetryBudgetOptions}; throws one InvalidConfigError. */
export function resolveRetryBudgetOptions(
  input: RetryBudgetConfig = {},
  path = 'budget',
): Required<Omit<RetryBudgetOptions, 'buckets'>> {
  const issues = new Issues();
  checkRetryBudgetOptions(input, path, issues);
  throwIfIssues(issues);
  return {
    ratio: input.ratio ?? 0.2,
    minPerSecond: input.minPerSecond ?? 10,
    windowMs: input.window === undefined ? 10_000 : (parseDuration(input.window) as number),
  };
}

/** Retry budget settings, already in ms. */
export interface RetryBudgetOptions {
  /** Retries allowed per first-attempt call in the window. Default 0.2. */
  ratio?: number;
  /** Retries per second always allowed (so a quiet service can still retry). Default 10. */
  minPerSecond?: number;
  /** Window length in ms. Default 10 000. */
  windowMs?: number;
  /** Buckets in the ring. Default 10. */
  buckets?: number;
}

const msShape = shape({
  ratio: numberIn(0, 1, 'a ratio from 0 to 1'),
  minPerSecond: numberIn(0, Number.POSITIVE_INFINITY, 'a non-negative number'),
  windowMs: numberIn(Number.MIN_VALUE, Number.POSITIVE_INFINITY, 'a positive number of ms'),
  buckets: (v, p, out) => {
    if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 1000))
      out.add(p, 'an integer from 1 to 1000', v, 'use a whole number such as 10');
  },
});

/**
 * Counts calls and retries over a sliding window and refuses retries past the budget.
 * @example
 * const budget = new RetryBudget({ ratio: 0.1, minPerSecond: 5 });
 * budget.recordCall();
 * if (!budget.tryRetry()) throw lastError;
 */
export class RetryBudget {
  /** Retries allowed per call. */
  readonly ratio: number;
  /** Retries per second always allowed. */
  readonly minPerSecond: number;
  /** Window length in ms. */
  readonly windowMs: number;
  private readonly bucketMs: number;
  private readonly calls: Float64Array;
  private readonly retries: Float64Array;
  private readonly reserve: number;
  /** Index (in bucket units since the epoch) of the newest bucket. */
  private head = Number.NEGATIVE_INFINITY;
  private totalCalls = 0;
  private totalRetries = 0;

  constructor(options: RetryBudgetOptions = {}) {
    const issues = new Issues();
    msShape(options, 'budget', issues);
    throwIfIssues(issues);
    const { ratio = 0.2, minPerSecond = 10, windowMs = 10_000, buckets = 10 } = options;
    this.ratio = ratio;
    this.minPerSecond = minPerSecond;
    this.windowMs = windowMs;
    this.bucketMs = windowMs / buckets;
    this.calls = new Float64Array(buckets);
    this.retries = new Float64Array(buckets);
    this.reserve = (minPerSecond * windowMs) / 1000;
  }

  /** Counts one call (a first attempt). */
  recordCall(now: number = Date.now()): void {
    const i = this.rotate(now);
    this.calls[i] = (this.calls[i] ?? 0) + 1;
    this.totalCalls++;
  }

  /** Takes one retry from the budget and returns true, or returns false when the budget is spent. */
  tryRetry(now: number = Date.now()): boolean {
    const i = this.rotate(now);
    if (this.totalRetries + 1 > this.ratio * this.totalCalls + this.reserve) return false;
    this.retries[i] = (this.retries[i] ?? 0) + 1;
    this.totalRetries++;
    return true;
  }

  /** Calls and retries counted in the current window. */
  stats(now: number = Date.now()): { calls: number; retries: number; allowed: number } {
    this.rotate(now);
    return {
      calls: this.totalCalls,
      retries: this.totalRetries,
      allowed: Math.max(0, Math.floor(this.ratio * this.totalCalls + this.reserve - this.totalRetries)),
    };
  }

  /** Expires buckets older than the window and returns the slot of the current one. */
  private rotate(now: number): number {
    const n = this.calls.length;
    const idx = Math.floor(now / this.bucketMs);
    if (idx > this.head) {
      // Clear every slot skipped since the last read, at most the whole ring.
      const steps = Math.min(n, idx - this.head);
      for (let k = 1; k <= steps; k++) {
        const slot = (((idx - steps + k) % n) + n) % n;
        this.totalCalls -= this.calls[slot] ?? 0;
        this.totalRetries -= this.retries[slot] ?? 0;
        this.calls[slot] = 0;
        this.retries[slot] = 0;
      }
      this.head = idx;
    }
    // A clock that stepped backwards keeps writing into the newest bucket.
    return ((this.head % n) + n) % n;
  }
}
