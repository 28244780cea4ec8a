/**
 * Layering of config sources (code < file < env): a deep merge that never touches its inputs,
 * and a lookup that tells which layer set a dotted path.
 */
import { isPlainObject } from '../util/checks.js';

/**
 * Merges layers, later ones winning. Plain objects merge key by key; anything else (arrays,
 * functions, class instances such as a Store) replaces. `undefined` is skipped, and `true` over an
 * object keeps the object (`circuitBreaker: true` means "on", not "forget the settings").
 * Inputs are never changed; the result shares only leaf values with them.
 */
export function deepMerge<T>(...layers: readonly unknown[]): T {
  let result: unknown;
  for (const layer of layers) result = mergeTwo(result, layer);
  return result as T;
}

function mergeTwo(base: unknown, over: unknown): unknown {
  if (over === undefined) return copy(base);
  if (over === true && isPlainObject(base)) return copy(base);
  if (!isPlainObject(over)) return over;
  const out: Record<string, unknown> = isPlainObject(base) ? (copy(base) as Record<string, unknown>) : {};
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    out[key] = mergeTwo(out[key], value);
  }
  return out;
}

function copy(value: unknown): unknown {
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) out[key] = copy(v);
  return out;
}

/**
 * Finds the keys leading to a dotted issue path such as `policies.payments.v2.retry` in `obj`
 * (keys may contain dots; a trailing `[n]` index is ignored). Undefined when `obj` does not set it.
 */
export function findPath(obj: unknown, path: string): string[] | undefined {
  const clean = path.replace(/\[\d+\]/g, '');
  if (!isPlainObject(obj)) return undefined;
  for (const [key, value] of Object.entries(obj)) {
    if (value === undefined) continue;
    if (clean === key) return [key];
    if (clean.startsWith(`${key}.`)) {
      const rest = findPath(value, clean.slice(key.length + 1));
      if (rest) return [key, ...rest];
    }
  }
  return undefined;
}
