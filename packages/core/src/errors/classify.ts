/**
 * Error classification: which category an error falls into, whether it is worth retrying, and how
 * long the server asked us to wait. Works on Bulwark errors, Node network errors, undici/fetch
 * failures and any HTTP client error that carries a status (axios, got, ky, ofetch...).
 */

import { codeInfo } from './app-codes.js';
import { isBulwarkError } from './bulwark-error.js';
import type { ErrorCategory } from './codes.js';

const PERMANENT = Symbol.for('bulwark.permanent');

/** Node / undici error codes of transient network failures. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EAI_AGAIN',
  'EPIPE',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** How deep `cause` chains are followed (fetch wraps the socket error once; be generous but bounded). */
const MAX_CAUSE_DEPTH = 4;

/** An error the caller has declared not worth retrying. */
export class PermanentError extends Error {
  /** Brand read by {@link isPermanent}; survives two copies of the package. */
  readonly [PERMANENT] = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentError';
  }
}

/**
 * Marks `error` as non-retryable and returns it (objects are branded in place; anything else is
 * wrapped in a {@link PermanentError}).
 * @example
 * if (res.status === 409) throw markPermanent(new Error('conflict'));
 */
export function markPermanent<E>(error: E): E extends object ? E : PermanentError {
  if (typeof error === 'object' && error !== null) {
    Object.defineProperty(error, PERMANENT, { value: true, enumerable: false, configurable: true });
    return error as E extends object ? E : PermanentError;
  }
  return new PermanentError(String(error), { cause: error }) as E extends object ? E : PermanentError;
}

/** True when `error` was marked with {@link markPermanent} or is a {@link PermanentError}. */
export function isPermanent(error: unknown): boolean {
  return (
    typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[PERMANENT] === true
  );
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}

function httpStatus(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 100 && v <= 599 ? v : undefined;
}

/** The HTTP status an error carries (`status`, `statusCode` or `response.status`), or undefined. */
export function statusOf(error: unknown): number | undefined {
  const e = asRecord(error);
  if (!e) return undefined;
  return httpStatus(e.status) ?? httpStatus(e.statusCode) ?? httpStatus(asRecord(e.response)?.status);
}

/** The network error code found on `error` or its `cause` chain (e.g. fetch's `TypeError('fetch failed')`). */
function networkCode(error: unknown): string | undefined {
  let e = asRecord(error);
  for (let depth = 0; e && depth <= MAX_CAUSE_DEPTH; depth++) {
    const code = e.code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    e = asRecord(e.cause);
  }
  return undefined;
}

function isAbort(e: Record<string, unknown>): boolean {
  return e.name === 'AbortError' || e.code === 'ABORT_ERR';
}

/** The category of an HTTP status: 408 timeout, 429 rate-limited, 5xx transient, other 4xx client. */
export function categoryOfStatus(status: number): ErrorCategory {
  if (status === 408) return 'timeout';
  if (status === 429) return 'rate-limited';
  if (status >= 500) return 'transient';
  if (status >= 400) return 'client';
  return 'internal';
}

/**
 * The category of any thrown value: Bulwark errors keep their own; other errors marked
 * permanent are `permanent`; cancellations are `cancelled`; network failures `transient`; HTTP
 * statuses map 408 → `timeout`, 429 → `rate-limited`, 5xx → `transient`, other 4xx → `client`;
 * the rest `internal`. The full table is in docs/errors.md ("Classification").
 */
export function classify(error: unknown): ErrorCategory {
  const e = asRecord(error);
  if (!e) return 'internal';
  if (isBulwarkError(error)) return error.category;
  if (isPermanent(e)) return 'permanent';
  if (isAbort(e)) return 'cancelled';
  // AbortSignal.timeout() aborts with a DOMException named TimeoutError.
  if (e.name === 'TimeoutError') return 'timeout';
  if (networkCode(e) !== undefined) return 'transient';
  const status = statusOf(e);
  return status === undefined ? 'internal' : categoryOfStatus(status);
}

/** A cancellation: an AbortError (or `ABORT_ERR`), or Bulwark's `CANCELLED`. */
export function isCancellation(error: unknown): boolean {
  const e = asRecord(error);
  if (!e) return false;
  if (isBulwarkError(error)) return error.category === 'cancelled';
  return isAbort(e);
}

/** A client error the caller must fix: an HTTP status 4xx other than 408 (Request Timeout) and 429 (Too Many Requests). */
function isClientStatus(error: unknown): boolean {
  const status = statusOf(error);
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/**
 * The default of retry's `handles`: true when another attempt may succeed. Every error is
 * retryable (a plain `new Error('HTTP 503')` included, as Polly, resilience4j and cockatiel's
 * `handleAll` do) except: cancellations; client errors (status 4xx other than 408/429); errors
 * marked permanent ({@link markPermanent}, {@link PermanentError}); and Bulwark's own refusals
 * (open circuit, full bulkhead or queue, local rate limit, spent deadline or retry budget,
 * exhausted retries, invalid config, unknown policy). Of Bulwark's codes only `TIMEOUT` and
 * `DOWNSTREAM_ERROR` are retryable.
 * @example
 * retry({ maxAttempts: 3, handles: (e) => isRetryable(e) && !(e instanceof ValidationError) });
 */
export function isRetryable(error: unknown): boolean {
  if (isPermanent(error)) return false;
  if (isBulwarkError(error)) return codeInfo(error.code).retryable;
  if (isCancellation(error)) return false;
  return !isClientStatus(error);
}

/**
 * The default of the circuit breaker's `handles`: true when the error says the dependency is
 * unhealthy. Every error counts except cancellations (the caller went away) and client errors
 * (status 4xx other than 408/429: the request was wrong, the dependency answered). Errors marked
 * permanent and Bulwark's own errors do count.
 * @example
 * circuitBreaker({ handles: (e) => countsAsFailure(e) && !isNotFound(e) });
 */
export function countsAsFailure(error: unknown): boolean {
  return !isCancellation(error) && !isClientStatus(error);
}

function headerValue(headers: unknown): unknown {
  const h = asRecord(headers);
  if (!h) return undefined;
  if (typeof h.get === 'function') {
    // Headers, Map, or any client's header bag with a get().
    try {
      return (h.get as (name: string) => unknown).call(h, 'retry-after') ?? undefined;
    } catch {
      return undefined;
    }
  }
  if ('retry-after' in h) return h['retry-after'];
  for (const k of Object.keys(h)) if (k.toLowerCase() === 'retry-after') return h[k];
  return undefined;
}

/** Parses a Retry-After value (delta seconds or an HTTP date) to ms from `now`. */
export function parseRetryAfter(value: unknown, now: number = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v * 1000 : undefined;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  // An HTTP-date always names its month; this keeps Date.parse from reading '-3' as a year.
  const at = /[a-z]/i.test(s) ? Date.parse(s) : Number.NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The wait the server asked for, in ms: `error.retryAfterMs`, else a `retry-after` header (seconds
 * or HTTP date) on `error.headers` or `error.response.headers` (plain object or Headers).
 */
export function getRetryAfterMs(error: unknown, now: number = Date.now()): number | undefined {
  const e = asRecord(error);
  if (!e) return undefined;
  const ms = e.retryAfterMs;
  if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) return ms;
  return (
    parseRetryAfter(headerValue(e.headers), now) ??
    parseRetryAfter(headerValue(asRecord(e.response)?.headers), now)
  );
}
