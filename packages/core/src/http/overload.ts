/**
 * Overload protection for every route (`http.overload`): an engine-wide concurrency limit with a
 * small queue, and shedding while the process is under pressure (event-loop delay, heap, RSS).
 * Both refuse with 503 `OVERLOADED` and a Retry-After before any work is done; the probes in
 * `http.exempt` are never refused. The limit is a one-key bulkhead, so slots, queue, queue
 * timeout and the Retry-After estimate are the bulkhead's (one implementation of each).
 */
import type { Criticality, RequestContext } from '../context/context.js';
import { isBulwarkError, OverloadedError } from '../errors/bulwark-error.js';
import {
  type BulkheadPolicy,
  type BulkheadRelease,
  type BulkheadShares,
  bulkhead,
  checkBulkheadOptions,
} from '../policies/bulkhead.js';
import { type EventStream, EventStream as Events } from '../telemetry/events.js';
import {
  type Check,
  duration,
  falseOr,
  Issues,
  nonNegInt,
  positiveDuration,
  positiveInt,
  shape,
  throwIfIssues,
} from '../util/checks.js';
import { type Duration, parseDuration } from '../util/duration.js';
import { ENGINE_KEY } from './inbound.js';
import { PressureMonitor, type PressureReason } from './pressure.js';

/** Options of the engine's overload protection (`http.overload`). Every limit is off unless set. */
export interface OverloadOptions {
  /** Requests in progress at once across the whole engine (admitted, response not yet closed). Default: no limit. */
  maxConcurrent?: number;
  /** Requests that may wait for one of those slots. Default 0: refuse at once. */
  maxQueue?: number;
  /** Longest wait in that queue. Default `'500ms'`. */
  queueTimeout?: Duration;
  /** Refuse requests while the event loop's delay is above this (e.g. `'200ms'`), or `false`. Default: off. */
  maxEventLoopDelay?: Duration | false;
  /** Refuse requests while the V8 heap in use is above this many bytes, or `false`. Default: off. */
  maxHeapUsedBytes?: number | false;
  /** Refuse requests while the resident set size is above this many bytes, or `false`. Default: off. */
  maxRssBytes?: number | false;
  /** How often pressure is sampled (on an unref'd timer). Default `'250ms'`. */
  sampleInterval?: Duration;
  /** Retry-After of a refusal for pressure. Default `'5s'` (a concurrency refusal estimates its own from run times). */
  retryAfter?: Duration;
  /**
   * Shedding by criticality: the share of the slots and queue (and of each pressure limit) that
   * requests of each criticality may use; critical ones may use all slots and are never refused for
   * pressure. Default `{ sheddable: 0.5, default: 1 }`: sheddable requests go first, at half the
   * limits. See `http.criticality` for where a request's criticality comes from.
   */
  criticality?: BulkheadShares;
  /** One caller (`http.caller`: the client IP by default) may hold at most this share of the slots and queue. Default 1: no cap. */
  maxSharePerCaller?: number;
}

/** Why a request was refused as overload. */
export type OverloadReason = 'concurrency' | 'queue-timeout' | PressureReason;

const overloadShape = shape(
  {
    maxConcurrent: positiveInt,
    maxQueue: nonNegInt,
    queueTimeout: duration(),
    maxEventLoopDelay: falseOr(positiveDuration),
    maxHeapUsedBytes: falseOr(positiveInt),
    maxRssBytes: falseOr(positiveInt),
    sampleInterval: positiveDuration,
    retryAfter: positiveDuration,
    // The bulkhead's own checks, so both read alike.
    criticality: (v, p, out) =>
      checkBulkheadOptions({ criticality: v }, p.slice(0, -'.criticality'.length), out),
    maxSharePerCaller: (v, p, out) =>
      checkBulkheadOptions({ maxSharePerCaller: v }, p.slice(0, -'.maxSharePerCaller'.length), out),
  },
  {
    expected: 'overload options',
    aliases: {
      concurrency: 'maxConcurrent',
      limit: 'maxConcurrent',
      queue: 'maxQueue',
      maxLag: 'maxEventLoopDelay',
      maxEventLoopLag: 'maxEventLoopDelay',
      maxHeapUsed: 'maxHeapUsedBytes',
      maxRss: 'maxRssBytes',
    },
  },
);

