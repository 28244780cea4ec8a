/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): parse the caller's `traceparent`,
 * give this service its own span id, and format the `traceparent` sent downstream.
 *
 * Choices:
 * - A missing or malformed `traceparent` starts a new trace with a random trace id and flags
 *   `02`: not sampled (Bulwark does not sample; a tracer that does sets its own flags) and, per
 *   Trace Context Level 2, `random` (every byte of the trace id is random).
 * - A continued trace keeps the caller's sampled bit and `random` bit; other, undefined flag bits
 *   are cleared, as the spec asks of participants.
 * - `tracestate` is kept only when the `traceparent` was valid, parsed and truncated as the spec
 *   says (see `tracestate.ts`).
 * - Each outgoing request gets its own parent id ({@link childTraceparent}).
 * - With OpenTelemetry active (a valid span context is current), its span is the trace: the
 *   context takes OTel's trace id, span id, flags and tracestate (see `otel.ts`).
 */
import { randomFillSync } from 'node:crypto';
import type { RequestContext, TraceContext } from './context.js';
import type { IncomingHeaders } from './headers.js';
import { activeOtelSpanContext, type OtelSpanContext } from './otel.js';
import { acceptTracestate } from './tracestate.js';

export { acceptTracestate, MAX_TRACESTATE_LENGTH } from './tracestate.js';

/** Flag bits kept from the caller: sampled (0x01) and, per Trace Context Level 2, random (0x02). */
const KNOWN_FLAGS = 0x03;
/** Trace flags of a trace Bulwark starts: not sampled, random trace id (Level 2). */
export const NEW_TRACE_FLAGS = 0x02;
// Longest `traceparent` looked at: future versions may append fields, but not unboundedly.
const MAX_TRACEPARENT_LENGTH = 512;
const V00_LENGTH = 55;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** The fields of a valid incoming `traceparent`. */
export interface ParsedTraceparent {
  /** Version byte, as two hex characters. */
  version: string;
  /** 32 lowercase hex characters, not all zero. */
  traceId: string;
  /** The caller's span id: 16 lowercase hex characters, not all zero. */
  parentId: string;
  /** Trace flags byte, with undefined bits cleared. */
  flags: number;
}

/** 0–15 for a lowercase hex digit's char code, else -1. */
function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30; // 0-9
  if (code >= 0x61 && code <= 0x66) return code - 0x57; // a-f
  return -1;
}

/**
 * True when `value[start, end)` is lowercase hex and not all zeros (`nonZero`), else false. A
 * charCode loop: no regex match array and no capture strings for values that fail.
 */
function isHexRun(value: string, start: number, end: number, nonZero: boolean): boolean {
  let any = !nonZero;
  for (let i = start; i < end; i++) {
    const d = hexDigit(value.charCodeAt(i));
    if (d < 0) return false;
    if (d !== 0) any = true;
  }
  return any;
}

/** Parses a `traceparent` header value, or returns undefined when it is not valid. */
export function parseTraceparent(value: unknown): ParsedTraceparent | undefined {
  if (typeof value !== 'string' || value.length < V00_LENGTH || value.length > MAX_TRACEPARENT_LENGTH) {
    return undefined;
  }
  // Layout of the first 55 characters: vv-<32 hex trace id>-<16 hex parent id>-ff.
  // Version 00 is exactly 55 characters. A higher version is parsed as 00 on its first 55
  // characters, and anything after them must start with '-' (spec §4.3 "Versioning").
  if (value.charCodeAt(2) !== 0x2d || value.charCodeAt(35) !== 0x2d || value.charCodeAt(52) !== 0x2d) {
    return undefined;
  }
  const v0 = hexDigit(value.charCodeAt(0));
  const v1 = hexDigit(value.charCodeAt(1));
  const f0 = hexDigit(value.charCodeAt(53));
  const f1 = hexDigit(value.charCodeAt(54));
  if (v0 < 0 || v1 < 0 || f0 < 0 || f1 < 0) return undefined;
  const versionByte = v0 * 16 + v1;
  if (versionByte === 0xff) return undefined;
  if (versionByte === 0 && value.length !== V00_LENGTH) return undefined;
  if (value.length > V00_LENGTH && value.charCodeAt(V00_LENGTH) !== 0x2d) return undefined;
  // Trace id and parent id: lowercase hex, not all zeros.
  if (!isHexRun(value, 3, 35, true) || !isHexRun(value, 36, 52, true)) return undefined;
  return {
    version: versionByte === 0 ? '00' : value.slice(0, 2),
    traceId: value.slice(3, 35),
    parentId: value.slice(36, 52),
    flags: (f0 * 16 + f1) & KNOWN_FLAGS,
  };
}

