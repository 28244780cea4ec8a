/**
 * Rate limit per key.
 *
 * Without a store: a token bucket per key (capacity `limit`, refilled at `limit` per `interval`),
 * refilled lazily from timestamps on each call (no timer), in an LRU of `maxKeys` buckets.
 *
 * With a store: a fixed-window counter per key and window (`store.increment`), so replicas share
 * one limit. It is approximate compared with the bucket: up to 2 × limit calls can pass around a
 * window boundary, and refused calls count too. If the store fails, the local bucket decides
 * (fail open to a per-replica limit rather than failing every request).
 */
import { LRUCache } from 'lru-cache';
import { getContext } from '../context/context.js';
import { RateLimitedError } from '../errors/bulwark-error.js';
import type { Store } from '../stores/store.js';
import { defaultEvents, type EventStream } from '../telemetry/events.js';
import type { CommonPolicyOptions, ExecuteOptions, Operation, Policy, RateLimitState } from '../types.js';
import {
  commonFields,
  Issues,
  positiveDuration,
  positiveInt,
  shape,
  store as storeCheck,
  throwIfIssues,
} from '../util/checks.js';
import { type Duration, parseDuration } from '../util/duration.js';
import { abortReason, NEVER_ABORTED_SIGNAL } from '../util/time.js';

/** Token-bucket rate limit options. */
export interface RateLimitOptions extends CommonPolicyOptions {
  /** Tokens per interval (the bucket's capacity). */
  limit: number;
  /** Refill interval. Default 1s. */
  interval?: Duration;
  /** Buckets kept at most (least recently used evicted). Default 10000. */
  maxKeys?: number;
  /** Shares counters with other replicas. */
  store?: Store;
}

/** Rate-limit options after {@link resolveRateLimitOptions}. */
export interface ResolvedRateLimitOptions {
  readonly name: string;
  readonly events: EventStream;
  readonly limit: number;
  readonly intervalMs: number;
  readonly maxKeys: number;
  readonly store: Store | undefined;
}

/** The fields of {@link RateLimitOptions}, for sections that extend them (the HTTP engine's). */
export const rateLimitFields = {
  limit: positiveInt,
  interval: positiveDuration,
  maxKeys: positiveInt,
  store: storeCheck,
  ...commonFields,
};

const rateLimitShape = shape(rateLimitFields, {
  required: ['limit'],
  expected: 'rate-limit options { limit, interval }',
});

/** Records every problem of rate-limit options at `path` (the registry calls this per section). */
export function checkRateLimitOptions(input: unknown, path: string, issues: Issues): void {
  rateLimitShape(input, path, issues);
}

/** Validates and defaults rate-limit options once; throws one InvalidConfigError listing every problem. */
export function resolveRateLimitOptions(input: RateLimitOptions): ResolvedRateLimitOptions {
  const issues = new Issues();
  checkRateLimitOptions(input, 'rateLimit', issues);
  throwIfIssues(issues);
  return Object.freeze({
    name: input.name ?? 'rate-limit',
    events: input.events ?? defaultEvents,
    limit: input.limit,
    intervalMs: input.interval === undefined ? 1000 : (parseDuration(input.interval) as number),
    maxKeys: input.maxKeys ?? 10_000,
    store: input.store,
  });
}

/** The outcome of one rate-limit check. */
export interface RateLimitDecision extends RateLimitState {
  /** Whether the call may proceed. */
  allowed: boolean;
  /** When refused: ms until the call would be allowed. */
  retryAfterMs?: number;
  /**
   * Ms until at least one more call is allowed (the RateLimit header's `t`): with the token
   * bucket 0 while a token is left, else the time to the next token; with a store's fixed window,
   * the time to the window's reset.
   */
  nextMs: number;
}

/** A keyed rate-limit policy. */
export interface RateLimitPolicy extends Policy {
  /** Takes `cost` tokens for `key`; asks the store when one is configured. */
  take(key: string, cost?: number, correlationId?: string): Promise<RateLimitDecision>;
  /** Synchronous `take` for the no-store hot path; returns undefined when a store is configured (use `take`). */
  takeSync(key: string, cost?: number, correlationId?: string): RateLimitDecision | undefined;
  /** Forgets every bucket (the store is the caller's to close). */
  close(): void;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Float slack so that refills like 0.1 + 0.2 still count as the token they add up to. */
const EPSILON = 1e-9;

class RateLimiter implements RateLimitPolicy {
  readonly name: string;
  private readonly limit: number;
  private readonly intervalMs: number;
  private readonly events: EventStream;
  private readonly store: Store | undefined;
  // Bounded: a client rotating keys (IPv6 addresses) evicts the least recently used buckets, O(1).
  private readonly buckets: LRUCache<string, Bucket>;