/** Records every problem of `http.overload` at `path`. */
export const checkOverloadOptions: Check = (v, p, out) => overloadShape(v, p, out);

/** `http.overload` after validation. */
export interface ResolvedOverloadOptions {
  readonly maxConcurrent: number | undefined;
  readonly maxQueue: number;
  readonly queueTimeoutMs: number;
  readonly maxEventLoopDelayMs: number | undefined;
  readonly maxHeapUsedBytes: number | undefined;
  readonly maxRssBytes: number | undefined;
  readonly sampleIntervalMs: number;
  readonly retryAfterMs: number;
  /** Share of the pressure limits each criticality may use: [sheddable, default] (critical: no limit). */
  readonly pressureShares: readonly [number, number];
  readonly criticality: BulkheadShares | undefined;
  readonly maxSharePerCaller: number | undefined;
}

/** Validates and defaults `http.overload`; throws one InvalidConfigError listing every problem. */
export function resolveOverloadOptions(input: OverloadOptions = {}): ResolvedOverloadOptions {
  const issues = new Issues();
  checkOverloadOptions(input, 'http.overload', issues);
  throwIfIssues(issues);
  const ms = (v: unknown) => (v === undefined || v === false ? undefined : (parseDuration(v) as number));
  const bytes = (v: number | false | undefined) => (v === false ? undefined : v);
  return Object.freeze({
    maxConcurrent: input.maxConcurrent,
    maxQueue: input.maxQueue ?? 0,
    queueTimeoutMs: ms(input.queueTimeout) ?? 500,
    maxEventLoopDelayMs: ms(input.maxEventLoopDelay),
    maxHeapUsedBytes: bytes(input.maxHeapUsedBytes),
    maxRssBytes: bytes(input.maxRssBytes),
    sampleIntervalMs: ms(input.sampleInterval) ?? 250,
    retryAfterMs: ms(input.retryAfter) ?? 5000,
    pressureShares: [input.criticality?.sheddable ?? 0.5, input.criticality?.default ?? 1] as const,
    criticality: input.criticality === undefined ? undefined : { ...input.criticality },
    maxSharePerCaller: input.maxSharePerCaller,
  });
}

/** What overload protection reports about itself. */
export interface OverloadStats {
  /** Requests holding a slot of the engine-wide limit. */
  inFlight: number;
  /** Requests waiting for one. */
  queued: number;
  /** The limit, if any. */
  maxConcurrent: number | undefined;
  /** The last event-loop delay sampled (ms), when it is watched. */
  eventLoopDelayMs: number | undefined;
  /** Pressure as a share of its nearest limit (≥ 1: requests other than critical ones are refused). */
  pressure: number;
}

const DETAIL: Record<OverloadReason, string> = {
  concurrency: 'The service is at its limit of requests in progress; this one was refused before any work.',
  'queue-timeout':
    'The service is at its limit of requests in progress, and this one waited too long for a slot.',
  'event-loop-delay':
    'The service is overloaded (its event loop is lagging); this request was refused before any work.',
  heap: 'The service is overloaded (its memory is above its limit); this request was refused before any work.',
  rss: 'The service is overloaded (its memory is above its limit); this request was refused before any work.',
};

/** The engine's overload protection, built from validated options. */
export class HttpOverload {
  /** The pressure sampler, when a pressure limit is set. */
  readonly pressure: PressureMonitor | undefined;
  private readonly limit: BulkheadPolicy | undefined;
  private readonly fair: boolean = false;

