/**
 * The Koa adapter: turns `ctx` into an InboundRequest, hands it to core's HTTP engine, and writes
 * the engine's decisions back onto `ctx`. It decides nothing itself (see DESIGN.md, the one rule).
 */

import type { ServerResponse } from 'node:http';
import { type Bulwark, type BulwarkConfig, createBulwark, type IdempotencyOptions } from '@bulwark/core';
import {
  AdapterRequest,
  type Admission,
  AdmissionView,
  captureResponse,
  type IdempotencyAnswer,
  type InboundRequest,
  type OutboundResponse,
  PROBLEM_CONTENT_TYPE,
  type RouteProtection,
  subjectOf,
  writeAdmissionHeaders,
} from '@bulwark/core/adapter';
import type { Context, Middleware } from 'koa';

/** A route handler run under protection: gets the Koa context and the signal to honour; may return the body. */
export type ProtectedHandler<T = unknown> = (ctx: Context, signal: AbortSignal) => T | Promise<T>;

/** Options of `idempotency()`: core's {@link IdempotencyOptions}, and who the caller is. */
export interface KoaIdempotencyOptions extends IdempotencyOptions {
  /** The authenticated subject keys are scoped to. Default: `ctx.state.user` (koa-jwt, koa-passport; its `id` or `sub`); without one, the client address. */
  caller?: (ctx: Context) => string | undefined;
}

/** What {@link bulwark} returns: the Koa middleware, a route wrapper and the core it drives. */
export interface BulwarkKoa {
  /** Admits or sheds each request, sets `ctx.state.bulwark`, and answers errors as problem+json. Mount it first. */
  readonly middleware: Middleware;
  /** Wraps a route handler in a named policy, an inline policy or a timeout; a returned value becomes `ctx.body`. */
  protect<T>(protection: RouteProtection, handler: ProtectedHandler<T>): Middleware;
  /**
   * Idempotency keys (IETF draft) for POST and PATCH: replays a retried request's stored answer, 409
   * while the first runs, 422 for a key reused with another body. Mount it after the body parser and
   * authentication, on the routes it protects (or app-wide).
   */
  idempotency(options?: KoaIdempotencyOptions): Middleware;
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

  /** Admits the request, then runs `inner` in its context and answers whatever it throws. */
  async function admitThen(ctx: Context, inner: () => Promise<unknown>): Promise<void> {
    const inbound = new Inbound(ctx);
    (ctx as Stateful)[STATE] = inbound;
    const { res } = ctx;
    // 'close' follows 'finish' too, so one listener both aborts on disconnect and releases. Listening
    // before admission also catches a client that leaves while queued (it gives up its place).
    (res as Stateful)[STATE] = inbound;
    res.on('close', onClose);
    const pending = engine.admit(inbound);
    const admission = pending instanceof Promise ? await pending : pending; // skips a tick when nothing waited
    inbound.admission = admission;
    if (inbound.gone || res.destroyed) {
      // The client left while the request waited for admission: release, never run the handler.
      admission.release();
      return;
    }
    writeAdmissionHeaders(res, admission);
    if (admission.rejection) return send(ctx, admission.rejection);

    ctx.state.bulwark = new AdmissionView(admission, engine);
    const upstreamHeaders = res.getHeaderNames();
    try {
      await engine.run(admission, inner);
      // Nothing answered (Koa's default 404 with no body): answer it as a problem, as for any error.
      if (ctx.status === 404 && ctx.body == null && !ctx.headerSent) throw notFound();
    } catch (err) {
      if (ctx.headerSent) {
        // Too late to answer. Koa's onerror would report it and leave the response hanging (holding
        // the bulkhead slot until the client gives up); report it and cut the response instead.
        ctx.app.emit('error', asError(err), ctx);
        res.destroy();
        return;
      }
      // Handled here, so Koa's onerror never sees it: the engine reports an unknown 5xx once, through
      // `http.onError` or, by default, Inbound.reportError (the app's 'error' event).
      const out = engine.toResponse(err, inbound, admission.context);
      // Like Koa's onerror: drop headers meant for the failed answer (but keep upstream ones, e.g. CORS);
      // the engine's answer carries the error's own `headers` (http-errors convention).
      for (const name of res.getHeaderNames()) if (!upstreamHeaders.includes(name)) res.removeHeader(name);
      send(ctx, out);
    }
  }

  /** The admission of an admitted (not rejected) request. */
  const admissionOf = (ctx: Context): Admission | undefined => {
    const a = (ctx as Stateful)[STATE]?.admission;
    return a === undefined || a.rejection ? undefined : a;
  };

