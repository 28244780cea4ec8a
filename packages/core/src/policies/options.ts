/**
 * Option shapes of every policy: the contract shared by the policies, the registry's config
 * validation and the HTTP engine. Durations accept numbers of ms or strings like '250ms'.
 */

import type { Store } from '../stores/store.js';
import type { EventStream } from '../telemetry/events.js';
import type { Duration } from '../util/duration.js';

/** Options shared by every policy. */
export interface CommonPolicyOptions {
  /** Name in events and errors. Defaults to the policy kind. */
  name?: string;
  /** Where events go. Defaults to the process-wide stream. */
  events?: EventStream;
}

/** Backoff shape between retry attempts. */
export type BackoffKind = 'exponential' | 'linear' | 'constant';
/** Jitter applied to each delay. */
export type JitterKind = 'none' | 'full' | 'equal' | 'decorrelated';

/** Retry options. */
export interface RetryOptions extends CommonPolicyOptions {
  /** Total attempts including the first. Default 3. */
  maxAttempts?: number;
  /** Backoff kind, or a function of (attempt, previousDelayMs, error) returning ms. Default 'exponential'. */
  backoff?: BackoffKind | ((attempt: number, previousDelayMs: number, error: unknown) => number);
  /** First delay. Default 100ms. */
  initialDelay?: Duration;
  /** Largest delay. A Retry-After longer than it ends the retries (never retried early). Default 10s. */
  maxDelay?: Duration;
  /** Exponential factor. Default 2. */
  factor?: number;
  /** Jitter. Default 'full'. */
  jitter?: JitterKind;
  /** Decides whether an error is retryable; defaults to the standard classifier. */
  retryOn?: (error: unknown, attempt: number) => boolean;
  /** Honour Retry-After found on the error/response. Default true. */
  honorRetryAfter?: boolean;
  /** Retry budget; `false` disables it. On by default: 20% of recent calls, floor 10 retries/s, window 10s. */
  budget?: false | { ratio?: number; minPerSecond?: number; window?: Duration };
  /**
   * Retry operations explicitly marked `idempotent: false` (e.g. a POST without an Idempotency-Key).
   * Default false. Calls that say nothing about idempotency are retried.
   */
  retryNonIdempotent?: boolean;
}

export type { BreakerOverride, CircuitBreakerOptions } from './breaker/options.js';

/** Timeout options. */
export interface TimeoutOptions extends CommonPolicyOptions {
  /** Time allowed. */
  timeout: Duration;
  /** 'attempt' (inside retry) or 'total' (outside retry); only labels events. Default 'attempt'. */
  kind?: 'attempt' | 'total';
}

/** Bulkhead options. */
export interface BulkheadOptions extends CommonPolicyOptions {
  /** Calls run at once per key. Default 10. */
  maxConcurrent?: number;
  /** Calls waiting per key. Default 0. */
  maxQueue?: number;
  /** Longest wait in the queue. Default 1s. */
  queueTimeout?: Duration;
  /** Keyed bulkheads kept at most (LRU; a busy one is never evicted). Default 1000. */
  maxKeys?: number;
}

/** Fallback options. */
export interface FallbackOptions<T = unknown> extends CommonPolicyOptions {
  /** A function of the error, or a static value. */
  fallback?: ((error: unknown) => T | Promise<T>) | { value: T };
  /** Serve the last good result (stale-if-error) no older than this, for calls that pass `cacheKey` (see ExecuteOptions). */
  staleIfError?: Duration;
  /** Which errors trigger the fallback. Default: all but cancellations. */
  handles?: (error: unknown) => boolean;
  /** Keys of last-good results kept at most. Default 1000. */
  maxKeys?: number;
}

/** Token-bucket rate limit options. */
export interface RateLimitOptions extends CommonPolicyOptions {
  /** Tokens per interval (the bucket's capacity). */
  limit: number;
  /** Refill interval. Default 1s. */
  interval?: Duration;
  /** Buckets kept at most (LRU). Default 10000. */
  maxKeys?: number;
  /** Shares counters with other replicas. */
  store?: Store;
}

/** Result of a rate-limit check, for the RateLimit headers. */
export interface RateLimitState {
  /** Capacity per interval. */
  limit: number;
  /** Tokens left after this call. */
  remaining: number;
  /** Ms until the bucket is full again. */
  resetMs: number;
  /** Interval in ms (for RateLimit-Policy's `w`). */
  windowMs: number;
}
