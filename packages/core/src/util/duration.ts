/** A duration unit: milliseconds, seconds, minutes or hours. */
export type DurationUnit = 'ms' | 's' | 'm' | 'h';

/**
 * A duration in code: a number of milliseconds, or a number with a unit such as `'250ms'`, `'2s'`,
 * `'1.5m'`, `'1h'` (so `'2 seconds'` does not compile). Config read from a YAML file or env vars
 * is parsed and validated at run time with the same grammar (spaces around the unit allowed, a
 * bare number is milliseconds).
 */
export type Duration = number | `${number}${DurationUnit}`;

/** The longest delay a Node.js timer can wait (2^31−1 ms, about 24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const RE = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/;

/**
 * Parses a duration to milliseconds, or returns undefined when it is not one.
 * Bare numeric strings are milliseconds (as env vars arrive as strings).
 */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = RE.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * (UNITS[m[2] ?? 'ms'] ?? 1);
}

/**
 * Like {@link parseDuration} but throws a TypeError naming `name` when the value is not a
 * duration or is longer than {@link MAX_TIMER_MS}.
 */
export function toMs(value: unknown, name: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) {
    throw new TypeError(
      `Expected \`${name}\` to be a non-negative number of ms or a duration like '250ms', '2s', '1m'; got ${JSON.stringify(value)}.`,
    );
  }
  if (ms > MAX_TIMER_MS) {
    throw new TypeError(
      `Expected \`${name}\` to be at most ${MAX_TIMER_MS} ms (the timer maximum); got ${JSON.stringify(value)}.`,
    );
  }
  return ms;
}
