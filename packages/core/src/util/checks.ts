/**
 * Small hand-written validators shared by every policy's options resolver and the registry's
 * config validation. Each check records problems into an {@link Issues} collector instead of
 * throwing, so one pass reports every problem at once; {@link throwIfIssues} turns them into one
 * {@link InvalidConfigError}.
 *
 * The pattern every policy follows (see policies/retry.ts):
 * - `check<X>Options(input: unknown, path: string, issues: Issues): void` collects every problem;
 * - `resolve<X>Options(input): Resolved<X>Options` runs the check, throws one InvalidConfigError
 *   listing every issue, and returns a frozen, defaulted copy (the caller's object is never touched).
 * The factory calls `resolve…`; the registry calls `check…` per section, so anything that passes
 * `createBulwark` cannot fail later.
 */
import { type ConfigIssue, InvalidConfigError } from '../errors/bulwark-error.js';
import { MAX_TIMER_MS, parseDuration } from './duration.js';

/** Collects config issues. */
export class Issues {
  /** Every issue found so far. */
  readonly list: ConfigIssue[] = [];

  /** Records one issue; `received` is rendered unless `rendered` says it already is. */
  add(path: string, expected: string, received: unknown, fix?: string, rendered = false): void {
    const issue: ConfigIssue = { path, expected, received: rendered ? String(received) : render(received) };
    if (fix !== undefined) issue.fix = fix;
    this.list.push(issue);
  }
}

/** A check of one value at a dotted path. */
export type Check = (value: unknown, path: string, out: Issues) => void;

