/**
 * The declarative Bulwark configuration: named policies, the HTTP engine's serializable options,
 * a shared store and an event stream. Read from code, a YAML file and `BULWARK_…` env vars.
 */

import type { LifecycleOptions } from '../health/lifecycle-options.js';
import type { HealthConfig } from '../health/options.js';
import type { HttpEngineOptions } from '../http/types.js';
import type { CircuitBreakerOptions } from '../policies/breaker/options.js';
import type { BulkheadOptions } from '../policies/bulkhead.js';
import type { ChaosOptions } from '../policies/chaos.js';
import type { FallbackConfig } from '../policies/fallback.js';
import type { RateLimitOptions } from '../policies/rate-limit.js';
import type { RetryOptions } from '../policies/retry.js';
import type { DeadLetterOptions } from '../recovery/dead-letter-options.js';
import type { DeadLetterPolicyConfig } from '../recovery/dead-letter-policy.js';
import type { CompensationsOptions, SagaOptions } from '../recovery/saga-options.js';
import type { RecordStore } from '../stores/records.js';
import type { Store } from '../stores/store.js';
import type { EventStream } from '../telemetry/events.js';
import type { Duration } from '../util/duration.js';

export type { FallbackConfig } from '../policies/fallback.js';

/** Options of one policy section; `name` and `events` are set by the registry. */
type Section<T> = Omit<T, 'name' | 'events'>;

/**
 * One named pipeline. Every part is optional; `false` leaves a part out (handy to switch one off
 * from an env var). Parts compose, outermost first, as
 * deadLetter → fallback → rateLimit → timeout (total) → retry → circuitBreaker → attemptTimeout →
 * bulkhead → chaos → the call.
 */
export interface PolicyConfig {
  /**
   * Dead-letter type (or `{ type, maxAttempts, refusals }`): a call that still fails after every
   * other part (retries, fallback) is added to `bulwark.deadLetters` with the `payload` the caller
   * passed to `run(name, fn, { payload })`, and its error carries `deadLetterId`. Outermost.
   */
  deadLetter?: DeadLetterPolicyConfig | false;
  /** Answer used when everything inside fails. */
  fallback?: FallbackConfig | false;
  /** Rate limit; outermost but one, so a rejected call uses no retries and can still fall back. */
  rateLimit?: Section<RateLimitOptions> | false;
  /** Total timeout around every attempt and backoff (outside retry). */
  timeout?: Duration | false;
  /** Retry of failed attempts. */
  retry?: Section<RetryOptions> | false;
  /** Circuit breaker; `true` enables it with defaults. */
  circuitBreaker?: Section<CircuitBreakerOptions> | boolean;
  /** Timeout of each attempt (inside retry and the breaker, so a slow attempt counts as a failure). */
  attemptTimeout?: Duration | false;
  /** Concurrency limit around the call itself. */
  bulkhead?: Section<BulkheadOptions> | false;
  /**
   * Fault injection right around the call (innermost, so the other parts meet its faults as the
   * dependency's own): latency, errors, aborts by rate and key; switchable with `bulwark.chaos`.
   * Refused while `NODE_ENV=production` unless `allowInProduction: true`.
   */
  chaos?: Section<ChaosOptions> | false;
  /**
   * `fetch(name)` relays the downstream's own problem document (detail, suggestion) to this
   * service's clients. Default false: a downstream is a trust boundary, and its problem reaches
   * public clients only as code, status and correlation ID. Set it for services you operate.
   */
  trustDownstreamProblems?: boolean;
}

/** The serializable part of the HTTP engine's options. */
export type HttpConfig = Omit<
  HttpEngineOptions,
  'resolvePolicy' | 'definePolicy' | 'events' | 'drainGate' | 'healthLink'
> & {
  /** Header carrying the caller's criticality. Default `bulwark-criticality`. */
  criticalityHeader?: string;
  /** Write the trace context (`traceparent`) on responses. Default false. */
  traceResponse?: boolean;
};

