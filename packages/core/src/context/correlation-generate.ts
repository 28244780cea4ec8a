/**
 * Validation of a user's correlation ID generator (`http.correlation.generate`): checked once at
 * start-up, and every ID it makes checked again, so a bad generator never reaches a header or a log.
 */
import {
  acceptCorrelationId,
  type CorrelationIdGenerator,
  MAX_CORRELATION_ID_LENGTH,
  newCorrelationId,
} from './correlation.js';

/** Shows a value in an error message, bounded. */
function shown(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  let s: string;
  try {
    s = JSON.stringify(value) ?? String(value);
  } catch {
    s = String(value);
  }
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

/**
 * Validates a correlation ID generator once, calling it for a first ID (throws a TypeError naming
 * `key` when it is not a function or that ID breaks the rules of {@link acceptCorrelationId}), and
 * returns a generator whose every ID is validated too: an ID that breaks the rules, or a throw,
 * gives a random UUID instead, so a bad generator never puts an unsafe value in a header or a log.
 * `undefined` gives {@link newCorrelationId}.
 * @example
 * const generate = checkedCorrelationGenerator(() => `orders-${randomUUID()}`, 'http.correlation.generate');
 */
export function checkedCorrelationGenerator(generate: unknown, key: string): CorrelationIdGenerator {
  if (generate === undefined) return newCorrelationId;
  const expected = `a function returning a correlation ID (1–${MAX_CORRELATION_ID_LENGTH} characters of A-Za-z0-9-_.:/+=@)`;
  if (typeof generate !== 'function') {
    throw new TypeError(
      `Expected \`${key}\` to be ${expected}; got ${shown(generate)}. Fix: pass () => string.`,
    );
  }
  let first: unknown;
  try {
    first = generate();
  } catch (e) {
    throw new TypeError(
      `Expected \`${key}\` to be ${expected}; calling it threw ${shown(e instanceof Error ? e.message : e)}.`,
    );
  }
  if (acceptCorrelationId(first) === undefined) {
    throw new TypeError(
      `Expected \`${key}\` to be ${expected}; it returned ${shown(first)}. Fix: return only those characters, at most ${MAX_CORRELATION_ID_LENGTH} of them.`,
    );
  }
  const fn = generate as () => unknown;
  return () => {
    try {
      return acceptCorrelationId(fn()) ?? newCorrelationId();
    } catch {
      return newCorrelationId();
    }
  };
}
