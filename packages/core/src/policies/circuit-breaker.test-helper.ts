/**
 * What the circuit-breaker test files share: a factory whose breakers are closed after each test,
 * outcome helpers, and fake timers around every test (call {@link useBreakerTests} at top level).
 */
import { afterEach, beforeEach, expect, vi } from 'vitest';
import { isCircuitOpenError } from '../errors/bulwark-error.js';
import { type BulwarkEvent, EventStream } from '../telemetry/events.js';
import type { CircuitBreakerOptions } from './breaker/options.js';
import { type CircuitBreakerPolicy, circuitBreaker } from './circuit-breaker.js';

export const boom = () => {
  throw new Error('boom');
};
export const httpError = (status: number) => Object.assign(new Error(`HTTP ${status}`), { status });

let policies: CircuitBreakerPolicy[] = [];
export function make(options: CircuitBreakerOptions = {}): CircuitBreakerPolicy {
  const p = circuitBreaker({
    name: 'svc',
    volumeThreshold: 4,
    resetTimeout: 1000,
    events: new EventStream(),
    ...options,
  });
  policies.push(p);
  return p;
}
export async function fail(
  b: CircuitBreakerPolicy,
  key?: string,
  error: () => unknown = boom,
): Promise<void> {
  await expect(b.execute(error as () => never, { key })).rejects.not.toSatisfy(isCircuitOpenError);
}
export async function ok(b: CircuitBreakerPolicy, key?: string): Promise<void> {
  await expect(b.execute(() => 'ok', { key })).resolves.toBe('ok');
}
export async function openIt(b: CircuitBreakerPolicy, key?: string): Promise<void> {
  for (let i = 0; i < 4; i++) await fail(b, key);
  expect(b.state(key)).toBe('open');
}
export function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
export function recorder(): { events: EventStream; seen: BulwarkEvent[] } {
  const events = new EventStream();
  const seen: BulwarkEvent[] = [];
  events.onAny((e) => seen.push(e));
  return { events, seen };
}

/** Fake timers around every test of the calling file, and its breakers closed after each. */
export function useBreakerTests(): void {
  beforeEach(() => {
    vi.useFakeTimers();
    policies = [];
  });
  afterEach(() => {
    for (const p of policies) p.close();
    vi.useRealTimers();
  });
}
