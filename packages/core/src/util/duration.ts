/** A duration: a number of milliseconds, or a string such as `'250ms'`, `'2s'`, `'1.5m'`, `'1h'`. */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h'}` | string;

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

/** Like {@link parseDuration} but throws a TypeError naming `name` when the value is invalid. */
export function toMs(value: Duration, name: string): number {
  const ms = parseDuration(value);
  if (ms === undefined) {
    throw new TypeError(
      `Expected \`${name}\` to be a non-negative number of ms or a duration like '250ms', '2s', '1m'; got ${JSON.stringify(value)}.`,
    );
  }
  return ms;
}
