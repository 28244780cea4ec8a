/**
 * The per-request objects the engine hands out. Both are classes so the hot path allocates two
 * plain objects (plus the header list) and no closures; the AbortController and the deadline timer are created only
 * when someone asks for the signal (most fast handlers never do).
 */
import type { Criticality, RequestContext, TraceContext } from '../context/context.js';
import { traceFromHeaders } from '../context/trace.js';
import { CancelledError, DeadlineExceededError } from '../errors/bulwark-error.js';
import type { BulkheadRelease } from '../policies/bulkhead.js';
import type { EventStream } from '../telemetry/events.js';
import { MAX_TIMER_MS } from '../util/duration.js';
import { degradedValue } from './inbound.js';
import type { Admission, InboundRequest, OutboundResponse } from './types.js';

/** The request context the engine puts on AsyncLocalStorage. */
export class HttpRequestContext implements RequestContext {
  /** Reasons the answer was degraded. */
  readonly degraded: string[] = [];
  /** Features that are off while the service is degraded (`bulwark.features`); empty otherwise. */
  featuresOff: readonly string[] = NONE;
  // True private fields: not enumerable, so JSON.stringify(context) neither loops back through
  // the admission nor drags the request (and its headers) along.
  #trace: TraceContext | undefined;
  readonly #admission: HttpAdmission;

  constructor(
    /** Validated correlation ID. */
    readonly correlationId: string,
    /** Absolute deadline (epoch ms). */
    readonly deadline: number | undefined,
    /** Criticality (a route's `criticality` may change it for its policies). */
    public criticality: Criticality,
    admission: HttpAdmission,
  ) {
    this.#admission = admission;
  }

  #caller: string | undefined;

  /** Who is calling (client IP or `http.caller`), computed on first read (only fairness reads it). */
  get caller(): string {
    if (this.#caller === undefined) {
      const a = this.#admission;
      this.#caller = a.shared.callerOf(a.req);
    }
    return this.#caller;
  }

  /**
   * Sets the degraded header through the adapter's `InboundRequest.setHeader` the moment the answer
   * is marked degraded (a no-op when the adapter gave none). A method on the prototype, not a closure
   * per request; an adapter may still assign its own hook.
   */
  onDegraded(reasons: readonly string[]): void {
    const a = this.#admission;
    if (a.req.setHeader === undefined) return;
    try {
      // A method call: an adapter may describe requests with a class whose setHeader uses `this`.
      a.req.setHeader(a.shared.degradedHeader, degradedValue(reasons));
    } catch {
      // Headers already sent: too late to say so, and not worth failing the request for.
    }
  }

  /** W3C trace context, parsed from the request on first read (many requests never need it). */
  get trace(): TraceContext {
    if (this.#trace === undefined) this.#trace = traceFromHeaders(this.#admission.req.headers);
    return this.#trace;
  }

  /** Replaces the trace context (e.g. by a tracer that started its own span). */
  set trace(value: TraceContext) {
    this.#trace = value;
  }

  /** Aborted on client disconnect, deadline or route timeout (created on first read). */
  get signal(): AbortSignal {
    return this.#admission.signal;
  }
}

const NONE: readonly string[] = Object.freeze([]);

/** Per-engine constants every admission of that engine shares (one object, not three fields each). */
export interface AdmissionShared {
  /** The engine's event stream. */
  readonly events: EventStream;
  /** Key of keyed policies for a request. */
  readonly keyOf: (req: InboundRequest) => string;
  /** Header marking a degraded answer. */
  readonly degradedHeader: string;
  /** Who is calling, for per-caller fairness. */
  readonly callerOf: (req: InboundRequest) => string;
}

/** What `admit` returns; see {@link Admission}. */
export class HttpAdmission implements Admission {
  /** The request context. */
  readonly context: HttpRequestContext;
  /** Headers for every response to this request, as flat name/value pairs. */
  readonly headers: string[];
  /** Set when the request must not reach the handler. */
  rejection: OutboundResponse | undefined = undefined;
  /** The one slot handle: frees the bulkhead slot this request holds. */
  slot: BulkheadRelease | undefined = undefined;
  /** Frees the engine-wide overload slot (`http.overload.maxConcurrent`) this request holds. */
  overloadSlot: BulkheadRelease | undefined = undefined;
  /** The app-wide (or a route's) rate limit has counted this request. */
  limited = false;
  private controller: AbortController | undefined = undefined;
  private timer: ReturnType<typeof setTimeout> | undefined = undefined;
  private early: Error | undefined = undefined;
  private released = false;
  /** Protected handlers still running; the bulkhead slot is kept until they settle. */
  private working = 0;
  private limitKey: string | undefined = undefined;
  private timerMs = 0;

