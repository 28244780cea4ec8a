/**
 * Structural comparison of two policy configs, for `define()`: plain objects and arrays compare
 * key by key, everything else (functions, stores, class instances) by identity, and durations by
 * their value in ms (`'1s'` equals `1000`).
 */
import { isPlainObject, join } from '../util/checks.js';
import { parseDuration } from '../util/duration.js';

/** A difference found between two configs: where, and the two values. */
export interface ConfigDifference {
  /** Dotted path below the compared objects ('' for the roots). */
  path: string;
  /** The value in the first config. */
  before: unknown;
  /** The value in the second config. */
  after: unknown;
}

function sameLeaf(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  const ms = parseDuration(a);
  return ms !== undefined && typeof a !== typeof b && ms === parseDuration(b);
}

/** The first place where `a` and `b` differ, or undefined when they are structurally equal. */
export function firstDifference(a: unknown, b: unknown, path = ''): ConfigDifference | undefined {
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys) {
      const d = firstDifference(a[key], b[key], join(path, key));
      if (d) return d;
    }
    return undefined;
  }
  return sameLeaf(a, b) ? undefined : { path, before: a, after: b };
}