  const middleware: Middleware = (ctx, next) => {
    // Mounted twice (app-level and on a route): the first admission stands.
    if ((ctx as Stateful)[STATE] !== undefined) return next();
    return admitThen(ctx, next);
  };

  function protect<T>(protection: RouteProtection, handler: ProtectedHandler<T>): Middleware {
    const route = engine.route(protection); // validated now: a typo in a policy name fails at start-up
    const run = async (ctx: Context, admission: Admission): Promise<void> => {
      const value = await engine.protect(admission, route, (signal) => handler(ctx, signal));
      if (ctx.body === undefined && value !== undefined) ctx.body = value;
    };
    return (ctx) => {
      const admission = admissionOf(ctx);
      if (admission) return run(ctx, admission);
      // No app-level middleware: admit here, where a router's matched pattern is known.
      return admitThen(ctx, () => run(ctx, admissionOf(ctx) as Admission));
    };
  }

  function idempotency(options: KoaIdempotencyOptions = {}): Middleware {
    const { caller = (ctx: Context) => subjectOf(ctx.state.user), ...rest } = options;
    const guard = engine.idempotencyGuard(rest); // validated now
    return async (ctx, next) => {
      const { remoteAddress } = (ctx as Stateful)[STATE] ?? new Inbound(ctx);
      const body: unknown = (ctx.request as { body?: unknown }).body;
      const req = { method: ctx.method, path: ctx.path, headers: ctx.headers, remoteAddress, body };
      const d = await guard.begin({ ...req, caller: caller(ctx) });
      if (d.action === 'answer') return answer(ctx, d.answer);
      if (d.action === 'run') captureResponse(ctx.res, d.maxBodyBytes, d.complete);
      return next();
    };
  }

  return { middleware, protect, idempotency, core };
}

// Per-request state sits on ctx and ctx.res under a symbol: no WeakMap entry per request
// (ephemerons make the young-generation GC keep whole requests alive) and no closure per request.
const STATE = Symbol('bulwark.koa');
type Stateful = { [STATE]?: Inbound };

/** Describes the Koa request for the engine; @koa/router's matched pattern (if any) keys per-route limits. */
class Inbound extends AdapterRequest {
  readonly method: string;
  readonly path: string;
  readonly routeKey: string | undefined;
  readonly headers: InboundRequest['headers'];
  readonly remoteAddress: string | undefined;
  readonly #ctx: Context;

  constructor(ctx: Context) {
    super();
    const route: unknown = (ctx as { _matchedRoute?: unknown })._matchedRoute;
    this.method = ctx.method;
    this.path = ctx.path;
    this.routeKey = typeof route === 'string' ? `${ctx.method} ${route}` : undefined;
    this.headers = ctx.headers;
    this.remoteAddress = ctx.ip || undefined; // ctx.ip honours app.proxy, Koa's trusted-proxy switch
    this.#ctx = ctx;
  }

  /** The engine sets the degraded header through this the moment an answer is marked degraded. */
  setHeader(name: string, value: string): void {
    if (!this.#ctx.headerSent) this.#ctx.set(name, value);
  }

  /** Koa's way of reporting an error (the default when `http.onError` is not set): the app's 'error' event. */
  reportError(error: unknown): void {
    this.#ctx.app.emit('error', asError(error), this.#ctx);
  }
}

/** The response closed ('close' follows 'finish' too): aborts if it never finished (the client left), then releases. */
function onClose(this: ServerResponse): void {
  const inbound = (this as Stateful)[STATE];
  if (inbound === undefined) return;
  inbound.closed(this.writableFinished);
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

/** Writes an idempotency answer (a replay or a refusal) onto the Koa context. */
function answer(ctx: Context, a: IdempotencyAnswer): void {
  ctx.set(a.headers); // before the body: Koa keeps a Content-Type that is already set
  ctx.body = a.body ?? null;
  ctx.status = a.status; // after the body, as in send()
}

/** What an unmatched request answers: a 404 whose message may be shown. */
function notFound(): Error {
  return Object.assign(new Error('No route matches this method and path.'), { status: 404, expose: true });
}

/** Koa's error listener only accepts errors; wrap anything else as Koa's own onerror does. */
function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(`non-error thrown: ${String(err)}`);
}

function isBulwark(x: Bulwark | BulwarkConfig): x is Bulwark {
  return typeof (x as Bulwark).run === 'function' && typeof (x as Bulwark).http?.admit === 'function';
}