  constructor(
    /** The request as the adapter described it. */
    readonly req: InboundRequest,
    /** The engine's constants. */
    readonly shared: AdmissionShared,
    headers: string[],
    correlationId: string,
    deadline: number | undefined,
    criticality: Criticality,
  ) {
    this.headers = headers;
    this.context = new HttpRequestContext(correlationId, deadline, criticality, this);
  }

  /** The service is degraded: the answer says so (`reasons`, header value `header`), the context lists the features off. */
  markDegraded(reasons: readonly string[], featuresOff: readonly string[], header: string): void {
    this.context.degraded.push(...reasons);
    this.context.featuresOff = featuresOff;
    this.headers.push(this.shared.degradedHeader, header);
  }

  /** Key of keyed policies for this request (route key by default), computed once. */
  get key(): string {
    if (this.limitKey === undefined) this.limitKey = this.shared.keyOf(this.req);
    return this.limitKey;
  }

  /**
   * The request's signal; creating it arms the deadline timer and listens to the request's
   * client-gone signal (the admission itself is the listener: no closure per request).
   */
  get signal(): AbortSignal {
    let c = this.controller;
    if (c === undefined) {
      c = new AbortController();
      this.controller = c;
      if (this.early !== undefined) c.abort(this.early);
      else {
        const client = this.req.signal;
        if (client?.aborted) this.handleEvent();
        else if (!this.released) {
          client?.addEventListener('abort', this, { once: true });
          this.armDeadline();
        }
      }
    }
    return c.signal;
  }

  /** The client left (its signal's abort event): aborts the request's signal with a CancelledError. */
  handleEvent(): void {
    if (this.aborted) return;
    this.abortWith(
      new CancelledError({ message: 'The client closed the connection before the response was sent.' }),
    );
  }

  /** True once the signal aborted (or would have, had it been created). */
  get aborted(): boolean {
    return this.early !== undefined || this.controller?.signal.aborted === true;
  }

  /** Aborts the signal with `error` as its reason (deadline, route timeout). */
  abortWith(error: Error): void {
    if (this.aborted) return;
    this.clearTimer();
    if (this.controller === undefined) this.early = error;
    else this.controller.abort(error);
  }

  /** Marks a protected handler as running: the bulkhead slot outlives the response until it settles. */
  hold(): void {
    this.working++;
  }

  /** A protected handler settled; frees the slot if the response is already done. */
  unhold(): void {
    this.working--;
    if (this.released && this.working === 0) this.freeSlot();
  }

  /**
   * Frees the deadline timer, and the bulkhead slot unless a protected handler is still running
   * (a route timeout answers at once, but the bulkhead bounds running work, not open responses).
   * Idempotent.
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.clearTimer();
    if (this.controller !== undefined) this.req.signal?.removeEventListener('abort', this);
    if (this.working === 0) this.freeSlot();
  }

  /** Frees the bulkhead and overload slots now (idempotent). */
  freeSlot(): void {
    const slot = this.slot;
    const overload = this.overloadSlot;
    this.slot = undefined;
    this.overloadSlot = undefined;
    slot?.();
    overload?.();
  }

  private armDeadline(): void {
    const deadline = this.context.deadline;
    if (deadline === undefined) return;
    const left = deadline - Date.now();
    if (left <= 0) {
      this.deadlineReached();
      return;
    }
    // The admission rides along as the timer's argument: no closure per request.
    this.timerMs = left;
    this.timer = setTimeout(onDeadline, Math.min(left, MAX_TIMER_MS), this);
    this.timer.unref?.();
  }

  /** Called by the deadline timer. */
  deadlineReached(): void {
    this.timer = undefined;
    if (this.aborted) return;
    const events = this.shared.events;
    if (events.active) {
      events.emit({
        type: 'timeout',
        policy: 'http',
        key: this.key,
        correlationId: this.context.correlationId,
        timeoutMs: this.timerMs,
        kind: 'deadline',
      });
    }
    this.abortWith(
      new DeadlineExceededError({ message: "The request's deadline passed before it was answered." }),
    );
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}

function onDeadline(a: HttpAdmission): void {
  a.deadlineReached();
}
