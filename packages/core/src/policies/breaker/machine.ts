/**
 * The breaker's state machine over a {@link BreakerTable}: admission of an open or half-open
 * row, the outcome of a call, the thresholds, and the transitions with their events. Every
 * outcome carries the generation of the period it started in (checked by the caller), so a late
 * result of an older period never moves the state. No timer: half-open is decided from `since`.
 */
import { getContext } from '../../context/context.js';
import { CircuitOpenError } from '../../errors/bulwark-error.js';
import type { EventInput } from '../../telemetry/events.js';
import type { ResolvedCircuitBreakerOptions } from './options.js';
import type { BreakerSync } from './store-sync.js';
import { BreakerTable, CLOSED, HALF_OPEN, OPEN } from './table.js';

/** Counts in the rolling window of one keyed breaker. */
export interface CircuitStats {
  /** Calls recorded in the window. */
  calls: number;
  /** Calls that failed (per `handles`). */
  failures: number;
  /** Calls that succeeded (including errors `handles` does not count). */
  successes: number;
  /** Calls slower than `slowCallDuration` (0 when slow calls are not tracked). */
  slowCalls: number;
  /** Calls rejected since the breaker last opened. */
  rejects: number;
  /** failures / calls × 100, 0 when there were no calls. */
  errorRate: number;
  /** Failures since the last success. */
  consecutiveFailures: number;
}

/** A breaker event before the policy name and correlation ID are added. */
type BreakerEventInput = EventInput extends infer E
  ? E extends EventInput
    ? Omit<E, 'policy' | 'correlationId'>
    : never
  : never;

/** How a run's outcome is used: closed-state call, half-open probe, or recorded only (no transition). */
export const NORMAL = 0;
export const PROBE = 1;
export const RECORD_ONLY = 2;
/** Outcome kinds. */
export const SUCCESS = 0;
export const FAILURE = 1;
export const IGNORED = 2;

function isCancellation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { name?: unknown; category?: unknown };
  return e.name === 'AbortError' || e.category === 'cancelled';
}

/** Which threshold opened a breaker. */
type OpenedThreshold = 'error-rate' | 'consecutive-failures' | 'slow-call-rate' | 'half-open-probe';

/** The transitions of one policy's keyed breakers; the policy class adds the call paths and the API on top. */
export class BreakerMachine {
  readonly name: string;
  protected readonly t: BreakerTable;
  /** Slow-call duration in ms, or -1 when slow calls are not tracked. */
  protected readonly slowMs: number;
  protected sync: BreakerSync | undefined;

  constructor(protected readonly cfg: ResolvedCircuitBreakerOptions) {
    this.name = cfg.name;
    this.slowMs = cfg.slowCallDurationMs ?? -1;
    this.t = new BreakerTable(cfg.maxKeys, cfg.buckets, cfg.bucketMs, this.slowMs >= 0);
  }

  /** An open or half-open row: PROBE when a probe may run now, else -1. Turns open into half-open when due. */
  protected admit(r: number, key: string, now: number): number {
    const t = this.t;
    const reset = this.cfg.resetTimeoutMs;
    if (t.state[r] === OPEN) {
      if (now - (t.since[r] as number) < reset) return -1;
      this.halfOpen(r, key, now);
    } else if ((t.probes[r] as number) >= this.cfg.halfOpenProbes) {
      // Probes that have not reported for a whole resetTimeout are abandoned: start a new period.
      if (now - (t.since[r] as number) < reset) return -1;
      this.halfOpen(r, key, now);
    }
    t.probes[r] = (t.probes[r] as number) + 1;
    return PROBE;
  }

  protected classify(error: unknown): number {
    let counts: boolean;
    try {
      counts = this.cfg.handles(error);
    } catch {
      counts = true;
    }
    return counts ? FAILURE : isCancellation(error) ? IGNORED : SUCCESS;
  }

  /** Applies one outcome to row `r` if it still belongs to generation `gen`. */
  protected outcome(r: number, gen: number, mode: number, kind: number, start: number): void {
    const t = this.t;
    if (t.generation[r] !== gen) return;
    const now = Date.now();
    const slow = this.slowMs >= 0 && kind !== IGNORED && now - start > this.slowMs;
    this.apply(r, mode, kind, slow, now);
  }

