/**
 * Log fields of the current request, for any logger: the correlation ID, trace id and span id.
 * Loggers call these on every line, so they allocate one small object and nothing else.
 *
 * With OpenTelemetry active, the trace id and span id are those of the span active when the line
 * is written (as OTel's own log correlation writes them), so a line logged inside a child span
 * names that span, and fields OTel's instrumentation adds under the same names keep their values.
 */
import { getContext, type RequestContext } from '../context/context.js';
import { activeOtelSpanContext } from '../context/otel.js';

/** Trace id and span id for a log line: the active OTel span's when there is one, else the context's. */
function ids(ctx: RequestContext): { traceId: string; spanId: string } {
  const sc = activeOtelSpanContext();
  if (sc === undefined || sc.isRemote) return ctx.trace;
  return sc;
}

/** The log fields of the current request; every member is set inside a request. */
export interface LogContext {
  /** The request's correlation ID. */
  correlationId?: string;
  /** W3C trace id (32 hex). */
  traceId?: string;
  /** This service's span id (16 hex). */
  spanId?: string;
}

/**
 * `{ correlationId, traceId, spanId }` of the current request, or `{}` outside one.
 * @example
 * logger.info({ ...logContext(), orderId }, 'order placed');
 */
export function logContext(): LogContext {
  const ctx = getContext();
  if (ctx === undefined) return {};
  const t = ids(ctx);
  return { correlationId: ctx.correlationId, traceId: t.traceId, spanId: t.spanId };
}

/** Field names used by {@link pinoMixin} (e.g. `{ traceId: 'trace_id', spanId: 'span_id' }` for OpenTelemetry's names). */
export interface LogKeys {
  /** Default `correlationId`. */
  correlationId?: string;
  /** Default `traceId`. */
  traceId?: string;
  /** Default `spanId`. */
  spanId?: string;
}

/**
 * A function for pino's `mixin` option: adds the request's correlation ID, trace id and span id
 * to every line logged inside a request.
 * @example
 * const logger = pino({ mixin: pinoMixin() });
 */
export function pinoMixin(keys?: LogKeys): () => Record<string, string> {
  const c = keys?.correlationId ?? 'correlationId';
  const t = keys?.traceId ?? 'traceId';
  const s = keys?.spanId ?? 'spanId';
  for (const [k, v] of [
    ['correlationId', c],
    ['traceId', t],
    ['spanId', s],
  ] as const) {
    if (typeof v !== 'string' || v.length === 0)
      throw new TypeError(`Expected \`keys.${k}\` to be a non-empty string; got ${String(v)}.`);
  }
  return () => {
    const ctx = getContext();
    if (ctx === undefined) return {};
    const out: Record<string, string> = {};
    out[c] = ctx.correlationId;
    const i = ids(ctx);
    out[t] = i.traceId;
    out[s] = i.spanId;
    return out;
  };
}