  constructor(options: RateLimitOptions) {
    const o = resolveRateLimitOptions(options);
    this.name = o.name;
    this.limit = o.limit;
    this.intervalMs = o.intervalMs;
    this.events = o.events;
    this.store = o.store;
    this.buckets = new LRUCache({ max: o.maxKeys });
  }

  async execute<T>(fn: Operation<T>, options: ExecuteOptions = {}): Promise<T> {
    const signal = options.signal;
    if (signal?.aborted) throw abortReason(signal);
    const key = options.key ?? 'default';
    const decision = this.takeSync(key) ?? (await this.take(key));
    if (!decision.allowed) {
      const { limit, remaining, resetMs, windowMs } = decision;
      // Never the key itself: it may be a client address, an API key or a tenant.
      throw new RateLimitedError({
        message: `Rate limit of ${limit} per ${windowMs} ms exceeded for this key.`,
        policy: this.name,
        retryAfterMs: decision.retryAfterMs,
        rateLimit: { limit, remaining, resetMs, windowMs },
      });
    }
    return fn(signal ?? NEVER_ABORTED_SIGNAL, options.attempt ?? 1);
  }

  takeSync(key: string, cost = 1, correlationId?: string): RateLimitDecision | undefined {
    if (this.store !== undefined) return undefined;
    this.checkCost(cost);
    return this.local(key, cost, correlationId);
  }

  async take(key: string, cost = 1, correlationId?: string): Promise<RateLimitDecision> {
    this.checkCost(cost);
    const store = this.store;
    if (store === undefined) return this.local(key, cost, correlationId);
    const now = Date.now();
    const windowStart = now - (now % this.intervalMs);
    let count: number;
    try {
      count = await store.increment(`bulwark:rl:${this.name}:${key}:${windowStart}`, cost, this.intervalMs);
    } catch {
      return this.local(key, cost, correlationId);
    }
    const resetMs = Math.max(0, Math.ceil(windowStart + this.intervalMs - now));
    const allowed = count <= this.limit;
    return this.decide(key, correlationId, {
      allowed,
      limit: this.limit,
      remaining: Math.max(0, this.limit - count),
      resetMs,
      windowMs: this.intervalMs,
      retryAfterMs: allowed ? undefined : Math.max(1, resetMs),
      nextMs: Math.max(allowed ? 0 : 1, resetMs),
    });
  }

  close(): void {
    this.buckets.clear();
  }

  private local(key: string, cost: number, correlationId: string | undefined): RateLimitDecision {
    const now = Date.now();
    const { limit, intervalMs } = this;
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: limit, at: now };
      this.buckets.set(key, b);
    } else {
      const elapsed = now - b.at;
      // A clock that steps back refills nothing but must not stall refills either.
      if (elapsed > 0) b.tokens = Math.min(limit, b.tokens + (elapsed * limit) / intervalMs);
      b.at = now;
    }
    const allowed = b.tokens + EPSILON >= cost;
    if (allowed) b.tokens = Math.max(0, b.tokens - cost);
    const missing = limit - b.tokens;
    // Time to the next whole token: 0 while one is left.
    const nextMs =
      b.tokens + EPSILON >= 1 ? 0 : Math.max(1, Math.ceil(((1 - b.tokens) * intervalMs) / limit));
    return this.decide(key, correlationId, {
      allowed,
      limit,
      remaining: Math.floor(b.tokens + EPSILON),
      resetMs: missing <= EPSILON ? 0 : Math.ceil((missing * intervalMs) / limit),
      windowMs: intervalMs,
      retryAfterMs: allowed ? undefined : Math.max(1, Math.ceil(((cost - b.tokens) * intervalMs) / limit)),
      nextMs,
    });
  }

  private decide(key: string, correlationId: string | undefined, d: RateLimitDecision): RateLimitDecision {
    if (!d.allowed && this.events.active) {
      this.events.emit({
        type: 'rate-limit.rejected',
        limit: d.limit,
        resetMs: d.resetMs,
        policy: this.name,
        key,
        correlationId: correlationId ?? getContext()?.correlationId,
      });
    }
    return d;
  }

  private checkCost(cost: number): void {
    if (typeof cost !== 'number' || !(cost > 0) || cost > this.limit) {
      throw new TypeError(
        `Expected \`cost\` to be a number in (0, ${this.limit}]; got ${JSON.stringify(cost)}.`,
      );
    }
  }
}

