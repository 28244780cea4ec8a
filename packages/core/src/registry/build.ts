/**
 * Builds one named policy from its validated config, in the standard order (outermost first):
 * deadLetter → fallback → rateLimit → timeout (total) → retry → circuitBreaker → attemptTimeout →
 * bulkhead → chaos (held by the named policy around the operation itself, so it can be set at run time).
 */

import { getContext } from '../context/context.js';
import { pipeline } from '../pipeline.js';
import { bulkhead } from '../policies/bulkhead.js';
import { type ChaosPolicy, chaos } from '../policies/chaos.js';
import { type CircuitBreakerPolicy, circuitBreaker } from '../policies/circuit-breaker.js';
import { type FallbackConfig, fallback } from '../policies/fallback.js';
import { type RateLimitOptions, rateLimit } from '../policies/rate-limit.js';
import { retry } from '../policies/retry.js';
import { timeout } from '../policies/timeout.js';
import type { DeadLetterQueue } from '../recovery/dead-letter.js';
import { DeadLetterPolicy } from '../recovery/dead-letter-policy.js';
import type { Store } from '../stores/store.js';
import type { EventStream } from '../telemetry/events.js';
import type { ExecuteOptions, Operation, Policy } from '../types.js';
import type { PolicyConfig } from './config.js';

/** What every part of a built policy shares. */
export interface BuildContext {
  /** The stream every part reports to. */
  events: EventStream;
  /** A store supplied by the user, shared by breakers and rate limits that set none of their own. */
  store?: Store;
  /** The dead-letter queue, for policies with `deadLetter` (created on the first failure). */
  deadLetters?: () => DeadLetterQueue;
}

/** A built policy and the parts the registry needs to reach. */
export interface BuiltPolicy {
  /** The composed pipeline, named after the policy (its `chaos` slot is `bulwark.chaos`'s to set). */
  policy: NamedPolicy;
  /** Control of the circuit breaker inside it, if any (default key: the policy name). */
  breaker?: BreakerControl;
  /** Every part, outermost first, for `close()`. */
  parts: Policy<unknown>[];
}

/** A fallback config with the registry's name and events added (a bare function becomes `{ fallback }`). */
function withCommon(config: FallbackConfig, common: { name: string; events: EventStream }): FallbackConfig {
  return typeof config === 'function' ? { fallback: config, ...common } : { ...config, ...common };
}

/** Builds the pipeline for `name` from a validated config; the config is only read. */
export function buildPolicy(name: string, config: PolicyConfig, ctx: BuildContext): BuiltPolicy {
  const common = { name, events: ctx.events };
  const shared = ctx.store ? { store: ctx.store } : {};
  const parts: Policy<unknown>[] = [];
  let breaker: CircuitBreakerPolicy | undefined;
  if (config.deadLetter && ctx.deadLetters)
    parts.push(new DeadLetterPolicy(name, config.deadLetter, ctx.deadLetters));
  if (config.fallback) parts.push(fallback(withCommon(config.fallback, common)));
  if (config.rateLimit)
    parts.push(rateLimit({ ...shared, ...config.rateLimit, ...common } as RateLimitOptions));
  if (config.timeout !== undefined && config.timeout !== false)
    parts.push(timeout({ timeout: config.timeout, kind: 'total', ...common }));
  if (config.retry) parts.push(retry({ ...config.retry, ...common }));
  if (config.circuitBreaker) {
    const options = config.circuitBreaker === true ? {} : config.circuitBreaker;
    breaker = circuitBreaker({ ...shared, ...options, ...common });
    parts.push(breaker);
  }
  if (config.attemptTimeout !== undefined && config.attemptTimeout !== false)
    parts.push(timeout({ timeout: config.attemptTimeout, kind: 'attempt', ...common }));
  if (config.bulkhead) parts.push(bulkhead({ ...config.bulkhead, ...common }));
  const policy = new NamedPolicy(name, pipeline(...parts) as Policy, ctx.events);
  if (config.chaos) policy.chaos = chaos({ ...config.chaos, ...common });
  return breaker ? { policy, breaker: keyedBy(name, breaker), parts } : { policy, parts };
}

/**
 * The registry's face of a built pipeline: named after the policy, keyed by the policy name when
 * the caller gives no key (so `run(name)` and `fetch(name)` share one breaker), and reporting
 * `success` / `failure` with the duration and the attempts made, when someone listens.
 */
export class NamedPolicy implements Policy {
  /** Fault injection around the operation itself (innermost), if any: config `chaos` or `bulwark.chaos.set`. */
  chaos: ChaosPolicy | undefined = undefined;

  constructor(
    readonly name: string,
    /** Typed as a plain policy: what a fallback inside answers with is tracked by `Bulwark<C>`'s types. */
    private readonly inner: Policy,
    private readonly events: EventStream,
  ) {}

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const o: ExecuteOptions = options?.key === undefined ? { ...options, key: this.name } : options;
    const c = this.chaos;
    // Innermost: each attempt of the operation meets the faults, with the signal its layers handed it.
    const f: Operation<T> =
      c === undefined ? fn : (signal, attempt) => c.execute(fn, { key: o.key, signal, attempt });
    return this.events.active ? this.observed(f, o) : this.inner.execute(f, o);
  }

  private async observed<T>(fn: Operation<T>, options: ExecuteOptions): Promise<T> {
    const started = performance.now();
    let attempts = 0;
    const counted: Operation<T> = (signal, attempt) => {
      if (attempt > attempts) attempts = attempt;
      return fn(signal, attempt);
    };
    const base = { policy: this.name, key: options.key, correlationId: getContext()?.correlationId };
    try {
      const value = await this.inner.execute(counted, options);
      this.events.emit({ type: 'success', ...base, durationMs: performance.now() - started, attempts });
      return value;
    } catch (error) {
      this.events.emit({
        type: 'failure',
        ...base,
        durationMs: performance.now() - started,
        attempts,
        error,
      });
      throw error;
    }
  }
}

/** Manual control and inspection of the circuit breaker inside a named policy. */
export type BreakerControl = Pick<
  CircuitBreakerPolicy,
  | 'state'
  | 'stats'
  | 'override'
  | 'forceOpen'
  | 'forceClose'
  | 'disable'
  | 'metricsOnly'
  | 'reset'
  | 'canExecute'
  | 'recordSuccess'
  | 'recordFailure'
  | 'snapshot'
>;

/**
 * The breaker's control with the policy name as the default key of the per-key readers and
 * recorders (the key runs use); the overrides keep "every key" when no key is given.
 */
function keyedBy(name: string, b: CircuitBreakerPolicy): BreakerControl {
  return {
    state: (key) => b.state(key ?? name),
    stats: (key) => b.stats(key ?? name),
    override: (key) => b.override(key),
    forceOpen: (key) => b.forceOpen(key),
    forceClose: (key) => b.forceClose(key),
    disable: (key) => b.disable(key),
    metricsOnly: (key) => b.metricsOnly(key),
    reset: (key) => b.reset(key),
    canExecute: (key) => b.canExecute(key ?? name),
    recordSuccess: (key, durationMs) => b.recordSuccess(key ?? name, durationMs),
    recordFailure: (key, error, durationMs) => b.recordFailure(key ?? name, error, durationMs),
    snapshot: (key) => b.snapshot(key ?? name),
  };
}
