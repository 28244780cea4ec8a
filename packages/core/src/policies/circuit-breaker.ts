/**
 * Circuit breaker on opossum 10: one opossum breaker per key (LRU-bounded), configured so a call
 * costs O(1) amortised (no per-call timer, no latency sort, no snapshots, one shared unref'd
 * bucket clock). Bulwark adds keyed breakers, manual overrides, `halfOpenProbes` concurrent
 * probes, a classifier, CircuitOpenError with retryAfterMs and the uniform event stream.
 *
 * Half-open comes from opossum's own reset timer: one unref'd setTimeout per *open* breaker,
 * cleared on close/shutdown, so it never keeps the process alive. Closed breakers hold no timer.
 * Probes run beside opossum (it admits only one); their outcome closes or reopens it.
 *
 * Scale note (measured, opossum 10): ~7 KB of heap per keyed breaker, and opossum registers each
 * breaker on the shared clock with an O(listeners) scan, so the default maxKeys (1000) is fine but
 * 100k keys costs ~715 MB and seconds of set-up. See the breaker report before raising maxKeys a lot.
 */
import CircuitBreaker from 'opossum';
import { getContext } from '../context/context.js';
import { CircuitOpenError } from '../errors/bulwark-error.js';
import type { EventInput } from '../telemetry/events.js';
import type { Closeable, ExecuteOptions, Operation, Policy } from '../types.js';
import { BoundedMap } from '../util/bounded-map.js';
import { NEVER_ABORTED_SIGNAL } from '../util/time.js';
import { acquireClock, type RotateClock, releaseClock } from './breaker/clock.js';
import { type BreakerConfig, normalizeBreakerOptions } from './breaker/config.js';
import { BreakerSync } from './breaker/store-sync.js';
import type { BreakerOverride, CircuitBreakerOptions } from './options.js';

export { defaultIsFailure } from './breaker/config.js';

/** State of one keyed breaker, as callers see it (overrides included). */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** Counts in the rolling window of one keyed breaker. */
export interface CircuitStats {
  /** Calls admitted. */
  calls: number;
  /** Calls that failed (per `isFailure`). */
  failures: number;
  /** Calls that succeeded (including errors `isFailure` does not count). */
  successes: number;
  /** Calls rejected by the breaker. */
  rejects: number;
  /** failures / calls × 100, 0 when there were no calls. */
  errorRate: number;
}

/** A keyed circuit breaker with manual overrides. Methods taking `key` act on every key when it is omitted, except `state`/`stats` (key 'default'). */
export interface CircuitBreakerPolicy extends Policy, Closeable {
  /** Breaker state of `key` (default 'default'). */
  state(key?: string): CircuitState;
  /** Rolling-window counts of `key` (default 'default'); O(buckets). */
  stats(key?: string): CircuitStats;
  /** Override of `key`, or the override for every key when omitted. */
  override(key?: string): BreakerOverride;
  /** Rejects every call of `key` (or all keys) until reset. */
  forceOpen(key?: string): void;
  /** Admits every call of `key` (or all keys) and records it, never opening, until reset. */
  forceClose(key?: string): void;
  /** Passes calls of `key` (or all keys) straight through, recording nothing, until reset. */
  disable(key?: string): void;
  /** Records and emits events for `key` (or all keys) but never rejects, until reset. */
  metricsOnly(key?: string): void;
  /** Clears the override of `key` (or all overrides) and closes the breaker with a fresh window. */
  reset(key?: string): void;
  /** Shuts every breaker down and releases the shared clock. Idempotent. */
  close(): void;
}

/** The parts of opossum's Status used here (public methods missing from @types/opossum 8). */
interface StatusInternals {
  increment(property: 'fires' | 'successes' | 'failures' | 'rejects', latency?: number): void;
  rotateBucket(): void;
  readonly stats: CircuitBreaker.Stats;
}

