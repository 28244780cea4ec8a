import 'reflect-metadata';
import type { BulkheadOptions, CircuitBreakerOptions, Duration, RetryOptions } from '@bulwark/core';
import { Inject } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { BULWARK, BULWARK_LAYERS } from './bulwark.constants.js';
import { callFrames } from './bulwark.signal.js';

/** A fallback given to `@Fallback`: a method name of the same class, or a function; both get `(error, ...args)`. */
// biome-ignore lint/suspicious/noExplicitAny: handlers declare their own parameter types
export type FallbackHandler = string | ((error: unknown, ...args: any[]) => unknown);

/** One layer recorded by a decorator; turned into one registry policy config at application start. */
export type PolicyLayer =
  | { kind: 'fallback'; handler: FallbackHandler; fallback: (error: unknown) => unknown }
  | { kind: 'timeout'; duration: Duration }
  | { kind: 'retry'; options: Omit<RetryOptions, 'events' | 'name'> }
  | { kind: 'circuitBreaker'; name?: string; options?: Omit<CircuitBreakerOptions, 'events' | 'name'> }
  | { kind: 'bulkhead'; options: Omit<BulkheadOptions, 'events' | 'name'> }
  | { kind: 'policy'; name: string };

/**
 * A method decorator that only fits methods returning a Promise or an Observable: a resilient call
 * is asynchronous, so `@Retry() double(n: number): number` is a compile error instead of a method
 * whose declared `number` is really a Promise.
 */
export type ResilienceDecorator = <
  T extends (...args: never[]) => PromiseLike<unknown> | Observable<unknown>,
>(
  target: object,
  key: string | symbol,
  descriptor: TypedPropertyDescriptor<T>,
) => void;

function layer(l: PolicyLayer): ResilienceDecorator {
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
export const UsePolicy = (name: string): ResilienceDecorator => layer({ kind: 'policy', name });

/**
 * Aborts the method's signal (`currentSignal()`, or unsubscribes its Observable) and rejects with a
 * 504 `TIMEOUT` after `duration` (a total timeout: around every retry and backoff).
 * @example
 * @Timeout('2s') find(id: string) { return fetch(url, { signal: currentSignal() }); }
 */
export const Timeout = (duration: Duration): ResilienceDecorator => layer({ kind: 'timeout', duration });

/**
 * `@Timeout` under another name, to import beside `@nestjs/schedule`'s `Timeout`.
 * @example
 * @TimeLimit('2s') find(id: string) { return fetch(url, { signal: currentSignal() }); }
 */
export const TimeLimit = Timeout;

/**
 * Retries failed calls (every error but cancellations, 4xx other than 408/429 and permanent errors,
 * by default) with backoff; an Observable is resubscribed.
 * @example
 * @Retry({ maxAttempts: 3, initialDelay: '100ms' }) load() { ... }
 */
export const Retry = (options: Omit<RetryOptions, 'events' | 'name'> = {}): ResilienceDecorator =>
  layer({ kind: 'retry', options });

/**
 * Limits concurrent calls (an Observable: subscriptions) of the method, with a bounded queue; a full
 * bulkhead rejects with 503.
 * @example
 * @Bulkhead({ maxConcurrent: 5, maxQueue: 10 }) render() { ... }
 */
export const Bulkhead = (options: Omit<BulkheadOptions, 'events' | 'name'> = {}): ResilienceDecorator =>
  layer({ kind: 'bulkhead', options });

/**
 * A circuit breaker. `()` / `(options)`: the method's own (`breaker('Class.method')`). `(name)`: the
 * named policy from the config (must exist). `(name, options)`: the breaker policy `name`, shared by
 * every method declaring it with the same options.
 * @example
 * @CircuitBreaker('inventory', { errorThresholdPercentage: 50 }) reserve() { ... }
 */
export function CircuitBreaker(
  nameOrOptions?: string | Omit<CircuitBreakerOptions, 'events' | 'name'>,
  options?: Omit<CircuitBreakerOptions, 'events' | 'name'>,
): ResilienceDecorator {
  if (typeof nameOrOptions === 'string')
    return layer(
      options === undefined
        ? { kind: 'circuitBreaker', name: nameOrOptions }
        : { kind: 'circuitBreaker', name: nameOrOptions, options },
    );
  return layer({ kind: 'circuitBreaker', options: nameOrOptions ?? {} });
}

/**
 * Answers with `handler(error, ...args)` when the method (and every layer inside the fallback) fails.
 * `handler` is the name of a method on the same class, or a function (called with `this` = the instance).
 * @example
 * @Fallback('cached') @Timeout(500) price(sku: string) { ... }
 * cached(error: unknown, sku: string) { return this.cache.get(sku); }
 */
export const Fallback = (handler: FallbackHandler): ResilienceDecorator =>
  layer({
    kind: 'fallback',
    handler,
    // Made once per decorated method, so the method's config is the same object each time it is defined.
    fallback(error) {
      const frame = callFrames.getStore();
      const self = frame?.self as Record<string, unknown> | undefined;
      const fn = (typeof handler === 'string' ? self?.[handler] : handler) as (...a: unknown[]) => unknown;
      return fn.call(self, error, ...(frame?.args ?? []));
    },
  });

/**
 * Injects the core `Bulwark` instance (the `BULWARK` token).
 * @example
 * constructor(@InjectBulwark() private readonly bulwark: Bulwark) {}
 */
export const InjectBulwark = (): PropertyDecorator & ParameterDecorator => Inject(BULWARK);
