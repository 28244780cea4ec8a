import { channel } from 'node:diagnostics_channel';
import type { CutRequest } from '../health/drain.js';
import type { ShutdownReport } from '../health/lifecycle.js';
import type { Disposable } from '../types.js';

/** Fields every event carries. */
interface Base {
  /** Policy (pipeline or named policy) that emitted it. */
  policy: string;
  /** Key for keyed policies. */
  key?: string;
  /** Correlation ID of the request in whose context it happened, if any. */
  correlationId?: string;
  /** Epoch ms. */
  at: number;
}

/**
 * Why retry stopped: attempts ran out, the budget refused, the next attempt could not start before
 * the deadline, the call is not idempotent, or the server asked to wait longer than `maxDelay`.
 */
export type RetryGaveUpReason = 'exhausted' | 'budget' | 'deadline' | 'not-idempotent' | 'retry-after';

/** Every event the engine emits, discriminated by `type`. */
export type BulwarkEvent =
  | (Base & {
      type: 'breaker.opened';
      failures: number;
      errorRate: number;
      reason?: 'threshold' | 'forced';
      /** Which threshold opened it (when `reason` is 'threshold'). */
      threshold?: 'error-rate' | 'consecutive-failures' | 'slow-call-rate' | 'half-open-probe';
    })
  | (Base & { type: 'breaker.half-open' })
  | (Base & { type: 'breaker.closed'; reason?: 'probe-succeeded' | 'forced' | 'reset' })
  | (Base & { type: 'breaker.rejected'; retryAfterMs: number })
  | (Base & { type: 'retry.scheduled'; attempt: number; delayMs: number; error: unknown })
  | (Base & { type: 'retry.budget-exhausted'; attempt: number; error: unknown })
  | (Base & { type: 'retry.gave-up'; attempts: number; reason: RetryGaveUpReason; error: unknown })
  /** A call succeeded after `attempts` attempts (2 or more): "recovered after 3 attempts". */
  | (Base & { type: 'retry.succeeded'; attempts: number })
  | (Base & { type: 'timeout'; timeoutMs: number; kind: 'attempt' | 'total' | 'deadline' })
  | (Base & { type: 'bulkhead.rejected'; reason: 'full' | 'queue-timeout'; running: number; queued: number })
  | (Base & { type: 'rate-limit.rejected'; limit: number; resetMs: number })
  /** A chaos policy injected a fault: added latency (`delayMs`), an error, or a cut-off call (after `delayMs`). */
  | (Base & { type: 'chaos.injected'; fault: 'latency' | 'error' | 'abort'; delayMs: number })
  /** The HTTP engine refused a request as overload (`http.overload`): its concurrency limit, or pressure (`pressure` ≥ 1). */
  | (Base & {
      type: 'overload.shed';
      reason: 'concurrency' | 'queue-timeout' | 'event-loop-delay' | 'heap' | 'rss';
      criticality: 'critical' | 'default' | 'sheddable';
      inFlight: number;
      queued: number;
      pressure: number;
    })
  | (Base & { type: 'fallback.used'; reason: string; error: unknown })
  /**
   * An idempotency key's outcome (`policy` is `http.idempotency`): a stored answer `replayed`, a
   * request `refused` (with its `code`), an answer `stored`, or a 5xx's claim `released`.
   */
  | (Base & { type: 'idempotency'; outcome: 'replayed' | 'refused' | 'stored' | 'released'; code?: string })
  /** A saga started (`resumed`: its log existed, so it picks up where it stopped). */
  | (Base & { type: 'saga.started'; sagaId: string; resumed: boolean })
  /** Every step of a saga completed. */
  | (Base & { type: 'saga.completed'; sagaId: string; durationMs: number })
  /** A saga step failed (or was interrupted by a crash); the completed steps are undone next. */
  | (Base & { type: 'saga.step-failed'; sagaId: string; step: string; error: unknown })
  /** Every undo a failed saga needed succeeded; `steps` lists them in the order they ran. */
  | (Base & { type: 'saga.compensated'; sagaId: string; steps: string[] })
  /** An undo failed on every attempt, or is unknown after a crash; `deadLetterId` holds it. */
  | (Base & {
      type: 'saga.compensation-failed';
      sagaId: string;
      step: string;
      status: 'failed' | 'unknown';
      error: unknown;
      deadLetterId?: string;
    })
  /** A registered compensation failed on every attempt (`compensations.compensate()`). */
  | (Base & {
      type: 'compensation.failed';
      operationId: string;
      compensationId: string;
      name: string;
      error: unknown;
      deadLetterId?: string;
    })
  /** `compensations.compensate()` ran an operation's compensations. */
  | (Base & { type: 'compensation.finished'; operationId: string; successful: number; failed: number })
  /** A batch item failed (`key`: the item's key; `batch`: the checkpoint id). */
  | (Base & {
      type: 'batch.item-failed';
      batch: string;
      criticality: 'core' | 'optional' | 'stretch';
      code: string;
      error: unknown;
    })
  /** A batch finished (`policy`: its name): its status and counts. */
  | (Base & {
      type: 'batch.finished';
      batch: string;
      status: 'complete' | 'partial' | 'rolled-back' | 'aborted';
      ok: boolean;
      succeeded: number;
      failed: number;
      skipped: number;
      durationMs: number;
    })
  /** A named policy's run succeeded (a fallback answer included), after `attempts` calls of the operation. */
  | (Base & { type: 'success'; durationMs: number; attempts: number })
  /** A named policy's run failed with `error`, after `attempts` calls of the operation (0: never called). */
  | (Base & { type: 'failure'; durationMs: number; attempts: number; error: unknown })
  /**
   * A dependency's status changed (`policy` is 'health'): a check, an open or closed breaker, a base
   * going down or up, an override. `reason` says why in a sentence; `error` is the failed check's.
   */
  | (Base & {
      type: 'health.changed';
      dependency: string;
      from: 'up' | 'down' | 'unknown';
      to: 'up' | 'down' | 'unknown';
      reason?: string;
      error?: unknown;
    })
  /** A feature turned on or off (`policy` is 'features'): its toggle, or its dependency. */
  | (Base & { type: 'feature.changed'; feature: string; enabled: boolean; reason?: string })
  /** The service-wide degraded mode turned on or off (`policy` is 'features'), with its reasons. */
  | (Base & { type: 'degraded.changed'; active: boolean; reasons: string[] })
  /** Shutdown began (`policy: 'lifecycle'`): readiness is false; new requests are refused after `delayMs`. */
  | (Base & {
      type: 'lifecycle.draining';
      reason: string;
      delayMs: number;
      drainTimeoutMs: number;
      inFlight: number;
    })
  /** The delay is over: new requests get 503 `DRAINING`, listeners are closed, `inFlight` requests may finish. */
  | (Base & { type: 'lifecycle.refusing'; inFlight: number })
  /** The drain timeout ran out (or a second signal forced it): `count` requests had their connections cut. */
  | (Base & { type: 'lifecycle.cut'; count: number; requests: CutRequest[] })
  /** A shutdown hook failed or ran out of time; the shutdown went on. */
  | (Base & { type: 'lifecycle.hook-failed'; hook: string; error: unknown })
  /** Shutdown finished: everything is closed; the process exits once its event loop is empty. */
  | (Base & { type: 'lifecycle.stopped'; report: ShutdownReport })
  /** A healing action of a dependency started (`policy: 'health'`); `attempt` within the outage. */
  | (Base & { type: 'healing.started'; dependency: string; attempt: number })
  /** The action worked: a fresh check said up, and no other dependency went down meanwhile. */
  | (Base & { type: 'healing.succeeded'; dependency: string; attempt: number; durationMs: number })
  /** The action (or `onRecovered`, attempt 0) did not help: why, and whether its undo ran. */
  | (Base & {
      type: 'healing.failed';
      dependency: string;
      attempt: number;
      reason: 'action-failed' | 'verify-failed' | 'verify-timeout' | 'worse' | 'recovered-failed';
      undone: 'no' | 'yes' | 'failed';
      error: unknown;
    })
  /** Every attempt of this outage failed; healing waits for the next outage. */
  | (Base & { type: 'healing.gave-up'; dependency: string; attempts: number })
  /** One start-up item finished (`policy: 'lifecycle'`): started, failed after `attempts`, or skipped. */
  | (Base & {
      type: 'startup.item';
      name: string;
      level: number;
      criticality: 'core' | 'optional' | 'stretch';
      status: 'succeeded' | 'failed' | 'skipped';
      durationMs: number;
      attempts: number;
      error?: unknown;
    })
  /** The start-up finished: `ok` unless a core item failed (`coreFailed`); `degraded` lists optional/stretch failures. */
  | (Base & {
      type: 'startup.finished';
      ok: boolean;
      durationMs: number;
      coreFailed: string[];
      degraded: string[];
    })
  /** A failure was added to a dead-letter queue, durably (`policy`: the queue's name). */
  | (Base & DeadLetterRef & { type: 'dead-letter.added'; code: string; category: string })
  /** A retry of a dead letter failed; the next is due at `nextAttemptAt` (epoch ms). */
  | (Base &
      DeadLetterRef & { type: 'dead-letter.retried'; attempt: number; nextAttemptAt: number; error: unknown })
  /** A retry of a dead letter succeeded. */
  | (Base & DeadLetterRef & { type: 'dead-letter.recovered'; attempts: number })
  /** A dead letter's retries are spent (or it failed permanently): it is `failed` until replayed. */
  | (Base & DeadLetterRef & { type: 'dead-letter.exhausted'; attempts: number; error: unknown })
  /** A failure was NOT queued: the queue was full, the store failed, or the input was invalid. */
  | (Base & {
      type: 'dead-letter.refused';
      deadLetterType: string;
      reason: 'full' | 'store' | 'invalid';
      error: unknown;
    })
  /** An archived dead letter was deleted to keep the archive within `maxArchived`. */
  | (Base & DeadLetterRef & { type: 'dead-letter.evicted'; reason: 'archive-full' })
  /** The store failed while the queue updated an entry (the loop goes on; the entry may be stale). */
  | (Base & { type: 'dead-letter.store-failed'; deadLetterId?: string; operation: string; error: unknown });

