/**
 * Policies' events as span events on the active OpenTelemetry span: one subscriber on the
 * `bulwark:event` diagnostics channel, on which every EventStream (the default one and each
 * registry's) publishes, so no policy knows about OTel. Installed the first time Bulwark sees an
 * active OTel span (or by `otelSpanEvents(true)`).
 *
 * An event becomes `bulwark.<type>` (e.g. `bulwark.retry.scheduled`, `bulwark.breaker.rejected`,
 * `bulwark.timeout`, `bulwark.fallback.used`) with `bulwark.policy`, the event's numeric and
 * string fields as `bulwark.<field>` in snake case (`bulwark.delay_ms`), and `error.type` (the error's code or class name). Never the
 * policy key (it may be a client address or an API key), the correlation ID or an error message.
 * `success` and `failure` (one per call) are not recorded.
 */
import diagnostics from 'node:diagnostics_channel';
import { DIAGNOSTICS_CHANNEL } from '../telemetry/events.js';
import type { OtelApi } from './otel.js';

const SKIPPED_TYPES: ReadonlySet<string> = new Set(['success', 'failure']);
const SKIPPED_FIELDS: ReadonlySet<string> = new Set([
  'type',
  'at',
  'policy',
  'key',
  'correlationId',
  'error',
]);

let listener: ((message: unknown) => void) | undefined;
let optedOut = false;

/** The `error.type` of an error: its code when it has a string one, else its class name. */
function errorType(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.length <= 64) return code;
    const name = (error as { name?: unknown }).name;
    if (typeof name === 'string' && name.length <= 64) return name;
  }
  return typeof error;
}

/** `delayMs` → `delay_ms`: OpenTelemetry's attribute naming. */
function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function record(api: OtelApi, message: unknown): void {
  const e = message as Record<string, unknown> | null;
  if (e === null || typeof e !== 'object' || typeof e.type !== 'string' || SKIPPED_TYPES.has(e.type)) return;
  const span = api.trace.getSpan(api.context.active());
  if (span === undefined || !span.isRecording()) return;
  const attributes: Record<string, string | number | boolean> = {};
  if (typeof e.policy === 'string') attributes['bulwark.policy'] = e.policy;
  for (const k in e) {
    if (SKIPPED_FIELDS.has(k)) continue;
    const v = e[k];
    if (typeof v === 'number' || typeof v === 'boolean' || (typeof v === 'string' && v.length <= 256)) {
      attributes[`bulwark.${snake(k)}`] = v;
    }
  }
  if ('error' in e) attributes['error.type'] = errorType(e.error);
  span.addEvent(`bulwark.${e.type}`, attributes);
}

/** Starts recording policies' events on the active span (idempotent; not after an opt-out unless `force`). */
export function installSpanEvents(api: OtelApi, force = false): void {
  if (listener !== undefined || (optedOut && !force)) return;
  optedOut = false;
  const l = (message: unknown) => {
    try {
      record(api, message);
    } catch {
      // Telemetry must never change the outcome of the call it observes.
    }
  };
  listener = l;
  diagnostics.subscribe(DIAGNOSTICS_CHANNEL, l);
}

/** Stops recording, and keeps it stopped (no automatic re-install). */
export function uninstallSpanEvents(): void {
  optedOut = true;
  if (listener === undefined) return;
  diagnostics.unsubscribe(DIAGNOSTICS_CHANNEL, listener);
  listener = undefined;
}

/** True while span events are recorded. */
export function spanEventsInstalled(): boolean {
  return listener !== undefined;
}
