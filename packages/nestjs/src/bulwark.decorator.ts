import 'reflect-metadata';
import type { BulkheadOptions, CircuitBreakerOptions, Duration, RetryOptions } from '@bulwark/core';
import { BULWARK_LAYERS } from './bulwark.constants.js';

/** A fallback given to `@Fallback`: a method name of the same class, or a function; both get `(error, ...args)`. */
// biome-ignore lint/suspicious/noExplicitAny: handlers declare their own parameter types
export type FallbackHandler = string | ((error: unknown, ...args: any[]) => unknown);

/** One layer recorded by a decorator; composed at application start. */
export type PolicyLayer =
  | { kind: 'fallback'; handler: FallbackHandler }
  | { kind: 'timeout'; duration: Duration }
  | { kind: 'retry'; options: Omit<RetryOptions, 'events'> }
  | { kind: 'circuitBreaker'; name?: string; options?: Omit<CircuitBreakerOptions, 'events'> }
  | { kind: 'bulkhead'; options: Omit<BulkheadOptions, 'events'> }
  | { kind: 'policy'; name: string };

function layer(l: PolicyLayer): MethodDecorator {
  return (target, key) => {
    const prev: PolicyLayer[] = Reflect.getOwnMetadata(BULWARK_LAYERS, target, key) ?? [];
    Reflect.defineMetadata(BULWARK_LAYERS, [...prev, l], target, key);
  };
}

/**
 * Runs the method through the named policy from the Bulwark config; an unknown name fails at start.
 * @example
 * @UsePolicy('payments-api') charge(order: Order) { return this.http.post(...); }
 */
export const UsePolicy = (name: string): MethodDecorator => layer({ kind: 'policy', name });

/**
 * Aborts the method's signal (`currentSignal()`) and rejects with a 504 `TIMEOUT` after `duration`.
 * @example
 * @Timeout('2s') find(id: string) { return fetch(url, { signal: currentSignal() }); }
 */
export const Timeout = (duration: Duration): MethodDecorator => layer({ kind: 'timeout', duration });

/**
 * Retries failed calls (transient errors only, by default) with backoff.
 * @example
 * @Retry({ maxAttempts: 3, initialDelay: '100ms' }) load() { ... }
 */
export const Retry = (options: Omit<RetryOptions, 'events'> = {}): MethodDecorator =>
  layer({ kind: 'retry', options });

/**
 * Limits concurrent calls of the method (and queues a bounded number); a full bulkhead rejects with 503.
 * @example
 * @Bulkhead({ maxConcurrent: 5, maxQueue: 10 }) render() { ... }
 */
export const Bulkhead = (options: Omit<BulkheadOptions, 'events'> = {}): MethodDecorator =>
  layer({ kind: 'bulkhead', options });

/**
 * A circuit breaker. `()` / `(options)`: one breaker for this method. `(name)`: the named policy from
 * the config (must exist). `(name, options)`: one breaker shared by every method using that name.
 * @example
 * @CircuitBreaker('inventory', { errorThresholdPercentage: 50 }) reserve() { ... }
 */
export function CircuitBreaker(
  nameOrOptions?: string | Omit<CircuitBreakerOptions, 'events'>,
  options?: Omit<CircuitBreakerOptions, 'events'>,
): MethodDecorator {
  if (typeof nameOrOptions === 'string')
    return layer({ kind: 'circuitBreaker', name: nameOrOptions, options });
  return layer({ kind: 'circuitBreaker', options: nameOrOptions ?? {} });
}

/**
 * Answers with `handler(error, ...args)` when the method (and every layer inside the fallback) fails.
 * `handler` is the name of a method on the same class, or a function (called with `this` = the instance).
 * @example
 * @Fallback('cached') @Timeout(500) price(sku: string) { ... }
 * cached(error: unknown, sku: string) { return this.cache.get(sku); }
 */
export const Fallback = (handler: FallbackHandler): MethodDecorator => layer({ kind: 'fallback', handler });
