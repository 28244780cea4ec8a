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
import { getContext } from '../context/context.js';
import { RateLimitedError } from '../errors/bulwark-error.js';
import type { Store } from '../stores/store.js';
import { defaultEvents, type EventStream } from '../telemetry/events.js';
import type { CommonPolicyOptions, ExecuteOptions, Operation, Policy, RateLimitState } from '../types.js';
import { BoundedMap } from '../util/bounded-map.js';
import { type Duration, toMs } from '../util/duration.js';
import { abortReason, NEVER_ABORTED_SIGNAL } from '../util/time.js';

/** Token-bucket rate limit options. */
export interface RateLimitOptions extends CommonPolicyOptions {
  /** Tokens per interval (the bucket's capacity). */
  limit: number;
  /** Refill interval. Default 1s. */
  interval?: Duration;
  /** Buckets kept at most (LRU). Default 10000. */
  maxKeys?: number;
  /** Shares counters with other replicas. */
  store?: Store;
}

/** The outcome of one rate-limit check. */
export interface RateLimitDecision extends RateLimitState {
  /** Whether the call may proceed. */
  allowed: boolean;
  /** When refused: ms until the call would be allowed. */
  retryAfterMs?: number;
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
  private readonly buckets: BoundedMap<string, Bucket>;

  constructor(options: RateLimitOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Expected rate limit \`options\` to be an object; got ${JSON.stringify(options)}.`);
    }
    const { limit, maxKeys = 10_000, name = 'rate-limit', store } = options;
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1) {
      throw new TypeError(`Expected \`limit\` to be a positive integer; got ${JSON.stringify(limit)}.`);
    }
    if (typeof maxKeys !== 'number' || !Number.isInteger(maxKeys) || maxKeys < 1) {
      throw new TypeError(`Expected \`maxKeys\` to be a positive integer; got ${JSON.stringify(maxKeys)}.`);
    }
    if (typeof name !== 'string')
      throw new TypeError(`Expected \`name\` to be a string; got ${JSON.stringify(name)}.`);
    if (
      store !== undefined &&
      (typeof store !== 'object' || store === null || typeof store.increment !== 'function')
    ) {
      throw new TypeError('Expected `store` to be a Store (with an `increment` method).');
    }
    const intervalMs = options.interval === undefined ? 1000 : toMs(options.interval, 'interval');
    if (intervalMs <= 0)
      throw new TypeError(
        `Expected \`interval\` to be greater than 0; got ${JSON.stringify(options.interval)}.`,
      );
    this.name = name;
    this.limit = limit;
    this.intervalMs = intervalMs;
    this.events = options.events ?? defaultEvents;
    this.store = store;
    this.buckets = new BoundedMap(maxKeys);
  }

  async execute<T>(fn: Operation<T>, options: ExecuteOptions = {}): Promise<T> {
    const signal = options.signal;
    if (signal?.aborted) throw abortReason(signal);
    const key = options.key ?? 'default';
    const decision = this.takeSync(key) ?? (await this.take(key));
    if (!decision.allowed) {
      const { limit, remaining, resetMs, windowMs } = decision;
      throw new RateLimitedError({
        message: `Rate limit of ${limit} per ${windowMs} ms exceeded for key "${key}".`,
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
    return this.decide(key, correlationId, {
      allowed,
      limit,
      remaining: Math.floor(b.tokens + EPSILON),
      resetMs: missing <= EPSILON ? 0 : Math.ceil((missing * intervalMs) / limit),
      windowMs: intervalMs,
      retryAfterMs: allowed ? undefined : Math.max(1, Math.ceil(((cost - b.tokens) * intervalMs) / limit)),
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

/** Formats the RateLimit headers of one policy name; validated and built once, then per call only concatenation. */
export interface RateLimitHeaderFormat {
  /** `RateLimit-Policy` value for a limit and window. */
  policy(limit: number, windowMs: number): string;
  /** `RateLimit` value for the remaining quota and the time to a full reset. */
  value(remaining: number, resetMs: number): string;
}

/**
 * A {@link RateLimitHeaderFormat} for `policyName` (RFC 8941 sf-string; a TypeError when not printable ASCII).
 * @example
 * const f = rateLimitHeaderFormat('api');
 * f.value(42, 30_000); // '"api";r=42;t=30'
 */
export function rateLimitHeaderFormat(policyName = 'default'): RateLimitHeaderFormat {
  if (!SF_STRING.test(policyName)) {
    throw new TypeError(`Expected \`policyName\` to be printable ASCII; got ${JSON.stringify(policyName)}.`);
  }
  const id = `"${policyName.replace(/[\\"]/g, '\\$&')}"`;
  const rPrefix = `${id};r=`;
  const qPrefix = `${id};q=`;
  // The policy string rarely changes (same limit and window on every call): keep the last one.
  let lastLimit = Number.NaN;
  let lastWindowMs = Number.NaN;
  let lastPolicy = '';
  return {
    policy(limit, windowMs) {
      if (limit !== lastLimit || windowMs !== lastWindowMs) {
        lastPolicy = `${qPrefix}${limit};w=${Math.max(1, Math.ceil(windowMs / 1000))}`;
        lastLimit = limit;
        lastWindowMs = windowMs;
      }
      return lastPolicy;
    },
    value(remaining, resetMs) {
      return `${rPrefix}${Math.max(0, Math.floor(remaining))};t=${Math.max(0, Math.ceil(resetMs / 1000))}`;
    },
  };
}

/**
 * The IETF RateLimit headers (draft-ietf-httpapi-ratelimit-headers-09+, structured fields).
 * @example
 * rateLimitHeaders({ limit: 100, remaining: 42, resetMs: 30_000, windowMs: 60_000 });
 * // { 'RateLimit-Policy': '"default";q=100;w=60', RateLimit: '"default";r=42;t=30' }
 */
export function rateLimitHeaders(state: RateLimitState, policyName = 'default'): Record<string, string> {
  const f = rateLimitHeaderFormat(policyName);
  return {
    'RateLimit-Policy': f.policy(state.limit, state.windowMs),
    RateLimit: f.value(state.remaining, state.resetMs),
  };
}

/** `Retry-After` delay-seconds for `ms`: rounded up, at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? Math.max(1, Math.ceil(ms / 1000)) : 1;
}