/** Renders a received value for a message: `-1`, `"abc"`, `a function`, `an array`. */
export function render(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array ${safeJson(value)}`;
  if (typeof value === 'object' && value !== null)
    return isPlainObject(value) ? `an object ${safeJson(value)}` : `a ${value.constructor?.name ?? 'value'}`;
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

function safeJson(value: unknown): string {
  try {
    const s = JSON.stringify(value);
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return '(unprintable)';
  }
}

/** True for `{}`-style objects (not arrays, class instances or null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Joins a dotted path. */
export function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

const fold = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');

/** The closest known key to `key` (case, `_`/`-` and up to two typos forgiven), if any. */
export function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Number.POSITIVE_INFINITY;
  const k = fold(key);
  for (const candidate of known) {
    const d = distance(k, fold(candidate));
    if (d < bestDist) {
      best = candidate;
      bestDist = d;
    }
  }
  const limit = Math.min(2, Math.max(1, Math.floor(k.length / 4)));
  return bestDist <= limit ? best : undefined;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

const DURATION_FIX = "use a number of milliseconds or a string such as '250ms', '2s', '1m' or '1h'";
const MAX_FIX = `use at most ${MAX_TIMER_MS} ms (about 24.8 days), the longest delay a Node.js timer can wait`;

/** A positive integer (≥ 1). */
export const positiveInt: Check = (v, p, out) => {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1))
    out.add(p, 'a positive integer', v, 'use a whole number of at least 1, e.g. 3');
};

/** A non-negative integer (≥ 0). */
export const nonNegInt: Check = (v, p, out) => {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= 0))
    out.add(p, 'a non-negative integer', v, 'use a whole number of at least 0');
};

/** A finite number within `[min, max]`. */
export function numberIn(min: number, max: number, expected: string): Check {
  return (v, p, out) => {
    if (!(typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max))
      out.add(
        p,
        expected,
        v,
        `use a number from ${min} to ${max === Number.POSITIVE_INFINITY ? 'infinity' : max}`,
      );
  };
}

/** A percentage from 0 to 100. */
export const percentage: Check = numberIn(0, 100, 'a percentage from 0 to 100');

/**
 * A duration (ms or `'250ms'`, `'2s'`, `'1m'`, `'1h'`) of at most the timer maximum
 * ({@link MAX_TIMER_MS}, 2^31−1 ms); `positive` rejects zero. The one place durations are checked.
 */
export function duration(positive = false): Check {
  return (v, p, out) => {
    const ms = parseDuration(v);
    if (ms === undefined) out.add(p, 'a duration', v, DURATION_FIX);
    else if (positive && ms <= 0) out.add(p, 'a duration greater than zero', v, DURATION_FIX);
    else if (ms > MAX_TIMER_MS) out.add(p, `a duration of at most ${MAX_TIMER_MS} ms`, v, MAX_FIX);
  };
}

/** A positive duration (the common case: timeouts, windows, intervals). */
export const positiveDuration: Check = duration(true);

/** One of a fixed set of strings. */
export function oneOf(values: readonly string[]): Check {
  const expected = `one of ${values.map((s) => `'${s}'`).join(', ')}`;
  return (v, p, out) => {
    if (typeof v === 'string' && values.includes(v)) return;
    const near = typeof v === 'string' ? closest(v, values) : undefined;
    out.add(p, expected, v, near ? `did you mean '${near}'?` : `use ${expected}`);
  };
}

/** A check that accepts anything (values only code can judge, such as a fallback's static value). */
export const anything: Check = () => {};

/** A boolean. */
export const boolean: Check = (v, p, out) => {
  if (typeof v !== 'boolean') out.add(p, 'true or false', v, 'use true or false');
};

/** A function (only settable from code). */
export const func: Check = (v, p, out) => {
  if (typeof v !== 'function')
    out.add(p, 'a function', v, 'set it from code; YAML and env vars cannot hold functions');
};

/** A non-empty string. */
export const text: Check = (v, p, out) => {
  if (typeof v !== 'string' || v.trim() === '') out.add(p, 'a non-empty string', v);
};

/** An HTTP header name. */
export const headerName: Check = (v, p, out) => {
  if (typeof v !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(v))
    out.add(p, 'an HTTP header name', v, "use letters, digits and '-', e.g. 'x-request-id'");
};

/** The event stream check shared by every policy's `events` option. */
export const eventStream: Check = withMethods(
  'an EventStream',
  ['on', 'onAny', 'emit'],
  'pass an EventStream instance from code',
);

/** A Store check (structural), for breakers and rate limits that share state. */
export const store: Check = withMethods(
  'a Store (get, set, delete, increment, publish, subscribe, close)',
  ['get', 'set', 'delete', 'increment', 'publish', 'subscribe', 'close'],
  'pass a Store instance from code, e.g. new MemoryStore()',
);

/** A RecordStore check (structural), for `createBulwark({ records })`. */
export const recordStore: Check = withMethods(
  'a RecordStore (records, close)',
  ['records', 'close'],
  'pass a RecordStore from code, e.g. memoryRecords() or durableRecords({ path })',
);

/** Fields every policy accepts from code: `name` (in events and errors) and `events`. */
export const commonFields: Readonly<Record<'name' | 'events', Check>> = { name: text, events: eventStream };

/** Picks `first` when `isFirst(value)`, else `second`. */
export function either(isFirst: (v: unknown) => boolean, first: Check, second: Check): Check {
  return (v, p, out) => (isFirst(v) ? first : second)(v, p, out);
}

/** Throws one {@link InvalidConfigError} listing every issue collected, if any. */
export function throwIfIssues(issues: Issues): void {
  if (issues.list.length > 0) throw new InvalidConfigError(issues.list);
}

/** Runs `check` on `input` at `path` and throws one {@link InvalidConfigError} when it found problems. */
export function assertValid(
  check: (input: unknown, path: string, issues: Issues) => void,
  input: unknown,
  path: string,
): void {
  const issues = new Issues();
  check(input, path, issues);
  throwIfIssues(issues);
}

/** An array whose every item passes `item`. */
export function arrayOf(item: Check, expected: string): Check {
  return (v, p, out) => {
    if (!Array.isArray(v)) return out.add(p, expected, v);
    for (const [i, x] of v.entries()) item(x, `${p}[${i}]`, out);
  };
}

/** An object with these methods (a structural check for stores and event streams). */
export function withMethods(expected: string, methods: readonly string[], fix?: string): Check {
  return (v, p, out) => {
    const o = v as Record<string, unknown> | null;
    const ok = typeof o === 'object' && o !== null && methods.every((m) => typeof o[m] === 'function');
    if (!ok) out.add(p, expected, v, fix);
  };
}

/** `false` (the part is off) or a value passing `check`. */
export function falseOr(check: Check): Check {
  return (v, p, out) => {
    if (v !== false) check(v, p, out);
  };
}

/** Options of {@link shape}. */
export interface ShapeOptions {
  /** Keys that must be present. */
  required?: readonly string[];
  /** Keys that are known but not allowed here, with the fix to show. */
  reserved?: Readonly<Record<string, string>>;
  /** Common wrong names mapped to the right key, for the "did you mean" fix. */
  aliases?: Readonly<Record<string, string>>;
  /** What to call the object in messages. Default 'an object'. */
  expected?: string;
}

/** A plain object whose keys are all known; unknown keys are issues with a "did you mean" fix. */
export function shape(fields: Readonly<Record<string, Check>>, options: ShapeOptions = {}): Check {
  const known = Object.keys(fields);
  return (v, p, out) => {
    if (!isPlainObject(v)) return out.add(p, options.expected ?? 'an object', v);
    for (const [key, value] of Object.entries(v)) {
      const at = join(p, key);
      const check = Object.hasOwn(fields, key) ? fields[key] : undefined;
      if (check) {
        if (value !== undefined) check(value, at, out);
      } else if (options.reserved && Object.hasOwn(options.reserved, key)) {
        out.add(at, 'no such key here', `key "${key}"`, options.reserved[key], true);
      } else {
        const near = options.aliases?.[key] ?? closest(key, known);
        const fix = near ? `did you mean '${near}'?` : `remove it; known keys: ${known.join(', ')}`;
        out.add(at, 'a known key', `unknown key "${key}"`, fix, true);
      }
    }
    for (const key of options.required ?? []) {
      if (v[key] === undefined) {
        const at = join(p, key);
        const before = out.list.length;
        fields[key]?.(undefined, at, out);
        const added = out.list[before];
        if (added) added.expected = `${added.expected} (required)`;
        else out.add(at, 'a value (required)', undefined);
      }
    }
  };
}