/** A breaker event before the policy name and correlation ID are added. */
type BreakerEventInput = EventInput extends infer E
  ? E extends EventInput
    ? Omit<E, 'policy' | 'correlationId'>
    : never
  : never;

type Action = (fn: Operation<unknown>, signal: AbortSignal, attempt: number) => Promise<unknown>;

interface Entry {
  readonly key: string;
  readonly cb: CircuitBreaker<Parameters<Action>, unknown>;
  readonly status: StatusInternals;
  /** Epoch ms of the last opening. */
  openedAt: number;
  /** Probes in flight in the current half-open period. */
  probes: number;
  /** Incremented on every half-open period, so stale probes are ignored. */
  generation: number;
}

/**
 * Runs `fn` and always returns a promise, so a sync `fn`, a sync throw and an `undefined` result
 * all work in opossum; a native promise is passed through as is (no extra async wrapper).
 */
function settle<T>(fn: Operation<T>, signal: AbortSignal, attempt: number): Promise<T> {
  try {
    const r = fn(signal, attempt);
    return r instanceof Promise ? r : Promise.resolve(r);
  } catch (error) {
    return Promise.reject(error);
  }
}

const ACTION: Action = settle;

function isCancellation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { name?: unknown; category?: unknown };
  return e.name === 'AbortError' || e.category === 'cancelled';
}

function statsOf(e: Entry): CircuitStats {
  const s = e.status.stats;
  const errorRate = s.fires > 0 ? (s.failures / s.fires) * 100 : 0;
  return { calls: s.fires, failures: s.failures, successes: s.successes, rejects: s.rejects, errorRate };
}

class KeyedCircuitBreaker implements CircuitBreakerPolicy {
  readonly name: string;
  private readonly cfg: BreakerConfig;
  private readonly entries: BoundedMap<string, Entry>;
  /** Per-key manual overrides; bounded like the breakers (operators and replicas' messages add to it). */
  private readonly keyOverrides: BoundedMap<string, BreakerOverride>;
  private globalOverride: BreakerOverride = 'none';
  private readonly sync: BreakerSync | undefined;
  private clock: RotateClock | undefined;

