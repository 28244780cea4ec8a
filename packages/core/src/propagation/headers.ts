/**
 * The headers an outgoing call carries while a request is being handled: the correlation ID, a
 * W3C `traceparent` (same trace id, a fresh parent id per call), `tracestate` passed on, and the
 * remaining deadline in ms minus a safety margin. Every client integration (fetch, node:http,
 * axios, got, the resilient client) builds its headers here.
 *
 * With an OpenTelemetry SDK registered (its propagator writes `traceparent`), Bulwark writes no
 * `traceparent`/`tracestate` where OTel's instrumentation adds its own: OTel's instrumentations do,
 * or (`'inject'`) OTel's `propagation.inject` writes them here, into keys an instrumentation
 * overwrites, so a request never carries two.
 */
import { getContext, type RequestContext } from '../context/context.js';
import { DEFAULT_CORRELATION_HEADER, DEFAULT_DEADLINE_HEADER } from '../context/headers.js';
import { injectOtel, otelOwnsTraceparent } from '../context/otel.js';
import { childTraceparent } from '../context/trace.js';
import { DeadlineExceededError } from '../errors/bulwark-error.js';
import { type Duration, toMs } from '../util/duration.js';

/** Default safety margin subtracted from the time left before it is sent downstream. */
export const DEFAULT_DEADLINE_MARGIN_MS = 20;

/** Options shared by every propagation integration. */
export interface PropagationOptions {
  /** Header carrying the correlation ID (default `x-request-id`, the engine's default). */
  correlationHeader?: string;
  /** Header carrying the remaining budget in whole ms (default `x-deadline-ms`, the engine's default). */
  deadlineHeader?: string;
  /**
   * Subtracted from the time left before it is sent downstream, for the network and the answer's
   * way back (ms or a duration; default {@link DEFAULT_DEADLINE_MARGIN_MS}). A budget that is 0 or
   * less after the margin counts as spent.
   */
  margin?: Duration;
  /** Which calls get headers (e.g. only your own services' origins); default every call. */
  shouldPropagate?: (target: PropagationTarget) => boolean;
}

/** What {@link PropagationOptions.shouldPropagate} sees of an outgoing call. */
export interface PropagationTarget {
  /** `protocol://host[:port]`, or '' when unknown. */
  origin: string;
  /** Path and query, or '' when unknown. */
  path: string;
  /** Upper-case method. */
  method: string;
}

/** Propagation options after validation. */
export interface ResolvedPropagation {
  readonly correlationHeader: string;
  readonly deadlineHeader: string;
  readonly marginMs: number;
  readonly shouldPropagate: ((target: PropagationTarget) => boolean) | undefined;
}

/** The headers to send, and whether the budget is already spent. */
export interface OutgoingPlan {
  /** Header names (lower case) and values. */
  headers: Record<string, string>;
  /** Remaining budget after the margin, in ms; undefined when the request has no deadline. */
  budgetMs: number | undefined;
  /** True when there was a deadline and nothing is left of it after the margin. */
  spent: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]{1,64}$/;

function headerName(value: unknown, key: string, fallback: string): string {
  if (value === undefined) return fallback;
  const v = typeof value === 'string' ? value.toLowerCase() : value;
  if (typeof v !== 'string' || !TOKEN.test(v)) {
    throw new TypeError(
      `Expected \`${key}\` to be an HTTP header name (1–64 token characters); got ${String(value)}.`,
    );
  }
  return v;
}

const DEFAULTS: ResolvedPropagation = {
  correlationHeader: DEFAULT_CORRELATION_HEADER,
  deadlineHeader: DEFAULT_DEADLINE_HEADER,
  marginMs: DEFAULT_DEADLINE_MARGIN_MS,
  shouldPropagate: undefined,
};

/** Validates and defaults propagation options once; throws a TypeError naming the bad key. */
export function resolvePropagation(options?: PropagationOptions | ResolvedPropagation): ResolvedPropagation {
  if (options === undefined) return DEFAULTS;
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`Expected propagation options to be an object; got ${String(options)}.`);
  }
  if ('marginMs' in options) return options;
  const marginMs = options.margin === undefined ? DEFAULT_DEADLINE_MARGIN_MS : toMs(options.margin, 'margin');
  if (options.shouldPropagate !== undefined && typeof options.shouldPropagate !== 'function') {
    throw new TypeError('Expected `shouldPropagate` to be a function (target) => boolean.');
  }
  return {
    correlationHeader: headerName(options.correlationHeader, 'correlationHeader', DEFAULT_CORRELATION_HEADER),
    deadlineHeader: headerName(options.deadlineHeader, 'deadlineHeader', DEFAULT_DEADLINE_HEADER),
    marginMs,
    shouldPropagate: options.shouldPropagate,
  };
}

/**
 * What to do with the trace headers when an OpenTelemetry SDK is registered whose propagator writes
 * `traceparent`: `'leave'` them to OTel's instrumentation (fetch: the undici instrumentation adds
 * its own unconditionally, so a second one must not be there), or `'inject'` them through
 * `propagation.inject` (node:http, axios, got: the http instrumentation overwrites the same keys;
 * with no active span, Bulwark's own `traceparent` goes in those keys instead).
 */
export type OtelTraceHeaders = 'leave' | 'inject';

/** The headers for an outgoing call made inside `ctx`, without throwing when the budget is spent. */
export function planOutgoing(
  ctx: RequestContext,
  o: ResolvedPropagation,
  now: number = Date.now(),
  otel: OtelTraceHeaders = 'leave',
): OutgoingPlan {
  const headers: Record<string, string> = {};
  headers[o.correlationHeader] = ctx.correlationId;
  const owned = otelOwnsTraceparent();
  if (owned && otel === 'inject') {
    const carrier: Record<string, string> = {};
    injectOtel(carrier);
    for (const k in carrier) headers[k.toLowerCase()] = carrier[k] as string;
  }
  if (!owned || (otel === 'inject' && headers.traceparent === undefined)) {
    headers.traceparent = childTraceparent(ctx);
    if (ctx.trace.tracestate !== undefined) headers.tracestate = ctx.trace.tracestate;
  }
  if (ctx.deadline === undefined) return { headers, budgetMs: undefined, spent: false };
  const budgetMs = Math.floor(ctx.deadline - now - o.marginMs);
  headers[o.deadlineHeader] = String(Math.max(0, budgetMs));
  return { headers, budgetMs, spent: budgetMs <= 0 };
}

/** The error an outgoing call fails with when the request's budget is spent. */
export function spentError(
  o: ResolvedPropagation,
  budgetMs: number | undefined,
  target?: string,
): DeadlineExceededError {
  return new DeadlineExceededError({
    message: `The request's deadline leaves no time for the call${target ? ` to ${target}` : ''} (${budgetMs ?? 0} ms left after a ${o.marginMs} ms margin); it was not sent.`,
    ...(target ? { policy: target } : {}),
  });
}

/**
 * The headers to send on an outgoing call made while handling a request (`{}` outside one).
 * Throws `DeadlineExceededError` when the request's budget, minus the margin, is spent: do not call.
 * @example
 * const res = await fetch(url, { headers: { ...outgoingHeaders(), accept: 'application/json' } });
 */
export function outgoingHeaders(
  ctx: RequestContext | undefined = getContext(),
  options?: PropagationOptions,
): Record<string, string> {
  if (ctx === undefined) return {};
  const o = resolvePropagation(options);
  const plan = planOutgoing(ctx, o);
  if (plan.spent) throw spentError(o, plan.budgetMs);
  return plan.headers;
}
