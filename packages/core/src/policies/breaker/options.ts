/**
 * The circuit breaker's options: their type, one check that collects every problem (used by the
 * registry for `circuitBreaker` sections) and one resolver that defaults and normalises them
 * (used by `circuitBreaker()`). The caller's object is read, never changed.
 */
import { countsAsFailure } from '../../errors/classify.js';
import type { Store } from '../../stores/store.js';
import { defaultEvents, type EventStream } from '../../telemetry/events.js';
import {
  assertValid,
  type Check,
  commonFields,
  func,
  Issues,
  isPlainObject,
  join,
  nonNegInt,
  numberIn,
  positiveDuration,
  positiveInt,
  shape,
  withMethods,
} from '../../util/checks.js';
import { type Duration, parseDuration } from '../../util/duration.js';

/** Manual breaker override. */
export type BreakerOverride = 'none' | 'force-open' | 'force-closed' | 'disabled' | 'metrics-only';

/**
 * Circuit breaker options. Thresholds combine: the breaker opens when any configured one is
 * crossed. The error-rate threshold is on unless `errorThresholdPercentage: false`, or unless only
 * `failureThreshold` is given (then the breaker counts consecutive failures alone).
 */
export interface CircuitBreakerOptions {
  /** Name in events and errors. Default 'circuit-breaker'. */
  name?: string;
  /** Where events go. Defaults to the process-wide stream. */
  events?: EventStream;
  /** Opens when failures are at least this percentage (0–100) of the window's calls; `false` turns it off. Default 50. */
  errorThresholdPercentage?: number | false;
  /** Rolling window length. Default 10s. */
  window?: Duration;
  /** Buckets in the window (its resolution). Default 10. */
  buckets?: number;
  /** Calls needed in the window before a rate (error or slow) can open the breaker. Default 10. */
  volumeThreshold?: number;
  /** Opens after this many consecutive failures; a success resets the count. Off by default. */
  failureThreshold?: number;
  /** A call slower than this counts as slow (resilience4j's slowCallDurationThreshold). Default 60s once slow calls are tracked. */
  slowCallDuration?: Duration;
  /** Opens when slow calls are at least this percentage (0–100) of the window's calls. Default 100 once `slowCallDuration` is set. */
  slowCallRateThreshold?: number;
  /** Time open before the next call is let through as a half-open probe. Default 30s. */
  resetTimeout?: Duration;
  /** Concurrent probes allowed while half-open. Default 1. */
  halfOpenProbes?: number;
  /** Probe successes needed to close again; one failed probe reopens. Default 1. */
  successThreshold?: number;
  /** Which errors count as failures. Default: every error except cancellations and 4xx other than 408/429. */
  handles?: (error: unknown) => boolean;
  /** @deprecated Use `handles`. */
  isFailure?: (error: unknown) => boolean;
  /** Keyed breakers kept at most; closed ones are evicted before open or half-open ones. Default 1000. */
  maxKeys?: number;
  /** Shares manual overrides with other replicas (publish/subscribe). */
  store?: Store;
}

/** Circuit breaker options after defaults and normalisation (durations in ms). */
export interface ResolvedCircuitBreakerOptions {
  readonly name: string;
  readonly events: EventStream;
  /** Error-rate threshold in percent, or undefined when that threshold is off. */
  readonly errorThresholdPercentage: number | undefined;
  readonly windowMs: number;
  readonly buckets: number;
  readonly bucketMs: number;
  readonly volumeThreshold: number;
  readonly failureThreshold: number | undefined;
  /** Slow-call duration in ms, or undefined when slow calls are not tracked. */
  readonly slowCallDurationMs: number | undefined;
  readonly slowCallRateThreshold: number;
  readonly resetTimeoutMs: number;
  readonly halfOpenProbes: number;
  readonly successThreshold: number;
  readonly handles: (error: unknown) => boolean;
  readonly maxKeys: number;
  readonly store: Store | undefined;
}

/** Probe counters are 16-bit. */
const MAX_PROBES = 65_535;

const percentOrFalse: Check = (v, p, out) => {
  if (v === false) return;
  if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 100))
    out.add(
      p,
      'a percentage from 0 to 100, or false',
      v,
      'use a number from 0 to 100, or false to turn it off',
    );
};

const probes: Check = (v, p, out) => {
  positiveInt(v, p, out);
  if (typeof v === 'number' && Number.isInteger(v) && v > MAX_PROBES)
    out.add(p, `a positive integer of at most ${MAX_PROBES}`, v, 'use a small number, e.g. 1 to 5');
};

