/**
 * Circuit breaker options, copied, defaulted and validated once (the caller's object is never
 * touched), and the default failure classifier.
 */
import { isBulwarkError } from '../../errors/bulwark-error.js';
import type { Store } from '../../stores/store.js';
import { defaultEvents, type EventStream } from '../../telemetry/events.js';
import { toMs } from '../../util/duration.js';
import type { CircuitBreakerOptions } from '../options.js';

/** Validated, defaulted circuit breaker settings. */
export interface BreakerConfig {
  readonly name: string;
  readonly events: EventStream;
  readonly errorThresholdPercentage: number;
  readonly windowMs: number;
  readonly buckets: number;
  readonly bucketMs: number;
  readonly volumeThreshold: number;
  readonly resetTimeoutMs: number;
  readonly halfOpenProbes: number;
  readonly isFailure: (error: unknown) => boolean;
  readonly maxKeys: number;
  readonly store: Store | undefined;
}

function int(value: unknown, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    const what = min === 0 ? 'a non-negative integer' : 'a positive integer';
    throw new TypeError(`Expected \`${name}\` to be ${what}; got ${JSON.stringify(value)}.`);
  }
  return value;
}

/** Copies, defaults and validates breaker options; throws a TypeError naming the bad option. */
export function normalizeBreakerOptions(options: CircuitBreakerOptions = {}): BreakerConfig {
  const pct = options.errorThresholdPercentage ?? 50;
  if (typeof pct !== 'number' || !(pct >= 0 && pct <= 100)) {
    throw new TypeError(
      `Expected \`errorThresholdPercentage\` to be a number from 0 to 100; got ${JSON.stringify(pct)}.`,
    );
  }
  const windowMs = toMs(options.window ?? 10_000, 'window');
  const buckets = int(options.buckets, 'buckets', 10, 1);
  const bucketMs = Math.floor(windowMs / buckets);
  if (bucketMs < 1) {
    throw new TypeError(
      `Expected \`window\` / \`buckets\` to be at least 1 ms; got ${windowMs} ms / ${buckets}.`,
    );
  }
  const resetTimeoutMs = toMs(options.resetTimeout ?? 30_000, 'resetTimeout');
  if (resetTimeoutMs > 2_147_483_647) {
    throw new TypeError(
      `Expected \`resetTimeout\` to be at most 2147483647 ms (a timer's limit); got ${resetTimeoutMs}.`,
    );
  }
  if (options.isFailure !== undefined && typeof options.isFailure !== 'function') {
    throw new TypeError(`Expected \`isFailure\` to be a function; got ${typeof options.isFailure}.`);
  }
  return Object.freeze({
    name: options.name ?? 'circuit-breaker',
    events: options.events ?? defaultEvents,
    errorThresholdPercentage: pct,
    windowMs,
    buckets,
    bucketMs,
    volumeThreshold: int(options.volumeThreshold, 'volumeThreshold', 10, 0),
    resetTimeoutMs,
    halfOpenProbes: int(options.halfOpenProbes, 'halfOpenProbes', 1, 1),
    isFailure: options.isFailure ?? defaultIsFailure,
    maxKeys: int(options.maxKeys, 'maxKeys', 1000, 1),
    store: options.store,
  });
}

function httpStatus(error: object): unknown {
  const e = error as { status?: unknown; statusCode?: unknown; response?: { status?: unknown } };
  return e.status ?? e.statusCode ?? e.response?.status;
}

/**
 * Default breaker classifier: every error counts except cancellations (a Bulwark error of category
 * 'cancelled', or an AbortError) and client errors (status/statusCode 4xx other than 408 and 429).
 */
export function defaultIsFailure(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return true;
  if (isBulwarkError(error) && error.category === 'cancelled') return false;
  if ((error as { name?: unknown }).name === 'AbortError') return false;
  const status = httpStatus(error);
  return !(typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429);
}
