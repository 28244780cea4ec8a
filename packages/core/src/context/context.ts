import { AsyncLocalStorage } from 'node:async_hooks';

/** W3C trace context of the current request. */
export interface TraceContext {
  /** 32 lowercase hex characters. */
  traceId: string;
  /** This service's span id (16 hex), sent downstream as the parent id. */
  spanId: string;
  /** The caller's span id, if the trace was continued. */
  parentId?: string;
  /** Trace flags byte (e.g. 1 = sampled). */
  flags: number;
  /** `tracestate`, passed through unchanged (bounded). */
  tracestate?: string;
}

/** How much a request matters when shedding load. */
export type Criticality = 'critical' | 'default' | 'sheddable';

/** Everything Bulwark knows about the current request, kept on AsyncLocalStorage. */
export interface RequestContext {
  /** Validated correlation ID (incoming or fresh). */
  correlationId: string;
  /** W3C trace context. */
  trace: TraceContext;
  /** Absolute deadline (epoch ms), if any. */
  deadline?: number;
  /** Criticality for load shedding. */
  criticality: Criticality;
  /** Who is calling (the client IP by default in the HTTP engine, or `http.caller(req)`), for per-caller fairness; read lazily. */
  readonly caller?: string;
  /** Reasons the answer was degraded (fallback used, `feature:<name>` off, ...). Empty when not degraded. */
  degraded: string[];
  /** Features that are off while the service is degraded (see `bulwark.features`); empty or absent otherwise. */
  readonly featuresOff?: readonly string[];
  /** Aborted when the request ends early (client disconnect, deadline). */
  signal?: AbortSignal;
  /** Called by {@link markDegraded} so an adapter can set the degraded header while it still can. */
  onDegraded?: (reasons: readonly string[]) => void;
}

// One store per process, even when the package is loaded twice (its ESM and CommonJS builds, or two
// installed copies): an adapter and the app must see the same request context.
const STORAGE_KEY = Symbol.for('bulwark.request-context.v1');
const holder = globalThis as typeof globalThis & { [STORAGE_KEY]?: AsyncLocalStorage<RequestContext> };
holder[STORAGE_KEY] ??= new AsyncLocalStorage<RequestContext>();
const storage: AsyncLocalStorage<RequestContext> = holder[STORAGE_KEY];

/** The current request context, or undefined outside a request. */
export function getContext(): RequestContext | undefined {
  return storage.getStore();
}

/** Runs `fn` with `ctx` as the current request context. */
export function runWithContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

/** Marks the current request's answer degraded, with a reason. No-op outside a request. */
export function markDegraded(reason: string): void {
  const ctx = storage.getStore();
  if (ctx && !ctx.degraded.includes(reason) && ctx.degraded.length < 16) {
    ctx.degraded.push(reason);
    ctx.onDegraded?.(ctx.degraded);
  }
}

/** Milliseconds left before the current deadline (or `deadline`), or Infinity when there is none. */
export function timeLeft(
  deadline: number | undefined = storage.getStore()?.deadline,
  now = Date.now(),
): number {
  return deadline === undefined ? Number.POSITIVE_INFINITY : deadline - now;
}