  protected apply(r: number, mode: number, kind: number, slow: boolean, now: number): void {
    const t = this.t;
    if (mode === PROBE) {
      if ((t.probes[r] as number) > 0) t.probes[r] = (t.probes[r] as number) - 1;
      if (kind === IGNORED) return;
      t.record(r, now, kind === FAILURE, slow);
      if (kind === FAILURE || slow) {
        this.open(r, now, 'half-open-probe');
        return;
      }
      t.consecutive[r] = 0;
      t.probeSuccesses[r] = (t.probeSuccesses[r] as number) + 1;
      if ((t.probeSuccesses[r] as number) >= this.cfg.successThreshold) this.closeRow(r, 'probe-succeeded');
      return;
    }
    if (kind === IGNORED) return;
    t.record(r, now, kind === FAILURE, slow);
    if (kind === FAILURE) t.consecutive[r] = (t.consecutive[r] as number) + 1;
    else t.consecutive[r] = 0;
    // Thresholds are crossed by a failure or a slow call, never by a fast success (as opossum and cockatiel do).
    if (mode === NORMAL && (kind === FAILURE || slow) && t.state[r] === CLOSED) this.evaluate(r, now);
  }

  /** Opens a closed row whose thresholds are crossed. */
  protected evaluate(r: number, now: number): void {
    const crossed = this.crossed(r);
    if (crossed) this.open(r, now, crossed);
  }

  /** The threshold row `r` has crossed, if any (its window is current: a call was just recorded). */
  protected crossed(r: number): OpenedThreshold | undefined {
    const t = this.t;
    const c = this.cfg;
    if (c.failureThreshold !== undefined && (t.consecutive[r] as number) >= c.failureThreshold)
      return 'consecutive-failures';
    const calls = t.totalCalls[r] as number;
    if (calls === 0 || calls < c.volumeThreshold) return undefined;
    const failures = t.totalFailures[r] as number;
    const pct = c.errorThresholdPercentage;
    if (pct !== undefined && failures > 0 && failures * 100 >= pct * calls) return 'error-rate';
    const slow = t.totalSlow[r] as number;
    if (this.slowMs >= 0 && slow > 0 && slow * 100 >= c.slowCallRateThreshold * calls)
      return 'slow-call-rate';
    return undefined;
  }

  protected open(r: number, now: number, threshold: OpenedThreshold): void {
    const t = this.t;
    t.setState(r, OPEN);
    t.since[r] = now;
    t.probes[r] = 0;
    t.probeSuccesses[r] = 0;
    t.rejects[r] = 0;
    const key = t.keys[r] as string;
    this.sync?.publishState(key, 'open');
    if (!this.cfg.events.active) return;
    const s = this.statsOfRow(r, now);
    this.emit({
      type: 'breaker.opened',
      key,
      failures: s.failures,
      errorRate: s.errorRate,
      reason: 'threshold',
      threshold,
    });
  }

  protected halfOpen(r: number, key: string, now: number): void {
    const t = this.t;
    t.setState(r, HALF_OPEN);
    t.since[r] = now;
    t.probes[r] = 0;
    t.probeSuccesses[r] = 0;
    this.sync?.publishState(key, 'half-open');
    this.emit({ type: 'breaker.half-open', key });
  }

  /** Closes row `r` with a fresh window; emits 'breaker.closed' when `reason` is given and it was not closed. */
  protected closeRow(r: number, reason: 'probe-succeeded' | undefined): void {
    const t = this.t;
    const was = t.state[r];
    t.setState(r, CLOSED);
    t.since[r] = 0;
    t.probes[r] = 0;
    t.probeSuccesses[r] = 0;
    t.consecutive[r] = 0;
    t.clearWindow(r);
    if (was === CLOSED) return;
    const key = t.keys[r] as string;
    this.sync?.publishState(key, 'closed');
    if (reason) this.emit({ type: 'breaker.closed', key, reason });
  }

  protected rejectRow(r: number, key: string, now: number): CircuitOpenError {
    const t = this.t;
    t.rejects[r] = (t.rejects[r] as number) + 1;
    const open = t.state[r] === OPEN;
    return this.reject(key, open ? Math.max(0, (t.since[r] as number) + this.cfg.resetTimeoutMs - now) : 0);
  }

  protected reject(key: string, retryAfterMs: number): CircuitOpenError {
    this.emit({ type: 'breaker.rejected', key, retryAfterMs });
    return new CircuitOpenError({
      message: `Circuit breaker "${this.name}" is open for key "${key}"; next probe in ${retryAfterMs} ms.`,
      retryAfterMs,
      policy: this.name,
    });
  }

  protected statsOfRow(r: number, now: number): CircuitStats {
    const s = this.t.totals(r, now);
    return {
      calls: s.calls,
      failures: s.failures,
      successes: s.calls - s.failures,
      slowCalls: s.slow,
      rejects: this.t.rejects[r] as number,
      errorRate: s.calls > 0 ? (s.failures / s.calls) * 100 : 0,
      consecutiveFailures: this.t.consecutive[r] as number,
    };
  }

  protected emit(input: BreakerEventInput): void {
    const events = this.cfg.events;
    if (!events.active) return;
    const correlationId = getContext()?.correlationId;
    events.emit({ ...input, policy: this.name, ...(correlationId ? { correlationId } : {}) } as EventInput);
  }
}
