/**
 * Circuit breaker: core's own state machine (breaker/machine.ts), one row per key in a table
 * (breaker/table.ts). No timer at all: the window rotates from timestamps and an open breaker
 * turns half-open when the next call (or `canExecute`) finds `resetTimeout` has passed.
 * Thresholds combine (error rate over the window with a minimum volume, consecutive failures,
 * slow-call rate); half-open admits `halfOpenProbes` concurrent probes and closes after
 * `successThreshold` of them succeed. This file holds the call paths, manual recording, plain-data
 * snapshots and the overrides.
 */
import { InvalidConfigError } from '../errors/bulwark-error.js';
import type { Closeable, ExecuteOptions, Operation, Policy } from '../types.js';
import { abortReason, NEVER_ABORTED_SIGNAL } from '../util/time.js';
import {
  BreakerMachine,
  type CircuitStats,
  IGNORED,
  NORMAL,
  PROBE,
  RECORD_ONLY,
  SUCCESS,
} from './breaker/machine.js';
import {
  type BreakerOverride,
  type CircuitBreakerOptions,
  resolveCircuitBreakerOptions,
} from './breaker/options.js';
import { Overrides } from './breaker/overrides.js';
import {
  applySnapshot,
  type CircuitSnapshot,
  type CircuitState,
  snapshotIssues,
  takeSnapshot,
} from './breaker/snapshot.js';
import { BreakerSync } from './breaker/store-sync.js';
import { CLOSED, HALF_OPEN, OPEN } from './breaker/table.js';

export type { CircuitStats } from './breaker/machine.js';
export { defaultIsFailure } from './breaker/options.js';
export type { CircuitSnapshot, CircuitState } from './breaker/snapshot.js';

/** A keyed circuit breaker with manual overrides and manual recording. Methods taking `key` default to 'default'; override methods act on every key when it is omitted. */
export interface CircuitBreakerPolicy extends Policy, Closeable {
  /** Breaker state of `key` (overrides included); 'half-open' once `resetTimeout` has passed. */
  state(key?: string): CircuitState;
  /** Rolling-window counts of `key`. */
  stats(key?: string): CircuitStats;
  /** For code that cannot wrap a call: true when a call of `key` may run now (a half-open probe slot is taken); record its outcome after. */
  canExecute(key?: string): boolean;
  /** Records a successful call of `key` (slow when `durationMs` exceeds `slowCallDuration`). */
  recordSuccess(key?: string, durationMs?: number): void;
  /** Records a failed call of `key`; `error` is classified by `handles` as in `execute`. */
  recordFailure(key: string | undefined, error: unknown, durationMs?: number): void;
  /** The state of `key` as plain JSON-able data. */
  snapshot(key?: string): CircuitSnapshot;
  /** Replaces the state of `key` with a snapshot (validated; throws InvalidConfigError naming each bad field). */
  restore(key: string | undefined, snapshot: CircuitSnapshot): void;
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
  /** Forgets every key and override and stops store sharing. Idempotent. */
  close(): void;
}

function settle<T>(fn: Operation<T>, signal: AbortSignal, attempt: number): Promise<T> {
  try {
    return Promise.resolve(fn(signal, attempt));
  } catch (error) {
    return Promise.reject(error);
  }
}

class KeyedCircuitBreaker extends BreakerMachine implements CircuitBreakerPolicy {
  private readonly overrides: Overrides;

