/**
 * A deliberately flaky in-process dependency (think: the inventory service behind this API).
 * Every call waits a little (latency), then fails when an outage is running, or at random with
 * `failureRate`. Failures carry `status: 503`, as an HTTP client's error would, so Bulwark's
 * classifier treats them as transient (retryable, counted by the breaker).
 */
import { setTimeout as delay } from 'node:timers/promises';

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  delay(ms, undefined, { signal }).catch((e: unknown) => {
    throw signal?.aborted ? signal.reason : e;
  });

/** Injection token of the downstream. */
export const DOWNSTREAM = Symbol('DOWNSTREAM');

/** The flaky dependency. */
export interface Downstream {
  readonly name: string;
  readonly stats: { calls: number; failures: number };
  /** Fraction (0–1) of calls that fail at random outside outages. */
  failureRate: number;
  /** True while a scripted outage is running. */
  readonly down: boolean;
  /** Starts (or extends) an outage: every call fails for `ms`. `0` ends it. */
  outage(ms: number): void;
  /** One call; honours `signal` (a timeout or a client that left stops the wait). */
  call<T>(what: () => T, signal?: AbortSignal): Promise<T>;
}

export function createDownstream({
  name = 'inventory',
  failureRate = 0,
  latencyMs = [20, 60] as [number, number],
} = {}): Downstream {
  let outageUntil = 0;
  const stats = { calls: 0, failures: 0 };
  const [min, max] = latencyMs;
  return {
    name,
    stats,
    failureRate,
    get down() {
      return Date.now() < outageUntil;
    },
    outage(ms) {
      outageUntil = ms > 0 ? Date.now() + ms : 0;
    },
    async call(what, signal) {
      stats.calls++;
      await sleep(min + Math.random() * (max - min), signal);
      if (this.down || Math.random() < this.failureRate) {
        stats.failures++;
        throw Object.assign(new Error(`${name} answered 503 Service Unavailable`), { status: 503 });
      }
      return what();
    },
  };
}
