import { describe, expect, it } from 'vitest';
import {
  BulkheadFullError,
  BulwarkError,
  CancelledError,
  CircuitOpenError,
  DeadlineExceededError,
  RateLimitedError,
  RetryExhaustedError,
  TimeoutError,
} from './bulwark-error.js';
import {
  classify,
  countsAsFailure,
  getRetryAfterMs,
  isCancellation,
  isPermanent,
  isRetryable,
  markPermanent,
  PermanentError,
  parseRetryAfter,
  statusOf,
} from './classify.js';

function netError(code: string): Error {
  return Object.assign(new Error(`connect ${code}`), { code });
}
function httpError(status: number, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`HTTP ${status}`), { status }, extra);
}

describe('classify / isRetryable', () => {
  it.each([
    'ECONNRESET',
    'ECONNREFUSED',
    'ETIMEDOUT',
    'EAI_AGAIN',
    'EPIPE',
    'UND_ERR_SOCKET',
    'UND_ERR_CONNECT_TIMEOUT',
  ])('Node network error %s is transient and retryable', (code) => {
    expect(classify(netError(code))).toBe('transient');
    expect(isRetryable(netError(code))).toBe(true);
  });

  it('fetch failed is retryable, with or without a network cause', () => {
    const withCause = new TypeError('fetch failed', { cause: netError('ECONNREFUSED') });
    expect(classify(withCause)).toBe('transient');
    expect(isRetryable(withCause)).toBe(true);
    expect(isRetryable(new TypeError('fetch failed', { cause: new Error('bad url') }))).toBe(true);
  });

  it('every other error is retryable by default (issue 8 item 2: a plain Error("HTTP 503"))', () => {
    expect(isRetryable(new Error('HTTP 503'))).toBe(true);
    expect(isRetryable(new TypeError('x is not a function'))).toBe(true);
    expect(isRetryable(netError('ENOENT'))).toBe(true);
    expect(classify(netError('ENOENT'))).toBe('internal');
    expect(isRetryable('a thrown string')).toBe(true);
    expect(isRetryable(undefined)).toBe(true);
  });

  it.each([408, 429, 500, 502, 503, 504, 599])('HTTP %i is retryable', (status) => {
    expect(isRetryable(httpError(status))).toBe(true);
    expect(isRetryable({ statusCode: status })).toBe(true);
    expect(isRetryable({ response: { status } })).toBe(true);
  });

  it.each([400, 401, 403, 404, 409, 422])('HTTP %i is a client error, not retryable', (status) => {
    expect(classify(httpError(status))).toBe('client');
    expect(isRetryable(httpError(status))).toBe(false);
    expect(isRetryable({ response: { status } })).toBe(false);
  });

  it('maps statuses to categories', () => {
    expect(classify(httpError(408))).toBe('timeout');
    expect(classify(httpError(429))).toBe('rate-limited');
    expect(classify(httpError(503))).toBe('transient');
  });

  it('Bulwark TIMEOUT is retryable; breaker, bulkhead, rate limit and deadline are not', () => {
    expect(isRetryable(new TimeoutError())).toBe(true);
    expect(isRetryable(new CircuitOpenError())).toBe(false);
    expect(isRetryable(new BulkheadFullError())).toBe(false);
    expect(isRetryable(new RateLimitedError())).toBe(false);
    expect(isRetryable(new DeadlineExceededError())).toBe(false);
    expect(isRetryable(new CancelledError())).toBe(false);
    expect(isRetryable(new RetryExhaustedError(3))).toBe(false);
    expect(classify(new CircuitOpenError())).toBe('circuit-open');
  });

  it('aborts are cancelled and never retryable', () => {
    const abort = new DOMException('aborted', 'AbortError');
    expect(classify(abort)).toBe('cancelled');
    expect(isRetryable(abort)).toBe(false);
    expect(isRetryable(Object.assign(new Error('x'), { code: 'ABORT_ERR', status: 503 }))).toBe(false);
  });

  it('AbortSignal.timeout reasons are timeouts', () => {
    const e = new DOMException('timed out', 'TimeoutError');
    expect(classify(e)).toBe('timeout');
    expect(isRetryable(e)).toBe(true);
  });

  it('non-objects and plain errors are internal', () => {
    expect(classify('boom')).toBe('internal');
    expect(classify(undefined)).toBe('internal');
    expect(classify(new Error('boom'))).toBe('internal');
  });
});

describe('isCancellation', () => {
  it('is true for aborts and CANCELLED only', () => {
    expect(isCancellation(new DOMException('aborted', 'AbortError'))).toBe(true);
    expect(isCancellation(Object.assign(new Error('x'), { code: 'ABORT_ERR' }))).toBe(true);
    expect(isCancellation(new CancelledError())).toBe(true);
    expect(isCancellation(new DOMException('timed out', 'TimeoutError'))).toBe(false);
    expect(isCancellation(new TimeoutError())).toBe(false);
    expect(isCancellation(new Error('x'))).toBe(false);
    expect(isCancellation('AbortError')).toBe(false);
  });
});