/** The whole Bulwark configuration. */
export interface BulwarkConfig {
  /**
   * Settings every policy inherits, deep-merged under each one (a policy's own value wins; `false`
   * switches an inherited part off). Parts set here are on for every policy, e.g.
   * `defaults: { circuitBreaker: { failureThreshold: 5 } }` gives every policy that breaker.
   */
  defaults?: PolicyConfig;
  /** Named pipelines, run with `bulwark.run(name, fn)`. */
  policies?: Record<string, PolicyConfig>;
  /**
   * Let `BULWARK_POLICIES__<NAME>__…` env variables create policies that neither code nor the
   * config file declares. Default false: such a variable is a start-up error with a did-you-mean,
   * so a typo in a policy name cannot silently create a new policy.
   */
  allowEnvOnlyPolicies?: boolean;
  /** Options of the inbound HTTP engine used by the framework adapters. */
  http?: HttpConfig;
  /** Defaults of the health registry's dependencies (`bulwark.health`): check timeout, interval, history. */
  health?: HealthConfig;
  /** Graceful shutdown: signals, the delay before refusing new requests, the drain timeout (`bulwark.lifecycle`). */
  lifecycle?: LifecycleOptions;
  /** Recovery building blocks: the dead-letter queue (`bulwark.deadLetters`), ... */
  recovery?: RecoveryConfig;
  /** Shared state; defaults to an in-memory store. When given, breakers and rate limits share it. */
  store?: Store;
  /**
   * Where durable records live (dead letters, saga logs, checkpoints, idempotency records).
   * Default: `durableRecords()` (`.bulwark/bulwark.db` under the working directory), opened the
   * first time something uses `bulwark.records`; tests pass `memoryRecords()`.
   */
  records?: RecordStore;
  /** Event stream every policy reports to; defaults to a new stream. */
  events?: EventStream;
}

/** The `recovery` section. */
export interface RecoveryConfig {
  /** Options of `bulwark.deadLetters` (stored on `bulwark.records`). */
  deadLetters?: DeadLetterOptions;
  /** Defaults of every `bulwark.saga()` (its own options win): undo retry, log retention, dead-letter type. */
  sagas?: Pick<SagaOptions, 'retry' | 'retention' | 'deadLetterType'>;
  /** Options of `bulwark.compensations`: undo retry, bounds, dead-letter type. */
  compensations?: Pick<
    CompensationsOptions,
    'retry' | 'maxOperations' | 'maxPerOperation' | 'deadLetterType'
  >;
}

/** The parts of a policy in composition order, outermost first. */
export const POLICY_PARTS = [
  'deadLetter',
  'fallback',
  'rateLimit',
  'timeout',
  'retry',
  'circuitBreaker',
  'attemptTimeout',
  'bulkhead',
  'chaos',
] as const satisfies readonly (keyof PolicyConfig)[];

/** The value a fallback config answers with: a function's (awaited) result or a static `value`. */
export type FallbackConfigValue<F> = F extends false | undefined
  ? never
  : F extends (error: never) => infer V
    ? Awaited<V>
    : F extends { value: infer V }
      ? V
      : F extends { fallback: infer G }
        ? FallbackConfigValue<G>
        : never;

type OwnFallback<P> = P extends { fallback: infer F } ? FallbackConfigValue<F> : never;
type InheritedFallback<P, D> = P extends { fallback: unknown } ? never : OwnFallback<D>;

/**
 * What `run(name)` may answer with besides the operation's result, when the config's type (as
 * written in code) says: the named policy's fallback value, or the one it inherits from
 * `defaults`. `never` for a policy without a fallback and for configs whose names are not known
 * at compile time (a `BulwarkConfig`, a file, env vars).
 */
export type FallbackValue<C, N> = C extends { policies: infer P }
  ? string extends keyof P
    ? never
    : N extends keyof P
      ? OwnFallback<P[N]> | InheritedFallback<P[N], C extends { defaults: infer D } ? D : never>
      : never
  : never;
