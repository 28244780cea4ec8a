/**
 * Wording of the details Bulwark puts in public problem documents, where the plain wording would
 * echo something secret or client-chosen (a rate-limit key is often an API key).
 */

/** What a rate-limit key is made of, named in the 429 detail instead of the key's value. */
export type RateLimitKeyKind = 'ip' | 'tenant' | 'route' | 'user' | 'api-key' | 'global' | 'custom';

const KIND_WORDS: Readonly<Record<RateLimitKeyKind, string>> = {
  ip: 'this client address',
  tenant: 'this tenant',
  route: 'this route',
  user: 'this user',
  'api-key': 'this API key',
  global: 'the whole service',
  custom: 'this client',
};

/** The facts a 429 detail may state. */
export interface RateLimitedDetail {
  /** Requests allowed per window. */
  limit: number;
  /** Window length in ms. */
  windowMs: number;
  /** What the key is made of; default `custom` ("this client"). Never the key itself. */
  keyKind?: RateLimitKeyKind;
}

function windowText(ms: number): string {
  if (ms >= 1000 && ms % 1000 === 0) {
    const s = ms / 1000;
    if (s % 3600 === 0) return s === 3600 ? 'hour' : `${s / 3600} hours`;
    if (s % 60 === 0) return s === 60 ? 'minute' : `${s / 60} minutes`;
    return s === 1 ? 'second' : `${s} seconds`;
  }
  return `${ms} ms`;
}

/**
 * The detail of a `RATE_LIMITED` problem: the limit and the kind of key, never the key's value
 * (with an API-key limiter that would render the caller's key in every 429).
 * @example
 * rateLimitedDetail({ limit: 10, windowMs: 1000, keyKind: 'tenant' });
 * // 'Rate limit of 10 requests per second exceeded for this tenant.'
 */
export function rateLimitedDetail(d: RateLimitedDetail): string {
  const who = KIND_WORDS[d.keyKind ?? 'custom'] ?? KIND_WORDS.custom;
  const n = d.limit === 1 ? '1 request' : `${d.limit} requests`;
  return `Rate limit of ${n} per ${windowText(d.windowMs)} exceeded for ${who}.`;
}
