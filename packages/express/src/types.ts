import type { RequestContext } from '@bulwark/core';

/** What Bulwark puts on every admitted Express request as `req.bulwark`. */
export interface BulwarkRequest {
  /** Validated correlation ID (the caller's, or a fresh one). */
  readonly correlationId: string;
  /** W3C trace id (continued from `traceparent`, or new). */
  readonly traceId: string;
  /** This service's span id; send it downstream as the parent id. */
  readonly spanId: string;
  /** Absolute deadline (epoch ms), if the request has one. */
  readonly deadline: number | undefined;
  /** Aborted on client disconnect, on the deadline and on a route timeout. */
  readonly signal: AbortSignal;
  /** The full request context (the same object `getContext()` returns inside the request). */
  readonly context: RequestContext;
  /** Marks the answer degraded; sets the degraded header while headers can still be sent. */
  degrade(reason: string): void;
}

declare global {
  // Express's own augmentation point: `Express.Request` is merged into every `req`.
  namespace Express {
    interface Request {
      /** Set by the Bulwark middleware once the request is admitted; absent before. */
      bulwark?: BulwarkRequest;
    }
  }
}