// Random hex comes from a pooled buffer: one randomFillSync per 512 span ids instead of a
// crypto call per request, and a 256-entry table turns each byte into its two hex characters
// (no Buffer#toString call, which crosses into C++ for every id).
const POOL = Buffer.allocUnsafe(4096);
let poolOffset = POOL.length;
const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function randomHex(bytes: number): string {
  if (poolOffset + bytes > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  let out = '';
  const end = poolOffset + bytes;
  for (let i = poolOffset; i < end; i++) out += HEX[POOL[i] as number] as string;
  poolOffset = end;
  return out;
}

/** A random span id: 16 lowercase hex characters, never all zero. */
export function newSpanId(): string {
  let id = randomHex(8);
  while (id === ZERO_SPAN) id = randomHex(8);
  return id;
}

/** A random trace id: 32 lowercase hex characters, never all zero. */
export function newTraceId(): string {
  let id = randomHex(16);
  while (id === ZERO_TRACE) id = randomHex(16);
  return id;
}

/**
 * The trace context of an incoming request: continues the caller's trace when `traceparent`
 * is valid, else starts a new one. Either way this service gets a fresh span id.
 */
export function traceFromHeaders(headers: IncomingHeaders): TraceContext {
  const raw = headers.traceparent;
  // Several traceparent headers cannot be told apart: treat them as none.
  const parsed = parseTraceparent(Array.isArray(raw) ? (raw.length === 1 ? raw[0] : undefined) : raw);
  const otel = activeOtelSpanContext();
  if (otel !== undefined) return fromOtel(otel, parsed);
  if (!parsed) return { traceId: newTraceId(), spanId: newSpanId(), flags: NEW_TRACE_FLAGS };
  const trace: TraceContext = {
    traceId: parsed.traceId,
    spanId: newSpanId(),
    parentId: parsed.parentId,
    flags: parsed.flags,
  };
  const state = acceptTracestate(headers.tracestate);
  if (state !== undefined) trace.tracestate = state;
  return trace;
}

/**
 * The trace context when OpenTelemetry is active: its span is this service's span. A remote span
 * context (extracted, no local span started) is the caller's: this service gets a fresh span id.
 */
function fromOtel(sc: OtelSpanContext, parsed: ParsedTraceparent | undefined): TraceContext {
  const trace: TraceContext = {
    traceId: sc.traceId,
    spanId: sc.isRemote ? newSpanId() : sc.spanId,
    flags: sc.traceFlags & 0xff,
  };
  if (sc.isRemote) trace.parentId = sc.spanId;
  else if (parsed !== undefined && parsed.traceId === sc.traceId) trace.parentId = parsed.parentId;
  let state: string | undefined;
  try {
    state = sc.traceState?.serialize();
  } catch {
    state = undefined;
  }
  if (state) trace.tracestate = state;
  return trace;
}

/** Formats a version-00 `traceparent` header value. */
export function formatTraceparent(traceId: string, spanId: string, flags: number): string {
  const f = flags & 0xff;
  return `00-${traceId}-${spanId}-${f < 16 ? '0' : ''}${f.toString(16)}`;
}

/**
 * The `traceparent` to send on one outgoing call made while handling this request: same trace,
 * same flags, and a fresh parent id for this call (each outgoing request is its own operation, so
 * two calls never share a parent id). With OpenTelemetry active, use `outgoingHeaders()` instead:
 * it leaves `traceparent` to OpenTelemetry.
 * @example
 * const ctx = getContext();
 * if (ctx) headers.traceparent = childTraceparent(ctx);
 */
export function childTraceparent(ctx: RequestContext | TraceContext): string {
  const t = 'trace' in ctx ? ctx.trace : ctx;
  return formatTraceparent(t.traceId, newSpanId(), t.flags);
}
