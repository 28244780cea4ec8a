/**
 * What every adapter puts on an admitted request (`req.bulwark` in Express, `ctx.state.bulwark`
 * in Koa): one shape and one implementation, so the adapters cannot drift.
 */
import { markDegraded, type RequestContext } from '../context/context.js';
import type { Admission, HttpEngineLike } from './types.js';

/** The request-scoped view a handler reads: identity, trace, deadline, signal and a way to degrade. */
export interface RequestView {
  /** Validated correlation ID (the caller's, or a fresh one); echoed in the response header. */
  readonly correlationId: string;
  /** W3C trace id (32 hex): continued from `traceparent`, or new. */
  readonly traceId: string;
  /** This service's span id (16 hex): the parent id for downstream calls. */
  readonly spanId: string;
  /** Absolute deadline (epoch ms), if the request has one. */
  readonly deadline: number | undefined;
  /** Aborted on client disconnect, on the deadline and on a route timeout; pass it to downstream calls. */
  readonly signal: AbortSignal;
  /** The full request context (the object `getContext()` returns inside the request). */
  readonly context: RequestContext;
  /** Marks the answer degraded with a reason; the degraded header is set while headers are unsent. */
  degrade(reason: string): void;
}

/**
 * {@link RequestView} as getters over an admission, so the trace context and the signal (with its
 * deadline timer) are only built when a handler reads them.
 */
export class AdmissionView implements RequestView {
  constructor(
    private readonly admission: Admission,
    private readonly engine: HttpEngineLike,
  ) {}
  get correlationId(): string {
    return this.admission.context.correlationId;
  }
  get traceId(): string {
    return this.admission.context.trace.traceId;
  }
  get spanId(): string {
    return this.admission.context.trace.spanId;
  }
  get deadline(): number | undefined {
    return this.admission.context.deadline;
  }
  get signal(): AbortSignal {
    return this.admission.signal;
  }
  get context(): RequestContext {
    return this.admission.context;
  }
  degrade(reason: string): void {
    this.engine.run(this.admission, () => markDegraded(reason));
  }
}
