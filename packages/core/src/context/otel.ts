/**
 * OpenTelemetry, when the app runs it. `@opentelemetry/api` is an optional peer dependency: it is
 * loaded on first use (a synchronous `require`, once), and core works the same without it.
 *
 * "OTel is active" means a valid span context is active in OTel's own context (an SDK is
 * registered and a span, e.g. the HTTP instrumentation's server span, is current). Then that span
 * is the trace: Bulwark's context takes its ids, and `traceparent`/`tracestate` are written by
 * OTel (its instrumentations, or `propagation.inject`), never by Bulwark's own formatter.
 */
import { createRequire } from 'node:module';
import { installSpanEvents, spanEventsInstalled, uninstallSpanEvents } from './otel-events.js';

/** The fields of an OTel `SpanContext` Bulwark reads. */
export interface OtelSpanContext {
  /** 32 lowercase hex. */
  readonly traceId: string;
  /** 16 lowercase hex. */
  readonly spanId: string;
  /** W3C trace flags. */
  readonly traceFlags: number;
  /** True for a context extracted from a caller (no local span was started). */
  readonly isRemote?: boolean;
  /** OTel's `TraceState`. */
  readonly traceState?: { serialize(): string };
}

/** The fields of an OTel `Span` Bulwark uses. */
export interface OtelSpan {
  spanContext(): OtelSpanContext;
  isRecording(): boolean;
  addEvent(name: string, attributes?: Record<string, string | number | boolean>): unknown;
}

/** The part of `@opentelemetry/api` Bulwark uses (typed structurally: core does not depend on it). */
export interface OtelApi {
  context: { active(): unknown };
  trace: {
    getSpan(context: unknown): OtelSpan | undefined;
    getSpanContext(context: unknown): OtelSpanContext | undefined;
    isSpanContextValid(spanContext: OtelSpanContext): boolean;
  };
  propagation: {
    inject(context: unknown, carrier: Record<string, string>): void;
    fields(): string[];
  };
}

// undefined: not tried yet; null: not installed (or unusable).
let api: OtelApi | null | undefined;

function load(): OtelApi | null {
  try {
    // ESM build: import.meta.url; CommonJS build: __filename (import.meta is empty there).
    const base = typeof __filename === 'string' ? __filename : import.meta.url;
    const mod = createRequire(base)('@opentelemetry/api') as Partial<OtelApi> | undefined;
    return typeof mod?.trace?.getSpanContext === 'function' &&
      typeof mod.context?.active === 'function' &&
      typeof mod.propagation?.inject === 'function'
      ? (mod as OtelApi)
      : null;
  } catch {
    return null;
  }
}

/** `@opentelemetry/api` when it is installed, loaded once on first call; undefined otherwise. */
export function otelApi(): OtelApi | undefined {
  if (api === undefined) api = load();
  return api ?? undefined;
}

/**
 * The active OTel span context when it is valid (an SDK is running and a span is current), else
 * undefined. The first time one is seen, policies' events start going to the active span.
 */
export function activeOtelSpanContext(): OtelSpanContext | undefined {
  const a = api === undefined ? otelApi() : api;
  if (!a) return undefined;
  const sc = a.trace.getSpanContext(a.context.active());
  if (sc === undefined || !a.trace.isSpanContextValid(sc)) return undefined;
  installSpanEvents(a);
  return sc;
}

/**
 * Writes OTel's propagation headers for the active context into `carrier` (through
 * `propagation.inject`, so the registered propagator decides: `traceparent`, `tracestate`,
 * `baggage`...). Returns false, writing nothing, when OTel is not active.
 */
export function injectOtel(carrier: Record<string, string>): boolean {
  const a = otelApi();
  if (!a || activeOtelSpanContext() === undefined) return false;
  try {
    a.propagation.inject(a.context.active(), carrier);
  } catch {
    // A propagator that throws must not fail the call.
  }
  return true;
}

/**
 * True when the registered OTel propagator writes `traceparent` (an SDK registered with the W3C
 * propagator): OTel then owns the trace headers of outgoing calls, span or no span, because its
 * instrumentations inject them on every call they see.
 */
export function otelOwnsTraceparent(): boolean {
  const a = api === undefined ? otelApi() : api;
  if (!a) return false;
  try {
    const fields = a.propagation.fields();
    for (let i = 0; i < fields.length; i++) if (fields[i]?.toLowerCase() === 'traceparent') return true;
  } catch {
    // A propagator that throws owns nothing.
  }
  return false;
}

/** Header names OTel's propagator writes (lower case); empty when OTel is not installed. */
export function otelFields(): readonly string[] {
  const a = otelApi();
  if (!a) return [];
  try {
    return a.propagation.fields().map((f) => f.toLowerCase());
  } catch {
    return [];
  }
}

/**
 * Turns the recording of policies' events as span events on the active OpenTelemetry span on or
 * off. It is on by itself from the first time Bulwark sees an active OTel span (an incoming request,
 * an outgoing call, a log line); call `otelSpanEvents(true)` at start-up to have it from the first
 * policy call, or `otelSpanEvents(false)` to keep it off. Returns whether it is on (false when
 * `@opentelemetry/api` is not installed).
 * @example
 * otelSpanEvents(true); // retry scheduled, breaker rejected, timeout, fallback used... on the active span
 */
export function otelSpanEvents(enabled: boolean): boolean {
  if (typeof enabled !== 'boolean') {
    throw new TypeError(`Expected \`enabled\` to be a boolean; got ${String(enabled)}.`);
  }
  if (!enabled) {
    uninstallSpanEvents();
    return false;
  }
  const a = otelApi();
  if (!a) return false;
  installSpanEvents(a, true);
  return spanEventsInstalled();
}
