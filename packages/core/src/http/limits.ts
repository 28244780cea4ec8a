/**
 * The HTTP engine's rate limits (the app-wide one at admission, per-route ones in `protect`):
 * which key a request counts against, which requests are skipped, and which RateLimit headers
 * are sent. One class for both, so an app-wide and a route limit behave alike.
 */
import { RateLimitedError } from '../errors/bulwark-error.js';
import {
  type RateLimitDecision,
  type RateLimitHeaderFormat,
  type RateLimitHeaderMode,
  type RateLimitOptions,
  type RateLimitPolicy,
  rateLimit,
  rateLimitFields,
  rateLimitHeaderFormat,
} from '../policies/rate-limit.js';
import type { EventStream } from '../telemetry/events.js';
import {
  type Check,
  either,
  func,
  type Issues,
  isPlainObject,
  numberIn,
  oneOf,
  shape,
  text,
} from '../util/checks.js';
import { clientKey, DEFAULT_IPV6_SUBNET } from './client-key.js';
import { defaultKey, ENGINE_KEY } from './inbound.js';
import type { InboundRequest } from './types.js';

/**
 * What a request counts against: `'ip'` (the client address the adapter passes, honouring the
 * framework's trust-proxy setting; IPv6 grouped by `ipv6Subnet`), `'route'` (the route pattern),
 * `'global'` (one bucket for the whole service), or a function of the request (an API key, a tenant).
 */
export type RateLimitKey = 'ip' | 'route' | 'global' | ((req: InboundRequest) => string);

/** A rate limit of the HTTP engine (`http.rateLimit`, or a route's `rateLimit`). */
export interface HttpRateLimitOptions extends RateLimitOptions {
  /** What a request counts against. Default `'ip'` (one bucket per client, as express-rate-limit and @nestjs/throttler do). */
  key?: RateLimitKey;
  /** The kind of key named in a 429's detail (never the key's value), e.g. `'tenant'`. Default from `key`: `'client IP'`, `'route'`, `'service'`, or `'key'` for a function. */
  keyKind?: string;
  /** Requests for which this returns true are not counted (nor limited). A throw counts the request. */
  skip?: (req: InboundRequest) => boolean;
  /**
   * RateLimit header fields on responses: `'draft-8'`, `'draft-6'` or `false`. Default `'draft-8'`
   * for per-client keys (`'ip'` or a function), `false` for `'route'` and `'global'` (their
   * counts are everyone's traffic, which clients should not see) unless set.
   */
  headers?: RateLimitHeaderMode;
  /** IPv6 prefix length grouped into one client key with `key: 'ip'` (1–128), or `false` for whole addresses. Default 56. */
  ipv6Subnet?: number | false;
}

const KEY_KINDS = ['ip', 'route', 'global'] as const;

/** The fields of an HTTP rate limit, beyond the policy's own. */
export const httpRateLimitFields = {
  ...rateLimitFields,
  key: either((v) => typeof v === 'function', func, oneOf(KEY_KINDS)),
  keyKind: text,
  skip: func,
  headers: either(
    (v) => v === false,
    () => {},
    oneOf(['draft-8', 'draft-6']),
  ),
  ipv6Subnet: either(
    (v) => v === false,
    () => {},
    numberIn(1, 128, 'a prefix length from 1 to 128'),
  ),
  // The name goes in the RateLimit headers as a structured-field string: printable ASCII only.
  name: ((v, p, out) => {
    if (typeof v !== 'string' || !/^[\x20-\x7e]{1,64}$/.test(v))
      out.add(p, 'a name of 1–64 printable ASCII characters (it goes in the RateLimit headers)', v);
  }) as Check,
};

const httpRateLimitShape = shape(httpRateLimitFields, {
  required: ['limit'],
  reserved: { events: 'remove it; set `events` at the top level of the config' },
  aliases: {
    max: 'limit',
    windowMs: 'interval',
    ttl: 'interval',
    keyGenerator: 'key',
    standardHeaders: 'headers',
  },
});

/** Records every problem of an HTTP rate limit's options at `path`. */
export function checkHttpRateLimitOptions(input: unknown, path: string, issues: Issues): void {
  httpRateLimitShape(input, path, issues);
  if (isPlainObject(input) && typeof input.ipv6Subnet === 'number' && !Number.isInteger(input.ipv6Subnet))
    issues.add(`${path}.ipv6Subnet`, 'an integer prefix length', input.ipv6Subnet);
}

/** One of the engine's rate limits, built from validated options. */
export class HttpLimit {
  /** The policy name in headers and events. */
  readonly name: string;
  private readonly keyOf: (req: InboundRequest) => string;
  private readonly kind: string;
  private readonly skip: ((req: InboundRequest) => boolean) | undefined;
  private readonly format: RateLimitHeaderFormat;

