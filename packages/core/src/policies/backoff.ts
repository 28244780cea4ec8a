/**
 * Backoff between retry attempts: pure functions of the retry number, the previous delay and an
 * injectable random source, so tests and property checks own every number.
 */

/** Backoff shape between retry attempts. */
export type BackoffKind = 'exponential' | 'linear' | 'constant';
/** Jitter applied to each delay. */
export type JitterKind = 'none' | 'full' | 'equal' | 'decorrelated';

/** A source of uniform numbers in [0, 1), like `Math.random`. */
export type RandomFn = () => number;

/** A user-supplied backoff: (attempt, previousDelayMs, error) → ms. */
export type CustomBackoff = (attempt: number, previousDelayMs: number, error: unknown) => number;

/** Validated backoff settings, in ms. */
export interface BackoffConfig {
  /** Shape of the growth, or a custom function (whose result is used as is, without jitter). */
  backoff: BackoffKind | CustomBackoff;
  /** First delay. */
  initialDelayMs: number;
  /** Largest delay. */
  maxDelayMs: number;
  /** Growth factor for exponential backoff. */
  factor: number;
  /** Jitter applied to built-in kinds. */
  jitter: JitterKind;
}

/** Base delay before jitter for the `retry`-th retry (1-based): exponential, linear or constant. */
export function baseDelay(kind: BackoffKind, retry: number, initialDelayMs: number, factor: number): number {
  switch (kind) {
    case 'exponential':
      return initialDelayMs * factor ** (retry - 1);
    case 'linear':
      return initialDelayMs * retry;
    default:
      return initialDelayMs;
  }
}

/**
 * Applies jitter to `base`: `none` keeps it, `full` draws from [0, base), `equal` from
 * [base/2, base), and `decorrelated` (AWS) from [initial, 3 × previous) regardless of `base`.
 */
export function applyJitter(
  jitter: JitterKind,
  base: number,
  previousDelayMs: number,
  initialDelayMs: number,
  random: RandomFn,
): number {
  switch (jitter) {
    case 'full':
      return random() * base;
    case 'equal':
      return base / 2 + (random() * base) / 2;
    case 'decorrelated': {
      const hi = Math.max(initialDelayMs, previousDelayMs * 3);
      return initialDelayMs + random() * (hi - initialDelayMs);
    }
    default:
      return base;
  }
}

/** Clamps to [0, max]; NaN (a broken custom function) becomes 0. */
function clamp(ms: number, max: number): number {
  return ms > 0 ? Math.min(ms, max) : 0;
}

/**
 * The delay before retry number `retry` (1 = the first retry), always within [0, maxDelayMs].
 * @example
 * nextDelay({ backoff: 'exponential', initialDelayMs: 100, maxDelayMs: 10_000, factor: 2, jitter: 'none' }, 3, 200, err); // 400
 */
export function nextDelay(
  config: BackoffConfig,
  retry: number,
  previousDelayMs: number,
  error: unknown,
  random: RandomFn = Math.random,
): number {
  const { backoff, initialDelayMs, maxDelayMs } = config;
  if (typeof backoff === 'function') return clamp(backoff(retry, previousDelayMs, error), maxDelayMs);
  // Cap before jitter so full jitter spreads over [0, max) once the curve is past the cap.
  const base = clamp(baseDelay(backoff, retry, initialDelayMs, config.factor), maxDelayMs);
  return clamp(applyJitter(config.jitter, base, previousDelayMs, initialDelayMs, random), maxDelayMs);
}
