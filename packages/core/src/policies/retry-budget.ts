/**
 * A retry budget in the style of Finagle's RetryBudget and Envoy's retry_budget: over a sliding
 * window, retries may not exceed `ratio × calls + minPerSecond × windowSeconds`. Counts live in a
 * small ring of time buckets that is rotated lazily from the clock read on each call, so there is
 * no interval timer and nothing to close.
 */

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

function check(name: string, value: number, ok: boolean, expected: string): void {
  if (!ok) throw new TypeError(`Expected \`${name}\` to be ${expected}, got ${String(value)}.`);
}

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
    const { ratio = 0.2, minPerSecond = 10, windowMs = 10_000, buckets = 10 } = options;
    check('budget.ratio', ratio, Number.isFinite(ratio) && ratio >= 0, 'a non-negative number');
    check(
      'budget.minPerSecond',
      minPerSecond,
      Number.isFinite(minPerSecond) && minPerSecond >= 0,
      'a non-negative number',
    );
    check('budget.window', windowMs, Number.isFinite(windowMs) && windowMs > 0, 'a positive duration');
    check(
      'budget.buckets',
      buckets,
      Number.isInteger(buckets) && buckets >= 1 && buckets <= 1000,
      'an integer 1–1000',
    );
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