  constructor(
    options: HttpRateLimitOptions,
    defaultName: string,
    events: EventStream,
    /** The key used by `'route'` (the engine's route key). */
    routeKeyOf: (req: InboundRequest) => string,
    /** The policy itself (tests and the engine may inject one with a store). */
    readonly policy: RateLimitPolicy = makePolicy(options, defaultName, events),
  ) {
    const { key = 'ip', keyKind, skip, headers, ipv6Subnet = DEFAULT_IPV6_SUBNET } = options;
    this.name = typeof options.name === 'string' ? options.name : 'default';
    this.skip = skip;
    if (typeof key === 'function') this.keyOf = bounded(key, routeKeyOf);
    else if (key === 'route') this.keyOf = routeKeyOf;
    else if (key === 'global') this.keyOf = () => ENGINE_KEY;
    else this.keyOf = (req) => clientKey(req.remoteAddress, ipv6Subnet);
    this.kind =
      keyKind ??
      (typeof key === 'function'
        ? 'key'
        : key === 'ip'
          ? 'client IP'
          : key === 'route'
            ? 'route'
            : 'service');
    const perClient = key === 'ip' || typeof key === 'function';
    this.format = rateLimitHeaderFormat(this.name, headers ?? (perClient ? 'draft-8' : false));
  }

  /** Takes one token for `req`: a decision, a promise of one (a store), or undefined when skipped. */
  take(
    req: InboundRequest,
    correlationId: string,
  ): RateLimitDecision | Promise<RateLimitDecision> | undefined {
    if (this.skip !== undefined) {
      try {
        if (this.skip(req) === true) return undefined;
      } catch {
        // A throwing skip counts the request: failing open here would let errors bypass the limit.
      }
    }
    const key = this.keyOf(req);
    return this.policy.takeSync(key, 1, correlationId) ?? this.policy.take(key, 1, correlationId);
  }

  /** Appends the decision's RateLimit headers (`t` = time until one more request is allowed). */
  headers(into: string[], d: RateLimitDecision): void {
    const t = d.allowed ? d.nextMs / 1000 : retryAfterOf(d) / 1000;
    this.format.write(into, d.limit, d.windowMs, d.remaining, t);
  }

  /** The error a refused decision is answered with: names the kind of key, never its value. */
  refusal(d: RateLimitDecision): RateLimitedError {
    const err = new RateLimitedError({
      message: `Rate limit of ${d.limit} per ${describeWindow(d.windowMs)} exceeded for this ${this.kind}.`,
      policy: this.name,
      retryAfterMs: retryAfterOf(d),
      rateLimit: { limit: d.limit, remaining: d.remaining, resetMs: d.resetMs, windowMs: d.windowMs },
    });
    // The answer's headers, formatted by this limit (its name and header mode), t equal to Retry-After.
    const pairs: string[] = [];
    this.headers(pairs, d);
    (err as { rateLimitHeaders?: readonly string[] }).rateLimitHeaders = pairs;
    return err;
  }

  /** Forgets every bucket. */
  close(): void {
    this.policy.close();
  }
}

/** The RateLimit header pairs a refusal carries (see {@link HttpLimit.refusal}), if any. */
export function refusalHeaders(error: unknown): readonly string[] | undefined {
  const h =
    typeof error === 'object' && error !== null
      ? (error as { rateLimitHeaders?: unknown }).rateLimitHeaders
      : undefined;
  return Array.isArray(h) ? (h as string[]) : undefined;
}

/** Retry-After in ms, rounded up to whole seconds (so `t` on a 429 equals the Retry-After header). */
function retryAfterOf(d: RateLimitDecision): number {
  const ms = d.retryAfterMs ?? d.nextMs;
  return Math.max(1, Math.ceil(ms / 1000)) * 1000;
}

function describeWindow(ms: number): string {
  if (ms % 60_000 === 0) return ms === 60_000 ? 'minute' : `${ms / 60_000} minutes`;
  if (ms % 1000 === 0) return ms === 1000 ? 'second' : `${ms / 1000} seconds`;
  return `${ms} ms`;
}

function makePolicy(options: HttpRateLimitOptions, name: string, events: EventStream): RateLimitPolicy {
  const { key: _k, keyKind: _kk, skip: _s, headers: _h, ipv6Subnet: _i, ...rest } = options;
  return rateLimit({ name, events, ...rest });
}

/**
 * Wraps a user key function: its result is bounded, and a non-string result or a throw falls back to
 * the route key, so a buggy key function still limits (by route) instead of failing every request.
 */
export function bounded(
  fn: (req: InboundRequest) => string,
  fallback: (req: InboundRequest) => string,
): (req: InboundRequest) => string {
  return (req) => {
    let k: unknown;
    try {
      k = fn(req);
    } catch {
      return fallback(req);
    }
    if (typeof k !== 'string') return fallback(req);
    return defaultKey(k);
  };
}