  constructor(
    private readonly o: ResolvedOverloadOptions,
    private readonly events: EventStream,
  ) {
    if (o.maxConcurrent !== undefined) {
      // Its own silent stream: a refusal is reported once, as `overload.shed`, not also as a bulkhead's.
      this.limit = bulkhead({
        name: 'http.overload',
        events: new Events(),
        maxConcurrent: o.maxConcurrent,
        maxQueue: o.maxQueue,
        queueTimeout: o.queueTimeoutMs,
        maxKeys: 1,
        criticality: o.criticality,
        maxSharePerCaller: o.maxSharePerCaller,
      });
      this.fair = (o.maxSharePerCaller ?? 1) < 1;
    }
    const watched =
      o.maxEventLoopDelayMs !== undefined || o.maxHeapUsedBytes !== undefined || o.maxRssBytes !== undefined;
    if (watched) {
      this.pressure = new PressureMonitor({
        maxEventLoopDelayMs: o.maxEventLoopDelayMs,
        maxHeapUsedBytes: o.maxHeapUsedBytes,
        maxRssBytes: o.maxRssBytes,
        sampleIntervalMs: o.sampleIntervalMs,
      });
      this.pressure.start();
    }
  }

  /** True when there is an engine-wide concurrency limit. */
  get limited(): boolean {
    return this.limit !== undefined;
  }

  /**
   * The refusal of a request of `criticality` while the process is under pressure, or undefined:
   * sheddable requests are refused from their share of the limits on (half, by default), default
   * ones at the limits; critical ones never (the concurrency limit still bounds them).
   */
  refuseUnderPressure(criticality: Criticality, correlationId: string): OverloadedError | undefined {
    const p = this.pressure;
    if (p === undefined || criticality === 'critical') return undefined;
    const share = this.o.pressureShares[criticality === 'sheddable' ? 0 : 1];
    if (p.level < share) return undefined;
    return this.refusal(p.reason, criticality, correlationId, this.o.retryAfterMs);
  }

  /** Takes a free slot synchronously, or undefined when the request must queue (or be refused). */
  tryEnter(ctx: RequestContext): BulkheadRelease | undefined {
    return this.limit?.tryAcquire(ENGINE_KEY, ctx.criticality, this.fair ? ctx.caller : undefined);
  }

  /** Waits for a slot; rejects with an {@link OverloadedError} when the queue is full or the wait timed out. */
  acquire(signal: AbortSignal | undefined, ctx: RequestContext): Promise<BulkheadRelease> {
    const limit = this.limit as BulkheadPolicy;
    const { criticality, correlationId } = ctx;
    return limit
      .acquire(ENGINE_KEY, signal, criticality, this.fair ? ctx.caller : undefined)
      .catch((err: unknown) => {
        if (!isBulwarkError(err) || err.category !== 'overload') throw err;
        const reason = err.code === 'QUEUE_TIMEOUT' ? 'queue-timeout' : 'concurrency';
        throw this.refusal(reason, criticality, correlationId, err.retryAfterMs ?? 1000);
      });
  }

  /** Occupancy and pressure. */
  stats(): OverloadStats {
    const s = this.limit?.stats(ENGINE_KEY);
    return {
      inFlight: s?.running ?? 0,
      queued: s?.queued ?? 0,
      maxConcurrent: this.o.maxConcurrent,
      eventLoopDelayMs:
        this.o.maxEventLoopDelayMs === undefined ? undefined : this.pressure?.last.eventLoopDelayMs,
      pressure: this.pressure?.level ?? 0,
    };
  }

  private refusal(
    reason: OverloadReason,
    criticality: Criticality,
    correlationId: string,
    retryAfterMs: number,
  ): OverloadedError {
    if (this.events.active) {
      const s = this.limit?.stats(ENGINE_KEY);
      this.events.emit({
        type: 'overload.shed',
        policy: 'http',
        reason,
        criticality,
        inFlight: s?.running ?? 0,
        queued: s?.queued ?? 0,
        pressure: this.pressure?.level ?? 0,
        correlationId,
      });
    }
    return new OverloadedError({ message: DETAIL[reason], policy: 'http.overload', retryAfterMs });
  }

  /** Stops the sampler and rejects queued requests. Idempotent. */
  close(): void {
    this.pressure?.close();
    this.limit?.close();
  }
}