  constructor(options?: CircuitBreakerOptions) {
    this.cfg = normalizeBreakerOptions(options);
    this.name = this.cfg.name;
    this.entries = new BoundedMap(this.cfg.maxKeys, (_k, e) => this.shutdown(e));
    this.keyOverrides = new BoundedMap(this.cfg.maxKeys);
    this.sync = this.cfg.store
      ? new BreakerSync(this.cfg.store, this.name, (key, ov) => this.applyOverride(key, ov, false))
      : undefined;
  }

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    try {
      const key = options?.key ?? 'default';
      const signal = options?.signal ?? NEVER_ABORTED_SIGNAL;
      const attempt = options?.attempt ?? 1;
      const ov = this.keyOverrides.size === 0 ? this.globalOverride : this.override(key);
      if (ov === 'disabled') return settle(fn, signal, attempt);
      if (ov === 'force-open') {
        this.entries.peek(key)?.status.increment('rejects');
        return Promise.reject(this.rejection(key, this.cfg.resetTimeoutMs));
      }
      const e = this.entry(key);
      if (ov === 'force-closed') return this.recorded(e, fn, signal, attempt);
      // Hot path: a closed breaker goes straight into opossum, with no extra promise of ours.
      if (e.cb.closed) return e.cb.fire(fn as Operation<unknown>, signal, attempt) as Promise<T>;
      return this.notClosed(e, ov, fn, signal, attempt);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** An open or half-open breaker: a probe, a recorded call (metrics-only) or a rejection. */
  private notClosed<T>(
    e: Entry,
    ov: BreakerOverride,
    fn: Operation<T>,
    signal: AbortSignal,
    attempt: number,
  ): Promise<T> {
    if (e.cb.halfOpen && e.probes < this.cfg.halfOpenProbes) return this.probe(e, fn, signal, attempt);
    if (ov === 'metrics-only') return this.recorded(e, fn, signal, attempt);
    e.status.increment('rejects');
    const retryAfterMs = e.cb.opened ? Math.max(0, e.openedAt + this.cfg.resetTimeoutMs - Date.now()) : 0;
    return Promise.reject(this.rejection(e.key, retryAfterMs));
  }

  state(key = 'default'): CircuitState {
    const ov = this.override(key);
    if (ov === 'force-open') return 'open';
    if (ov === 'force-closed' || ov === 'disabled') return 'closed';
    const cb = this.entries.peek(key)?.cb;
    return cb?.opened ? 'open' : cb?.halfOpen ? 'half-open' : 'closed';
  }

  stats(key = 'default'): CircuitStats {
    const e = this.entries.peek(key);
    return e ? statsOf(e) : { calls: 0, failures: 0, successes: 0, rejects: 0, errorRate: 0 };
  }

  override(key?: string): BreakerOverride {
    if (key === undefined) return this.globalOverride;
    const ov = this.keyOverrides.get(key);
    return ov !== undefined && ov !== 'none' ? ov : this.globalOverride;
  }

  forceOpen(key?: string): void {
    this.applyOverride(key, 'force-open', true);
  }
  forceClose(key?: string): void {
    this.applyOverride(key, 'force-closed', true);
  }
  disable(key?: string): void {
    this.applyOverride(key, 'disabled', true);
  }
  metricsOnly(key?: string): void {
    this.applyOverride(key, 'metrics-only', true);
  }
  reset(key?: string): void {
    this.applyOverride(key, 'none', true);
  }

  close(): void {
    this.entries.clear();
    this.keyOverrides.clear();
    this.globalOverride = 'none';
    this.sync?.close();
  }

  private applyOverride(key: string | undefined, ov: BreakerOverride, publish: boolean): void {
    const keys = key === undefined ? [...this.entries.entries()].map(([k]) => k) : [key];
    const before = keys.map((k) => this.state(k));
    if (key === undefined) {
      this.globalOverride = ov;
      this.keyOverrides.clear();
    } else if (ov === 'none') this.keyOverrides.delete(key);
    else this.keyOverrides.set(key, ov);
    if (ov === 'none' || ov === 'force-closed') {
      for (const k of keys) {
        const e = this.entries.peek(k);
        if (e) this.closeEntry(e, undefined);
      }
    }
    if (publish) this.sync?.publishOverride(key, ov);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      this.emitForced(k, before[i], this.state(k), ov);
    }
  }

  /** Emits the event of a transition caused by an override, one per key whose state changed. */
  private emitForced(
    key: string,
    was: CircuitState | undefined,
    now: CircuitState,
    ov: BreakerOverride,
  ): void {
    if (was === now) return;
    if (now === 'open') {
      const s = this.stats(key);
      this.emit({
        type: 'breaker.opened',
        key,
        failures: s.failures,
        errorRate: s.errorRate,
        reason: 'forced',
      });
    } else if (now === 'closed')
      this.emit({ type: 'breaker.closed', key, reason: ov === 'none' ? 'reset' : 'forced' });
    else this.emit({ type: 'breaker.half-open', key });
  }

  /** Runs `fn` outside opossum's state machine, recording its outcome in the window. */
  private async recorded<T>(e: Entry, fn: Operation<T>, signal: AbortSignal, attempt: number): Promise<T> {
    e.status.increment('fires');
    try {
      const result = await fn(signal, attempt);
      e.status.increment('successes');
      return result;
    } catch (error) {
      e.status.increment(this.cfg.isFailure(error) ? 'failures' : 'successes');
      throw error;
    }
  }

