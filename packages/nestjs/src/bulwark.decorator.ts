import 'reflect-metadata';
import type { BulkheadOptions, CircuitBreakerOptions, Duration, RetryOptions } from '@bulwark/core';
import { Inject } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { BULWARK, BULWARK_LAYERS } from './bulwark.constants.js';
import { callFrames } from './bulwark.signal.js';

/** A fallback given to `@Fallback`: a method name of the same class, or a function; both get `(error, ...args)`. */
// biome-ignore lint/suspicious/noExplicitAny: handlers declare their own parameter types
export type FallbackHandler = string | ((error: unknown, ...args: any[]) => unknown);

type Opts<T> = Omit<T, 'events' | 'name'>;

/** One layer recorded by a decorator; all of a method's layers become one registry policy at start. */
export type PolicyLayer =
  | { kind: 'fallback'; handler: FallbackHandler; fallback: (error: unknown) => unknown }
  | { kind: 'timeout'; duration: Duration }
  | { kind: 'retry'; options: Opts<RetryOptions> }
  | { kind: 'circuitBreaker'; name?: string; options?: Opts<CircuitBreakerOptions> }
  | { kind: 'bulkhead'; options: Opts<BulkheadOptions> }
  | { kind: 'policy'; name: string };

/**
 * A method decorator that fits only methods returning a Promise or an Observable: a resilient call
 * is asynchronous, so `@Retry() double(n: number): number` does not compile.
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

/** Runs the method through the named policy from the Bulwark config (nearest the call); an unknown name fails at start. */
export const UsePolicy = (name: string): ResilienceDecorator => layer({ kind: 'policy', name });

/**
 * A total timeout (around every retry and backoff): aborts `currentSignal()` (an Observable is
 * unsubscribed) and rejects with a 504 `TIMEOUT`.
 * @example
 * @Timeout('2s') find(id: string) { return fetch(url, { signal: currentSignal() }); }
 */
export const Timeout = (duration: Duration): ResilienceDecorator => layer({ kind: 'timeout', duration });

/** `@Timeout` under another name, to import beside `@nestjs/schedule`'s `Timeout`. */
export const TimeLimit = Timeout;

/** Retries failed calls with backoff (core's classifier decides what is retryable); an Observable is resubscribed. */
export const Retry = (options: Opts<RetryOptions> = {}): ResilienceDecorator =>
  layer({ kind: 'retry', options });

/** Limits concurrent calls (an Observable: subscriptions), with a bounded queue; a full bulkhead rejects with 503. */
export const Bulkhead = (options: Opts<BulkheadOptions> = {}): ResilienceDecorator =>
  layer({ kind: 'bulkhead', options });

/**
 * A circuit breaker. `()` / `(options)`: the method's own (`breaker('Class.method')`). `(name)`: the
 * named policy from the config. `(name, options)`: policy `name`, shared by every method declaring it alike.
 * @example
 * @CircuitBreaker('inventory', { failureThreshold: 5 }) reserve() { ... }
 */
export function CircuitBreaker(
  nameOrOptions?: string | Opts<CircuitBreakerOptions>,
  options?: Opts<CircuitBreakerOptions>,
): ResilienceDecorator {
  if (typeof nameOrOptions !== 'string')
    return layer({ kind: 'circuitBreaker', options: nameOrOptions ?? {} });
  return layer({ kind: 'circuitBreaker', name: nameOrOptions, ...(options ? { options } : {}) });
}

/**
 * Answers with `handler(error, ...args)` when the method (and every layer inside the fallback) fails;
 * `handler` is a method name of the same class, or a function called with `this` = the instance.
 * @example
 * @Fallback('cached') @Timeout(500) price(sku: string) { ... }
 */
export const Fallback = (handler: FallbackHandler): ResilienceDecorator =>
  layer({
    kind: 'fallback',
    handler,
    // One function per decorated method, so redefining the method's policy is idempotent.
    fallback(error) {
      const frame = callFrames.getStore();
      const self = frame?.self as Record<string, unknown> | undefined;
      const fn = (typeof handler === 'string' ? self?.[handler] : handler) as (...a: unknown[]) => unknown;
      return fn.call(self, error, ...(frame?.args ?? []));
    },
  });

/** Injects the core `Bulwark` instance (the `BULWARK` token): `constructor(@InjectBulwark() bulwark: Bulwark)`. */
export const InjectBulwark = (): PropertyDecorator & ParameterDecorator => Inject(BULWARK);
