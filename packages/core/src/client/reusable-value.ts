/**
 * Values that are served more than once (a fallback's static value, a stale-if-error result):
 * a `Response` or `Request` body can be read only once, so each use gets its own clone.
 */

/**
 * A copy of `value` that can be consumed: a clone for a `Response` or `Request` (whose body
 * can be read once), `value` itself otherwise.
 * @example
 * const cached = Response.json({ items: [] });
 * const a = reusableValue(cached); const b = reusableValue(cached); // both readable
 */
export function reusableValue<T>(value: T): T {
  if (value instanceof Response || value instanceof Request) return value.clone() as T;
  return value;
}
