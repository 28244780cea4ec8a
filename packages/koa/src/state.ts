import type { RequestContext } from '@bulwark/core';

/** Request-scoped Bulwark data, on `ctx.state.bulwark` once the middleware admitted the request. */
export interface BulwarkState {
  /** Correlation ID of the request (incoming or fresh); echoed in the response header. */
  readonly correlationId: string;
  /** W3C trace id (32 hex). */
  readonly traceId: string;
  /** This service's span id (16 hex), the parent id for downstream calls. */
  readonly spanId: string;
  /** Absolute deadline (epoch ms), if the request has one. */
  readonly deadline: number | undefined;
  /** Aborted on client disconnect, on the deadline, or on a route timeout; pass it to downstream calls. */
  readonly signal: AbortSignal;
  /** The full request context (also available anywhere downstream through `getContext()`). */
  readonly context: RequestContext;
  /** Marks the answer degraded with a reason; the degraded header is set while headers are unsent. */
  degrade(reason: string): void;
}

declare module 'koa' {
  interface DefaultState {
    /** Set by `bulwark().middleware`, which must run before anything that reads it. */
    bulwark: BulwarkState;
  }
}