/**
 * Creates a keyed token-bucket rate limit (a shared fixed-window counter when given a store).
 * @example
 * const rl = rateLimit({ limit: 100, interval: '1m' });
 * const d = rl.takeSync(clientIp) ?? (await rl.take(clientIp));
 * if (!d.allowed) reply(429, { ...rateLimitHeaders(d), 'Retry-After': String(retryAfterSeconds(d.retryAfterMs ?? 0)) });
 */
export function rateLimit(options: RateLimitOptions): RateLimitPolicy {
  return new RateLimiter(options);
}

// RFC 8941 sf-string: printable ASCII; `"` and `\` are escaped.
const SF_STRING = /^[\x20-\x7e]*$/;

/**
 * Which RateLimit header fields to send: `'draft-8'` (the IETF draft's structured `RateLimit` and
 * `RateLimit-Policy`, draft-ietf-httpapi-ratelimit-headers-08 and later), `'draft-6'` (the older
 * `RateLimit-Limit` / `-Remaining` / `-Reset` plus `RateLimit-Policy`, as express-rate-limit
 * offers), or `false` (none).
 */
export type RateLimitHeaderMode = 'draft-8' | 'draft-6' | false;

/** Formats the RateLimit headers of one policy name; validated and built once, then per call only concatenation. */
export interface RateLimitHeaderFormat {
  /** Appends the header fields as flat name/value pairs; `t` is in seconds (time until one more request is allowed). */
  write(into: string[], limit: number, windowMs: number, remaining: number, t: number): void;
}

/**
 * A {@link RateLimitHeaderFormat} for `policyName` (RFC 8941 sf-string; a TypeError when not printable ASCII).
 * @example
 * const pairs: string[] = [];
 * rateLimitHeaderFormat('api').write(pairs, 100, 60_000, 42, 0);
 * // ['RateLimit-Policy', '"api";q=100;w=60', 'RateLimit', '"api";r=42;t=0']
 */
export function rateLimitHeaderFormat(
  policyName = 'default',
  mode: RateLimitHeaderMode = 'draft-8',
): RateLimitHeaderFormat {
  if (!SF_STRING.test(policyName)) {
    throw new TypeError(`Expected \`policyName\` to be printable ASCII; got ${JSON.stringify(policyName)}.`);
  }
  if (mode === false) return { write() {} };
  const id = `"${policyName.replace(/[\\"]/g, '\\$&')}"`;
  const rPrefix = `${id};r=`;
  const draft8 = mode === 'draft-8';
  const qPrefix = draft8 ? `${id};q=` : '';
  // The policy string rarely changes (same limit and window on every call): keep the last one.
  let lastLimit = Number.NaN;
  let lastWindowMs = Number.NaN;
  let lastPolicy = '';
  let lastLimitText = '';
  return {
    write(into, limit, windowMs, remaining, t) {
      if (limit !== lastLimit || windowMs !== lastWindowMs) {
        lastPolicy = `${qPrefix}${limit};w=${Math.max(1, Math.ceil(windowMs / 1000))}`;
        lastLimitText = String(limit);
        lastLimit = limit;
        lastWindowMs = windowMs;
      }
      const r = Math.max(0, Math.floor(remaining));
      const secs = Math.max(0, Math.ceil(t));
      if (draft8) into.push('RateLimit-Policy', lastPolicy, 'RateLimit', `${rPrefix}${r};t=${secs}`);
      else
        into.push(
          'RateLimit-Policy',
          lastPolicy,
          'RateLimit-Limit',
          lastLimitText,
          'RateLimit-Remaining',
          String(r),
          'RateLimit-Reset',
          String(secs),
        );
    },
  };
}

/**
 * The RateLimit headers of one decision (draft-8 by default); `t` is the time until at least one
 * more request is allowed (`nextMs`, else `resetMs`).
 * @example
 * rateLimitHeaders({ limit: 100, remaining: 42, resetMs: 30_000, windowMs: 60_000, nextMs: 0 });
 * // { 'RateLimit-Policy': '"default";q=100;w=60', RateLimit: '"default";r=42;t=0' }
 */
export function rateLimitHeaders(
  state: RateLimitState & { nextMs?: number },
  policyName = 'default',
  mode: RateLimitHeaderMode = 'draft-8',
): Record<string, string> {
  const pairs: string[] = [];
  rateLimitHeaderFormat(policyName, mode).write(
    pairs,
    state.limit,
    state.windowMs,
    state.remaining,
    (state.nextMs ?? state.resetMs) / 1000,
  );
  const out: Record<string, string> = {};
  for (let i = 0; i < pairs.length; i += 2) out[pairs[i] as string] = pairs[i + 1] as string;
  return out;
}

/** `Retry-After` delay-seconds for `ms`: rounded up, at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? Math.max(1, Math.ceil(ms / 1000)) : 1;
}