  /** A half-open probe: success closes the breaker, a failure reopens it, a cancellation frees the slot. */
  private async probe<T>(e: Entry, fn: Operation<T>, signal: AbortSignal, attempt: number): Promise<T> {
    const gen = e.generation;
    e.probes++;
    e.status.increment('fires');
    let outcome: 'success' | 'failure' | 'cancelled' = 'success';
    try {
      return await fn(signal, attempt);
    } catch (error) {
      outcome = this.cfg.isFailure(error) ? 'failure' : isCancellation(error) ? 'cancelled' : 'success';
      throw error;
    } finally {
      if (gen === e.generation) {
        e.probes--;
        if (outcome === 'failure') e.status.increment('failures');
        else if (outcome === 'success') e.status.increment('successes');
        if (e.cb.halfOpen && outcome === 'failure') e.cb.open();
        else if (e.cb.halfOpen && outcome === 'success') this.closeEntry(e, 'probe-succeeded');
      }
    }
  }

  /** Closes the opossum breaker with a fresh window; emits 'breaker.closed' when `reason` is given and it was not closed. */
  private closeEntry(e: Entry, reason: 'probe-succeeded' | undefined): void {
    const wasClosed = e.cb.closed;
    for (let i = 0; i < this.cfg.buckets; i++) e.status.rotateBucket();
    e.generation++;
    e.probes = 0;
    e.cb.close();
    if (!wasClosed) {
      this.sync?.publishState(e.key, 'closed');
      if (reason) this.emit({ type: 'breaker.closed', key: e.key, reason });
    }
  }

  private entry(key: string): Entry {
    return this.entries.getOrCreate(key, () => this.create(key));
  }

  private create(key: string): Entry {
    const c = this.cfg;
    const clock = acquireClock(c.bucketMs);
    this.clock = clock;
    const cb = new CircuitBreaker<Parameters<Action>, unknown>(ACTION, {
      name: `${c.name}:${key}`,
      timeout: false,
      resetTimeout: c.resetTimeoutMs,
      errorThresholdPercentage: c.errorThresholdPercentage,
      volumeThreshold: c.volumeThreshold,
      rollingCountTimeout: c.windowMs,
      rollingCountBuckets: c.buckets,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      rotateBucketController: clock.controller,
      errorFilter: (error: unknown) => !c.isFailure(error),
    });
    const e: Entry = {
      key,
      cb,
      status: cb.status as unknown as StatusInternals,
      openedAt: 0,
      probes: 0,
      generation: 0,
    };
    cb.on('open', () => {
      e.openedAt = Date.now();
      e.generation++;
      e.probes = 0;
      this.sync?.publishState(key, 'open');
      if (!c.events.active) return;
      const s = statsOf(e);
      this.emit({
        type: 'breaker.opened',
        key,
        failures: s.failures,
        errorRate: s.errorRate,
        reason: 'threshold',
      });
    });
    cb.on('halfOpen', () => {
      e.generation++;
      e.probes = 0;
      this.sync?.publishState(key, 'half-open');
      this.emit({ type: 'breaker.half-open', key });
    });
    return e;
  }

  private shutdown(e: Entry): void {
    e.cb.shutdown();
    if (this.clock) releaseClock(this.cfg.bucketMs, this.clock);
  }

  private rejection(key: string, retryAfterMs: number): CircuitOpenError {
    this.emit({ type: 'breaker.rejected', key, retryAfterMs });
    return new CircuitOpenError({
      message: `Circuit breaker "${this.name}" is open for key "${key}"; next probe in ${retryAfterMs} ms.`,
      retryAfterMs,
      policy: this.name,
    });
  }

  private emit(input: BreakerEventInput): void {
    const events = this.cfg.events;
    if (!events.active) return;
    const correlationId = getContext()?.correlationId;
    events.emit({ ...input, policy: this.name, ...(correlationId ? { correlationId } : {}) } as EventInput);
  }
}

/**
 * Creates a keyed circuit breaker policy.
 * @example
 * const breaker = circuitBreaker({ name: 'payments', resetTimeout: '10s' });
 * await breaker.execute((signal) => fetch(url, { signal }), { key: 'api.example.com' });
 */
export function circuitBreaker(options?: CircuitBreakerOptions): CircuitBreakerPolicy {
  return new KeyedCircuitBreaker(options);
}