/** Which dead letter an event is about. */
interface DeadLetterRef {
  /** The entry's id. */
  deadLetterId: string;
  /** The entry's type (which handler runs it). */
  deadLetterType: string;
}

/** The `type` of an event. */
export type BulwarkEventType = BulwarkEvent['type'];
/** The event of a given type. */
export type EventOf<T extends BulwarkEventType> = Extract<BulwarkEvent, { type: T }>;
/** Distributive Omit, so `Omit` keeps the union discriminated. */
export type EventInput = BulwarkEvent extends infer E
  ? E extends BulwarkEvent
    ? Omit<E, 'at'> & { at?: number }
    : never
  : never;

/** diagnostics_channel name on which every event is also published, for tracers that prefer it. */
export const DIAGNOSTICS_CHANNEL = 'bulwark:event';
const diag = channel(DIAGNOSTICS_CHANNEL);

/**
 * A typed event stream. Emitting costs one length check when nobody listens.
 * @example
 * const sub = events.on('breaker.opened', (e) => log.warn(e));
 * sub.dispose();
 */
export class EventStream {
  private readonly byType = new Map<BulwarkEventType, Set<(e: BulwarkEvent) => void>>();
  private readonly any = new Set<(e: BulwarkEvent) => void>();
  private count = 0;