  constructor(options?: CircuitBreakerOptions) {
    const cfg = resolveCircuitBreakerOptions(options);
    super(cfg);
    this.overrides = new Overrides(cfg.maxKeys);
    this.sync = cfg.store
      ? new BreakerSync(cfg.store, this.name, (key, ov) => this.applyOverride(key, ov, false))
      : undefined;
  }

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const signal = options?.signal ?? NEVER_ABORTED_SIGNAL;
    // The getter costs more than the comparison; the shared never-aborted signal needs no look.
    if (signal !== NEVER_ABORTED_SIGNAL && signal.aborted) return Promise.reject(abortReason(signal));
    const attempt = options?.attempt ?? 1;
    try {
      const key = options?.key ?? 'default';
      const ov = this.overrides.of(key);
      if (ov === 'disabled') return settle(fn, signal, attempt);
      if (ov === 'force-open') return Promise.reject(this.reject(key, this.cfg.resetTimeoutMs));
      const t = this.t;
      const r = t.row(key);
      if (ov === 'force-closed')
        return this.run(r, t.generation[r] as number, RECORD_ONLY, fn, signal, attempt);
      // Hot path: a closed breaker reads no clock before the call, only once after it.
      if (t.state[r] === CLOSED) return this.run(r, t.generation[r] as number, NORMAL, fn, signal, attempt);
      const now = Date.now();
      const mode = this.admit(r, key, now);
      if (mode >= 0) return this.run(r, t.generation[r] as number, mode, fn, signal, attempt);
      if (ov === 'metrics-only')
        return this.run(r, t.generation[r] as number, RECORD_ONLY, fn, signal, attempt);
      return Promise.reject(this.rejectRow(r, key, now));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private async run<T>(
    r: number,
    gen: number,
    mode: number,
    fn: Operation<T>,
    signal: AbortSignal,
    attempt: number,
  ): Promise<T> {
    const start = this.slowMs >= 0 ? Date.now() : 0;
    try {
      const result = await fn(signal, attempt);
      this.outcome(r, gen, mode, SUCCESS, start);
      return result;
    } catch (error) {
      this.outcome(r, gen, mode, this.classify(error), start);
      throw error;
    }
  }

  canExecute(key = 'default'): boolean {
    const ov = this.overrides.of(key);
    if (ov === 'disabled' || ov === 'force-closed') return true;
    if (ov === 'force-open') {
      this.reject(key, this.cfg.resetTimeoutMs);
      return false;
    }
    const r = this.t.row(key);
    if (this.t.state[r] === CLOSED) return true;
    const now = Date.now();
    if (this.admit(r, key, now) >= 0) return true;
    if (ov === 'metrics-only') return true;
    this.rejectRow(r, key, now);
    return false;
  }

  recordSuccess(key = 'default', durationMs?: number): void {
    this.manual(key, SUCCESS, durationMs);
  }

  recordFailure(key: string | undefined, error: unknown, durationMs?: number): void {
    this.manual(key ?? 'default', this.classify(error), durationMs);
  }

  private manual(key: string, kind: number, durationMs: number | undefined): void {
    const ov = this.overrides.of(key);
    if (ov === 'disabled') return;
    const now = Date.now();
    const r = this.t.row(key);
    const slow = this.slowMs >= 0 && kind !== IGNORED && durationMs !== undefined && durationMs > this.slowMs;
    const st = this.t.state[r];
    const mode = ov === 'force-closed' || st === OPEN ? RECORD_ONLY : st === HALF_OPEN ? PROBE : NORMAL;
    this.apply(r, mode, kind, slow, now);
  }

  state(key = 'default'): CircuitState {
    const ov = this.overrides.of(key);
    if (ov === 'force-open') return 'open';
    if (ov === 'force-closed' || ov === 'disabled') return 'closed';
    const r = this.t.rows.get(key);
    if (r === undefined) return 'closed';
    const st = this.t.state[r];
    if (st === CLOSED) return 'closed';
    if (st === HALF_OPEN) return 'half-open';
    return Date.now() - (this.t.since[r] as number) >= this.cfg.resetTimeoutMs ? 'half-open' : 'open';
  }

  stats(key = 'default'): CircuitStats {
    const r = this.t.rows.get(key);
    if (r === undefined)
      return {
        calls: 0,
        failures: 0,
        successes: 0,
        slowCalls: 0,
        rejects: 0,
        errorRate: 0,
        consecutiveFailures: 0,
      };
    return this.statsOfRow(r, Date.now());
  }

  snapshot(key = 'default'): CircuitSnapshot {
    const now = Date.now();
    return takeSnapshot(this.t, this.t.row(key), now, this.overrides.own(key));
  }

  restore(key: string | undefined, snapshot: CircuitSnapshot): void {
    const issues = snapshotIssues(snapshot);
    if (issues.list.length > 0) throw new InvalidConfigError(issues.list);
    const k = key ?? 'default';
    const now = Date.now();
    applySnapshot(this.t, this.t.row(k), snapshot, now);
    if (snapshot.override !== undefined) this.overrides.set(k, snapshot.override);
  }

  override(key?: string): BreakerOverride {
    return key === undefined ? this.overrides.global : this.overrides.of(key);
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
    this.t.clear();
    this.overrides.clear();
    this.sync?.close();
  }

  private applyOverride(key: string | undefined, ov: BreakerOverride, publish: boolean): void {
    const keys = key === undefined ? [...this.t.allKeys()] : [key];
    const now = Date.now();
    for (const k of keys) {
      // An open breaker that is due turns half-open first, so the events stay in a legal order.
      const r = this.t.rows.get(k);
      if (
        r !== undefined &&
        this.t.state[r] === OPEN &&
        now - (this.t.since[r] as number) >= this.cfg.resetTimeoutMs
      )
        this.halfOpen(r, k, now);
    }
    const before = keys.map((k) => this.state(k));
    this.overrides.set(key, ov);
    if (ov === 'none' || ov === 'force-closed') {
      for (const k of keys) {
        const r = this.t.rows.get(k);
        if (r !== undefined) this.closeRow(r, undefined);
      }
    }
    if (publish) this.sync?.publishOverride(key, ov);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      this.emitForced(k, before[i] as CircuitState, this.state(k), ov);
    }
  }

  /** Emits the event of a transition caused by an override, one per key whose state changed. */
  private emitForced(key: string, was: CircuitState, now: CircuitState, ov: BreakerOverride): void {
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
}

/**
 * Creates a keyed circuit breaker policy.
 * @example
 * const breaker = circuitBreaker({ name: 'payments', failureThreshold: 5, resetTimeout: '60s', halfOpenProbes: 2 });
 * await breaker.execute((signal) => fetch(url, { signal }), { key: 'api.example.com' });
 */
export function circuitBreaker(options?: CircuitBreakerOptions): CircuitBreakerPolicy {
  return new KeyedCircuitBreaker(options);
}