/** Checks of the breaker-specific fields (what a registry `circuitBreaker` section may hold). */
export const circuitBreakerFieldChecks: Readonly<Record<string, Check>> = {
  errorThresholdPercentage: percentOrFalse,
  window: positiveDuration,
  buckets: positiveInt,
  volumeThreshold: nonNegInt,
  failureThreshold: positiveInt,
  slowCallDuration: positiveDuration,
  slowCallRateThreshold: numberIn(0, 100, 'a percentage from 0 to 100'),
  resetTimeout: positiveDuration,
  halfOpenProbes: probes,
  successThreshold: probes,
  handles: func,
  isFailure: func,
  maxKeys: positiveInt,
  store: withMethods(
    'a Store (the breaker uses its publish and subscribe)',
    ['publish', 'subscribe'],
    'pass a Store instance from code, e.g. new MemoryStore()',
  ),
};

const optionsShape = shape(
  {
    ...circuitBreakerFieldChecks,
    ...commonFields,
  },
  {
    aliases: {
      timeout: 'resetTimeout',
      threshold: 'errorThresholdPercentage',
      minimumCalls: 'volumeThreshold',
    },
    expected: 'circuit breaker options',
  },
);

/**
 * Collects every problem of circuit breaker options at `path` into `issues` (unknown keys with a
 * "did you mean", types, ranges, durations above the timer maximum, a bucket shorter than 1 ms).
 */
export function checkCircuitBreakerOptions(input: unknown, path: string, issues: Issues): void {
  const before = issues.list.length;
  optionsShape(input, path, issues);
  if (issues.list.length !== before || !isPlainObject(input)) return;
  const windowMs = input.window === undefined ? 10_000 : (parseDuration(input.window) ?? 0);
  const buckets = typeof input.buckets === 'number' ? input.buckets : 10;
  if (Math.floor(windowMs / buckets) < 1) {
    issues.add(
      join(path, 'buckets'),
      `at most the window in ms (${windowMs}), so each bucket lasts at least 1 ms`,
      input.buckets === undefined ? '10 (the default)' : String(input.buckets),
      'use fewer buckets or a longer window',
      true,
    );
  }
  if (input.handles !== undefined && input.isFailure !== undefined) {
    issues.add(
      join(path, 'isFailure'),
      'either `handles` or `isFailure`, not both',
      'both set',
      'keep `handles` (isFailure is its deprecated alias)',
      true,
    );
  }
}

/** Validates, defaults and normalises breaker options; throws one InvalidConfigError listing every issue. */
export function resolveCircuitBreakerOptions(
  input: CircuitBreakerOptions = {},
): ResolvedCircuitBreakerOptions {
  assertValid(checkCircuitBreakerOptions, input, '');
  const o = input;
  const windowMs = parseDuration(o.window ?? 10_000) as number;
  const buckets = o.buckets ?? 10;
  const pct = o.errorThresholdPercentage;
  const rateOn = pct !== false && (pct !== undefined || o.failureThreshold === undefined);
  const slowOn = o.slowCallDuration !== undefined || o.slowCallRateThreshold !== undefined;
  return Object.freeze({
    name: o.name ?? 'circuit-breaker',
    events: o.events ?? defaultEvents,
    errorThresholdPercentage: rateOn ? (typeof pct === 'number' ? pct : 50) : undefined,
    windowMs,
    buckets,
    bucketMs: Math.floor(windowMs / buckets),
    volumeThreshold: o.volumeThreshold ?? 10,
    failureThreshold: o.failureThreshold,
    slowCallDurationMs: slowOn ? (parseDuration(o.slowCallDuration ?? 60_000) as number) : undefined,
    slowCallRateThreshold: o.slowCallRateThreshold ?? 100,
    resetTimeoutMs: parseDuration(o.resetTimeout ?? 30_000) as number,
    halfOpenProbes: o.halfOpenProbes ?? 1,
    successThreshold: o.successThreshold ?? 1,
    handles: o.handles ?? o.isFailure ?? countsAsFailure,
    maxKeys: o.maxKeys ?? 1000,
    store: o.store,
  });
}

/** @deprecated The breaker's default classifier is `countsAsFailure` (errors/classify.ts); use that. */
export const defaultIsFailure: (error: unknown) => boolean = countsAsFailure;
