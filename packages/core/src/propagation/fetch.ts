/**
 * Automatic propagation for the global `fetch` and undici: a subscriber on undici's
 * `undici:request:create` diagnostics channel adds the headers to every request created inside a
 * request context. No client code changes; headers the caller set are left alone.
 */
import diagnostics from 'node:diagnostics_channel';
import { getContext } from '../context/context.js';
import { otelFields } from '../context/otel.js';
import type { Disposable } from '../types.js';
import { type PropagationOptions, planOutgoing, resolvePropagation, spentError } from './headers.js';

/** undici's diagnostics channel published when a request object is created, before it is sent. */
export const UNDICI_REQUEST_CREATE = 'undici:request:create';

/** Options of {@link enableFetchPropagation}. */
export interface FetchPropagationOptions extends PropagationOptions {
  /**
   * When the budget is spent, fail the call before anything is written (default true): fetch
   * rejects with `TypeError('fetch failed')` whose `cause` is the `DeadlineExceededError`.
   * When false, the call goes out with a deadline of `0` and the next service refuses it.
   */
  failFast?: boolean;
}

/** The part of undici's request object the subscriber touches (undici 6 and 7). */
interface UndiciRequest {
  origin?: unknown;
  path?: unknown;
  method?: unknown;
  /** undici 7: flat `[name, value, ...]`; undici 6: `name: value\r\n` lines. */
  headers?: unknown;
  addHeader?: (name: string, value: string) => unknown;
  error?: unknown;
}

/** Lower-case names of the headers already on `request`. */
function presentHeaders(headers: unknown): Set<string> {
  const names = new Set<string>();
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) {
      const n = headers[i];
      if (typeof n === 'string') names.add(n.toLowerCase());
    }
  } else if (typeof headers === 'string') {
    for (const line of headers.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) names.add(line.slice(0, colon).trim().toLowerCase());
    }
  }
  return names;
}

/** Removes the first header `name` (lower case) from an undici request's headers. */
function removeHeader(request: UndiciRequest, name: string): void {
  const h = request.headers;
  if (Array.isArray(h)) {
    for (let i = 0; i < h.length; i += 2) {
      if (typeof h[i] === 'string' && (h[i] as string).toLowerCase() === name) {
        h.splice(i, 2);
        return;
      }
    }
  } else if (typeof h === 'string') {
    const lines = h.split('\r\n');
    const i = lines.findIndex((l) => l.slice(0, l.indexOf(':')).trim().toLowerCase() === name);
    if (i >= 0) {
      lines.splice(i, 1);
      request.headers = lines.join('\r\n');
    }
  }
}

/**
 * When an OTel propagator is registered, the trace headers this subscriber added are provisional:
 * should the undici instrumentation subscribe after us (the SDK started after
 * `enableFetchPropagation`), its own `addHeader` of the same name replaces ours, so the request
 * carries exactly one `traceparent` whichever subscribed first.
 */
function makeProvisional(request: UndiciRequest, added: readonly string[], fields: readonly string[]): void {
  const ours = new Set<string>();
  for (const name of added) if (fields.includes(name)) ours.add(name);
  if (ours.size === 0) return;
  const add = request.addHeader as (name: string, value: string) => unknown;
  request.addHeader = function addHeader(this: UndiciRequest, name: string, value: string) {
    const n = typeof name === 'string' ? name.toLowerCase() : '';
    if (ours.delete(n)) removeHeader(this, n);
    return add.call(this, name, value);
  };
}

/**
 * Starts adding the correlation ID, `traceparent`, `tracestate` and deadline headers to every
 * `fetch`/undici request made inside a request context; `dispose()` stops it.
 * @example
 * const propagation = enableFetchPropagation({ margin: '50ms' });
 * // ... later, on shutdown:
 * propagation.dispose();
 */
export function enableFetchPropagation(options?: FetchPropagationOptions): Disposable {
  const o = resolvePropagation(options);
  const failFast = options?.failFast ?? true;
  const onCreate = (message: unknown): void => {
    const ctx = getContext();
    if (ctx === undefined) return;
    // A subscriber that throws would surface as an uncaught exception: never let it.
    try {
      const request = (message as { request?: UndiciRequest } | null)?.request;
      if (!request || typeof request.addHeader !== 'function') return;
      if (o.shouldPropagate) {
        const target = {
          origin: typeof request.origin === 'string' ? request.origin : String(request.origin ?? ''),
          path: typeof request.path === 'string' ? request.path : '',
          method: typeof request.method === 'string' ? request.method.toUpperCase() : 'GET',
        };
        if (!o.shouldPropagate(target)) return;
      }
      // OTel's trace headers through propagation.inject when its propagator owns them (Bulwark's
      // own otherwise, or with no active span); a header already there (the caller's, or the
      // undici instrumentation's when it subscribed first) is left alone, and then nothing is
      // injected at all.
      const present = presentHeaders(request.headers);
      const fields = otelFields();
      const otelFirst = fields.length > 0 && present.has('traceparent');
      const plan = planOutgoing(ctx, o, Date.now(), otelFirst ? 'leave' : 'inject');
      const added: string[] = [];
      for (const name in plan.headers) {
        if (present.has(name)) continue;
        request.addHeader(name, plan.headers[name] as string);
        added.push(name);
      }
      if (fields.length > 0 && !otelFirst) makeProvisional(request, added, fields);
      if (plan.spent && failFast) {
        // undici aborts a request whose `error` is set when it is about to be written, before any
        // byte reaches the server (Request#onConnect). The deadline header of 0 is the fallback.
        request.error = spentError(
          o,
          plan.budgetMs,
          typeof request.origin === 'string' ? request.origin : undefined,
        );
      }
    } catch {
      // Propagation is best effort; the call itself must not fail because of it.
    }
  };
  diagnostics.subscribe(UNDICI_REQUEST_CREATE, onCreate);
  let active = true;
  return {
    dispose() {
      if (!active) return;
      active = false;
      diagnostics.unsubscribe(UNDICI_REQUEST_CREATE, onCreate);
    },
  };
}