describe('countsAsFailure (breaker default)', () => {
  it.each([
    ['a plain error', new Error('boom')],
    ['a thrown string', 'boom'],
    ['HTTP 500', httpError(500)],
    ['HTTP 503 via statusCode', { statusCode: 503 }],
    ['HTTP 408', httpError(408)],
    ['HTTP 429', { response: { status: 429 } }],
    ['a network error', netError('ECONNRESET')],
    ['an error marked permanent', markPermanent(httpError(503))],
    ['a Bulwark TIMEOUT', new TimeoutError()],
    ['an open circuit further in', new CircuitOpenError()],
    ['a full bulkhead', new BulkheadFullError()],
  ])('%s counts', (_name, error) => {
    expect(countsAsFailure(error)).toBe(true);
  });

  it.each([
    ['an AbortError', new DOMException('aborted', 'AbortError')],
    ['CANCELLED', new CancelledError()],
    ['HTTP 400', httpError(400)],
    ['HTTP 404 via response.status', { response: { status: 404 } }],
    ['HTTP 422 via statusCode', { statusCode: 422 }],
    ['a marked 404', markPermanent(httpError(404))],
  ])('%s does not count', (_name, error) => {
    expect(countsAsFailure(error)).toBe(false);
  });
});

describe('markPermanent', () => {
  it('makes an otherwise retryable error permanent, in place', () => {
    const e = httpError(503);
    expect(markPermanent(e)).toBe(e);
    expect(isPermanent(e)).toBe(true);
    expect(classify(e)).toBe('permanent');
    expect(isRetryable(e)).toBe(false);
    expect(Object.keys(e)).not.toContain('bulwark.permanent');
  });

  it('works on Bulwark errors too, which keep their category', () => {
    const e = markPermanent(new TimeoutError());
    expect(isRetryable(e)).toBe(false);
    expect(classify(e)).toBe('timeout');
  });

  it('wraps non-objects in a PermanentError', () => {
    const e = markPermanent('nope');
    expect(e).toBeInstanceOf(PermanentError);
    expect(e.message).toBe('nope');
    expect(isPermanent(e)).toBe(true);
    expect(isPermanent(new PermanentError('x'))).toBe(true);
    expect(isPermanent(new Error('x'))).toBe(false);
  });
});

describe('statusOf', () => {
  it('reads status, statusCode and response.status, ignoring junk', () => {
    expect(statusOf({ status: 502 })).toBe(502);
    expect(statusOf({ statusCode: 404 })).toBe(404);
    expect(statusOf({ response: { status: 429 } })).toBe(429);
    expect(statusOf({ status: 'bad', statusCode: 503 })).toBe(503);
    expect(statusOf({ status: 42 })).toBeUndefined();
    expect(statusOf(null)).toBeUndefined();
    expect(statusOf(new BulwarkError('TIMEOUT'))).toBe(504);
  });
});

describe('getRetryAfterMs', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('prefers retryAfterMs', () => {
    expect(getRetryAfterMs(new RateLimitedError({ retryAfterMs: 1500 }))).toBe(1500);
    expect(getRetryAfterMs({ retryAfterMs: 10, headers: { 'retry-after': '5' } })).toBe(10);
  });

  it('reads delta seconds from a plain header object, any case', () => {
    expect(getRetryAfterMs({ headers: { 'retry-after': '3' } })).toBe(3000);
    expect(getRetryAfterMs({ headers: { 'Retry-After': '2' } })).toBe(2000);
    expect(getRetryAfterMs({ response: { headers: { 'retry-after': ['4'] } } })).toBe(4000);
  });

  it('reads a Headers instance', () => {
    const headers = new Headers({ 'Retry-After': '7' });
    expect(getRetryAfterMs({ response: { status: 503, headers } })).toBe(7000);
  });

  it('reads an HTTP date relative to now, never negative', () => {
    const date = new Date(now + 5000).toUTCString();
    expect(getRetryAfterMs({ headers: { 'retry-after': date } }, now)).toBe(5000);
    const past = new Date(now - 5000).toUTCString();
    expect(getRetryAfterMs({ headers: { 'retry-after': past } }, now)).toBe(0);
  });

  it('returns undefined for missing or garbage values', () => {
    expect(getRetryAfterMs(new Error('x'))).toBeUndefined();
    expect(getRetryAfterMs({ headers: { 'retry-after': 'soon' } })).toBeUndefined();
    expect(getRetryAfterMs({ retryAfterMs: -1 })).toBeUndefined();
    expect(getRetryAfterMs('x')).toBeUndefined();
    expect(parseRetryAfter('-3')).toBeUndefined();
  });
});
