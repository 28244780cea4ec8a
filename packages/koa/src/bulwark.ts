/**
 * The Koa adapter: turns `ctx` into an InboundRequest, hands it to core's HTTP engine, and writes
 * the engine's decisions back onto `ctx`. It decides nothing itself (see DESIGN.md, the one rule).
 */
import {
  type Admission,
  type Bulwark,
  type BulwarkConfig,
  createBulwark,
  type InboundRequest,
  markDegraded,
  type OutboundResponse,
  PROBLEM_CONTENT_TYPE,
  type RouteProtection,
} from '@bulwark/core';
import type { Context, Middleware } from 'koa';
import type {} from './state.js';

/** A route handler run under protection: gets the Koa context and the signal to honour; may return the body. */
export type ProtectedHandler<T = unknown> = (ctx: Context, signal: AbortSignal) => T | Promise<T>;

/** What {@link bulwark} returns: the Koa middleware, a route wrapper and the core it drives. */
export interface BulwarkKoa {
  /** Admits or sheds each request, sets `ctx.state.bulwark`, and answers errors as problem+json. Mount it first. */
  readonly middleware: Middleware;
  /** Wraps a route handler in a named policy, an inline policy or a timeout; a returned value becomes `ctx.body`. */
  protect<T>(protection: RouteProtection, handler: ProtectedHandler<T>): Middleware;
  /** The Bulwark core (registry, policies, engine); close it on shutdown. */
  readonly core: Bulwark;
}

/**
 * Koa middleware for Bulwark, from a core built with `createBulwark` or from its config.
 * @example
 * const { middleware, protect } = bulwark({ policies: { db: { timeout: '2s' } } });
 * app.use(middleware);
 * app.use(protect({ policy: 'db' }, (ctx, signal) => db.query(sql, { signal })));
 */
export function bulwark(coreOrConfig: Bulwark | BulwarkConfig = {}): BulwarkKoa {
  const core = isBulwark(coreOrConfig) ? coreOrConfig : createBulwark(coreOrConfig);
  const engine = core.http;
  // Keyed by ctx, so protect() finds the admission without exposing it on ctx.state.
  const admissions = new WeakMap<Context, Admission>();

  /** Admits the request, then runs `inner` in its context and answers whatever it throws. */
  async function admitThen(ctx: Context, inner: () => Promise<unknown>): Promise<void> {
    const inbound = toInbound(ctx);
    const pending = engine.admitFast(inbound);
    const admission = pending instanceof Promise ? await pending : pending; // skips a tick when nothing waited
    const { res } = ctx;
    const ended = () => {
      if (!res.writableFinished) admission.abort(); // closed before the answer was written: the client left
      admission.release();
    };
    // 'close' follows 'finish' too, so one listener both aborts on disconnect and releases.
    if (res.destroyed) ended();
    else res.once('close', ended);
    ctx.set(admission.headers);
    if (admission.rejection) return send(ctx, admission.rejection);

    const { context } = admission;
    context.onDegraded = (reasons) => {
      if (!ctx.headerSent) ctx.set(engine.degradedHeader, engine.degradedValue(reasons));
    };
    ctx.state.bulwark = {
      correlationId: context.correlationId,
      deadline: context.deadline,
      // Getters: the engine builds the trace context and the AbortController (with its deadline
      // timer) only when someone reads them, and most handlers never do.
      get traceId() {
        return context.trace.traceId;
      },
      get spanId() {
        return context.trace.spanId;
      },
      get signal() {
        return admission.signal;
      },
      context,
      degrade: (reason) => engine.run(admission, () => markDegraded(reason)),
    };
    admissions.set(ctx, admission);
    const upstreamHeaders = res.getHeaderNames();
    try {
      await engine.run(admission, inner);
    } catch (err) {
      if (ctx.headerSent) {
        // Too late to answer. Koa's onerror would report it and leave the response hanging (holding
        // the bulkhead slot until the client gives up); report it and cut the response instead.
        ctx.app.emit('error', asError(err), ctx);
        res.destroy();
        return;
      }
      const out = engine.toResponse(err, inbound, context);
      // Handled here, so Koa's onerror never sees it: emit server errors so the app's listener logs them.
      if (out.status >= 500) ctx.app.emit('error', asError(err), ctx);
      // Like Koa's onerror: drop headers meant for the failed answer (but keep upstream ones, e.g. CORS),
      // then apply the error's own `headers` (http-errors convention) before the engine's.
      for (const name of res.getHeaderNames()) if (!upstreamHeaders.includes(name)) res.removeHeader(name);
      ctx.set(errorHeaders(err));
      send(ctx, out);
    }
  }

  const middleware: Middleware = (ctx, next) => {
    // Mounted twice (app-level and on a route): the first admission stands.
    if (admissions.has(ctx)) return next();
    return admitThen(ctx, next);
  };

  function protect<T>(protection: RouteProtection, handler: ProtectedHandler<T>): Middleware {
    const run = async (ctx: Context, admission: Admission): Promise<void> => {
      const value = await engine.protect(admission, protection, (signal) => handler(ctx, signal));
      if (ctx.body === undefined && value !== undefined) ctx.body = value;
    };
    return (ctx) => {
      const admission = admissions.get(ctx);
      if (admission) return run(ctx, admission);
      // No app-level middleware: admit here, where a router's matched pattern is known.
      return admitThen(ctx, () => run(ctx, admissions.get(ctx) as Admission));
    };
  }

  return { middleware, protect, core };
}

/** Describes the Koa request for the engine; @koa/router's matched pattern (if any) keys per-route limits. */
function toInbound(ctx: Context): InboundRequest {
  const route: unknown = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  return {
    method: ctx.method,
    path: ctx.path,
    routeKey: typeof route === 'string' ? `${ctx.method} ${route}` : undefined,
    headers: ctx.headers,
    remoteAddress: ctx.ip || undefined, // ctx.ip honours app.proxy, Koa's trusted-proxy switch
  };
}

/** Writes a complete engine response (rejection or problem) onto the Koa context. */
function send(ctx: Context, out: OutboundResponse): void {
  if (out.body === undefined) {
    ctx.body = null; // explicit: no body (HEAD), and drops whatever a handler set before failing
  } else {
    ctx.body = out.body;
    ctx.type = PROBLEM_CONTENT_TYPE;
  }
  ctx.status = out.status; // after the body: a null body would otherwise turn the status into 204
  ctx.set(out.headers);
}

/** Headers an error carries by the http-errors convention (`ctx.throw(401, { headers })`), minus generated ones. */
function errorHeaders(err: unknown): Record<string, string> {
  const headers: Record<string, string> = {};
  const given = typeof err === 'object' && err !== null ? (err as { headers?: unknown }).headers : undefined;
  if (typeof given !== 'object' || given === null) return headers;
  for (const [name, value] of Object.entries(given)) {
    if (typeof value === 'string' && !/^content-(type|length)$/i.test(name)) headers[name] = value;
  }
  return headers;
}

/** Koa's error listener only accepts errors; wrap anything else as Koa's own onerror does. */
function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(`non-error thrown: ${String(err)}`);
}

function isBulwark(x: Bulwark | BulwarkConfig): x is Bulwark {
  return typeof (x as Bulwark).run === 'function' && typeof (x as Bulwark).http?.admit === 'function';
}
