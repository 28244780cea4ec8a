/**
 * The one interface every policy implements, the context passed inward through a pipeline, and the
 * few plain shapes the lowest rooms (errors, telemetry) share with the policies.
 */
import type { EventStream } from './telemetry/events.js';

/** The user's operation: receives the signal to honour and the 1-based attempt number. */
export type Operation<T> = (signal: AbortSignal, attempt: number) => Promise<T> | T;

/** Per-call options handed to `execute`; a pipeline passes them inward, each layer may narrow them. */
export interface ExecuteOptions {
  /** Outer cancellation (client disconnect, caller abort). */
  signal?: AbortSignal;
  /** Key for keyed policies (bulkhead, breaker, rate limit): route, tenant, host... */
  key?: string;
  /** Who is calling (a tenant, a client), for a bulkhead's per-caller share. Default: the request context's `caller`. */
  caller?: string;
  /** Absolute deadline (epoch ms). Defaults to the request context's deadline, if any. */
  deadline?: number;
  /** Attempt number, set by retry for the layers inside it. */
  attempt?: number;
  /** Whether the operation is safe to repeat (retry refuses non-idempotent calls unless true). */
  idempotent?: boolean;
  /**
   * Identifies this call's result for stale-if-error: only calls that pass one are remembered, and
   * only a call with the same `cacheKey` may be answered with that result. Never derive it from
   * something shared by different users' requests (a route, a policy name) unless the answer is
   * the same for all of them; include the user or tenant when it is not.
   */
  cacheKey?: string;
  /**
   * The input a policy with `deadLetter` stores with a call that still fails, for the queue's
   * handler to run it again: JSON (stored as `JSON.stringify` makes it). Default `null`.
   */
  payload?: unknown;
}

/**
 * Type-only key of {@link Policy}'s marker property: the type a policy may answer with instead of
 * the operation's result. No value exists at run time.
 */
export declare const POLICY_ANSWERS: unique symbol;

/**
 * A resilience policy: runs `fn` under its rules. `R` is what it may answer with instead of `fn`'s
 * result: `never` for every policy except a fallback (and a pipeline or named policy holding one),
 * so `execute` resolves to `T | R`. A parameter that takes any policy is a `Policy<unknown>`.
 */
export interface Policy<R = never> {
  /** Name used in events, errors and metrics. */
  readonly name: string;
  /** Runs `fn` under this policy. */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T | R>;
  /** Type only (never set): what the policy may answer with besides `fn`'s result. */
  readonly [POLICY_ANSWERS]?: () => R;
}

/** What a policy may answer with besides the operation's result (`never` for most policies). */
export type PolicyAnswer<P> = P extends { readonly [POLICY_ANSWERS]?: () => infer R }
  ? unknown extends R
    ? never
    : R
  : never;

/** Something that holds resources and must be closed. */
export interface Closeable {
  /** Releases timers, listeners and connections. Idempotent. */
  close(): Promise<void> | void;
}

/** A subscription handle. */
export interface Disposable {
  /** Stops the subscription. */
  dispose(): void;
}

/** Options shared by every policy. */
export interface CommonPolicyOptions {
  /** Name in events and errors. Defaults to the policy kind. */
  name?: string;
  /** Where events go. Defaults to the process-wide stream. */
  events?: EventStream;
}

/** Result of a rate-limit check, for the RateLimit headers (defined with the error that carries it). */
export type { RateLimitState } from './errors/bulwark-error.js';