  /** Subscribes to one event type. */
  on<T extends BulwarkEventType>(type: T, listener: (e: EventOf<T>) => void): Disposable {
    let set = this.byType.get(type);
    if (!set) {
      set = new Set();
      this.byType.set(type, set);
    }
    const l = listener as (e: BulwarkEvent) => void;
    set.add(l);
    this.count++;
    return {
      dispose: () => {
        if (set.delete(l)) this.count--;
      },
    };
  }

  /** Subscribes to every event. */
  onAny(listener: (e: BulwarkEvent) => void): Disposable {
    this.any.add(listener);
    this.count++;
    return {
      dispose: () => {
        if (this.any.delete(listener)) this.count--;
      },
    };
  }

  /** True when someone (a listener or a diagnostics_channel subscriber) would see an event. */
  get active(): boolean {
    return this.count > 0 || diag.hasSubscribers;
  }

  /** Emits an event; a throwing listener never breaks the policy that emitted. */
  emit(input: EventInput): void {
    if (!this.active) return;
    const e = { at: Date.now(), ...input } as BulwarkEvent;
    const set = this.byType.get(e.type);
    if (set) for (const l of set) safeCall(l, e);
    for (const l of this.any) safeCall(l, e);
    if (diag.hasSubscribers) diag.publish(e);
  }

  /** Removes every listener. */
  clear(): void {
    this.byType.clear();
    this.any.clear();
    this.count = 0;
  }
}

function safeCall(l: (e: BulwarkEvent) => void, e: BulwarkEvent): void {
  try {
    l(e);
  } catch {
    // A listener's failure must not change the outcome of the call it observes.
  }
}

/** The stream used by policies created without an explicit one. */
export const defaultEvents = new EventStream();
