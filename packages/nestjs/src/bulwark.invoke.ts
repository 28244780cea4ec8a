import type { Policy } from '@bulwark/core';
import { isObservable, Observable, type Subscription } from 'rxjs';
import { type CallFrame, callFrames, currentSignal } from './bulwark.signal.js';

type AnyFn = (...args: unknown[]) => unknown;
type Attempt = (signal: AbortSignal) => unknown;

/** Resolved by an Observable attempt that completed (its values already went to the subscriber). */
const COMPLETED = Symbol('completed');

function execute(policy: Policy, frame: CallFrame, attempt: Attempt): Promise<unknown> {
  const options = frame.signal ? { signal: frame.signal } : undefined;
  // The outer frame is where the fallback runs; each attempt gets a frame with the policy's signal.
  return callFrames.run(frame, () =>
    policy.execute((signal) => callFrames.run({ ...frame, signal }, () => attempt(signal)), options),
  );
}

/**
 * An Observable under the policy, once per subscription: each attempt subscribes (a retry resubscribes),
 * breaker and bulkhead count it until it completes or errors, a timeout or the subscriber's unsubscribe
 * unsubscribes it and aborts the policy's signal; a fallback value is emitted last.
 */
function observe(policy: Policy, source: Observable<unknown>, frame: CallFrame): Observable<unknown> {
  return new Observable((subscriber) => {
    const stop = new AbortController();
    const signal = frame.signal ? AbortSignal.any([frame.signal, stop.signal]) : stop.signal;
    const attempt = (inner: AbortSignal) =>
      new Promise((resolve, reject) => {
        if (inner.aborted) return reject(inner.reason);
        let subscription: Subscription | undefined;
        const onAbort = () => {
          subscription?.unsubscribe();
          reject(inner.reason);
        };
        const settle = (fn: () => void) => {
          inner.removeEventListener('abort', onAbort);
          fn();
        };
        inner.addEventListener('abort', onAbort, { once: true });
        subscription = source.subscribe({
          next: (value) => subscriber.next(value),
          error: (error: unknown) => settle(() => reject(error)),
          complete: () => settle(() => resolve(COMPLETED)),
        });
        if (inner.aborted) subscription.unsubscribe();
      });
    execute(policy, { ...frame, signal }, attempt).then(
      (value) => {
        if (value !== COMPLETED) subscriber.next(value);
        subscriber.complete();
      },
      (error: unknown) => subscriber.error(error),
    );
    return () => stop.abort();
  });
}

/**
 * A decorated method's replacement, running it through `policy`. One known to return a Promise runs
 * inside the policy. Any other is called first: an Observable is cold (its work starts at subscribe)
 * and goes to {@link observe}; any other result is the first attempt, and Promises are known from then on.
 */
export function resilient(policy: Policy, original: AnyFn, returnsPromise: boolean): AnyFn {
  let promises = returnsPromise;
  return function bulwarkWrapped(this: unknown, ...args: unknown[]): unknown {
    const frame: CallFrame = { self: this, args, signal: currentSignal() };
    const call = () => original.apply(frame.self, args);
    if (promises) return execute(policy, frame, call);
    let first: { value: unknown } | { error: unknown };
    try {
      first = { value: callFrames.run(frame, call) };
    } catch (error) {
      first = { error };
    }
    if ('value' in first && isObservable(first.value)) return observe(policy, first.value, frame);
    promises = true;
    const early = first;
    if ('value' in early) (early.value as Partial<PromiseLike<unknown>>)?.then?.(undefined, () => {}); // unused if the policy refuses the call
    let used = false;
    return execute(policy, frame, () => {
      if (used) return call();
      used = true;
      return 'error' in early ? Promise.reject(early.error) : early.value;
    });
  };
}
