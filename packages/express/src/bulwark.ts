/**
 * The Express adapter: turns `req` into an InboundRequest, hands it to core's HTTP engine, and
 * writes the engine's decisions back. It decides nothing itself (see DESIGN.md, the one rule).
 */
import { type Bulwark, type BulwarkConfig, createBulwark, type IdempotencyOptions } from '@bulwark/core';
import {
  AdapterRequest,
  type Admission,
  AdmissionView,
  captureResponse,
  type IdempotencyAnswer,
  type IdempotencyDecision,
  type InboundRequest,
  type OutboundResponse,
  type RouteProtection,
  subjectOf,
  writeAdmissionHeaders,
} from '@bulwark/core/adapter';
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';

/** A route handler run under route protection; a value it returns is sent as JSON. */
export type ProtectedHandler<T = unknown> = (
  req: Request,
  res: Response,
  signal: AbortSignal,
) => T | Promise<T>;

/** Options of `idempotency()`: core's {@link IdempotencyOptions}, and who the caller is. */
export interface ExpressIdempotencyOptions extends IdempotencyOptions {
  /** The authenticated subject keys are scoped to. Default: Passport's `req.user` (its `id` or `sub`); without one, the client address. */
  caller?: (req: Request) => string | undefined;
}

/** What {@link bulwark} returns: the middlewares and the core they share. */
export interface BulwarkExpress {
  /** Admits or sheds each request, sets `req.bulwark`, and runs the rest of the chain in its context. */
  readonly middleware: RequestHandler;
  /** Wraps a route handler in route protection (a named or inline policy, a timeout). */
  protect<T>(protection: RouteProtection, handler: ProtectedHandler<T>): RequestHandler;
  /**
   * Idempotency keys (IETF draft) for POST and PATCH: replays a retried request's stored answer, 409
   * while the first runs, 422 for a key reused with another body. Mount it after body parsing and
   * authentication, on the routes it protects (or app-wide).
   */
  idempotency(options?: ExpressIdempotencyOptions): RequestHandler;
  /** Answers any request that reached it with a 404 `application/problem+json`; mount it after every route, before `errorHandler`. */
  readonly notFound: RequestHandler;
  /** Error middleware writing any error as `application/problem+json`; mount it last. */
  readonly errorHandler: ErrorRequestHandler;
  /** The Bulwark core instance (call `core.close()` on shutdown). */
  readonly core: Bulwark;
}

function isBulwark(value: Bulwark | BulwarkConfig): value is Bulwark {
  return typeof (value as Partial<Bulwark>).run === 'function' && 'http' in value;
}

/** The path without its query string, from the mount root (`originalUrl` survives routers). */
function pathOf(req: Request): string {
  const url = req.originalUrl || req.url;
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

// The adapter's per-request state lives on `req` under a symbol: no WeakMap entry per request
// (ephemerons make the young-generation GC keep whole requests alive) and no closure per request.
const STATE = Symbol('bulwark.express');
type Stateful = { [STATE]?: Inbound };

/**
 * Describes `req` for the engine, and holds the adapter's state of one request (its admission).
 * The route pattern is only known once a route matched: a route-level middleware (or `protect()`
 * without the app-level middleware) passes it (`GET /users/:id`); an app-level one passes none, so
 * the engine's default key is engine-wide (never the raw path, which a client could vary at will).
 */
class Inbound extends AdapterRequest {
  readonly method: string;
  readonly path: string;
  readonly routeKey: string | undefined;
  readonly headers: InboundRequest['headers'];
  readonly remoteAddress: string | undefined;
  readonly #res: Response;

  constructor(req: Request, res: Response) {
    super();
    const path = pathOf(req);
    const route: unknown = (req.route as { path?: unknown } | undefined)?.path;
    this.method = req.method;
    this.path = path;
    this.routeKey = typeof route === 'string' ? `${req.method} ${req.baseUrl}${route}` : undefined;
    this.headers = req.headers;
    // req.ip runs proxy-addr on every read; it only differs from the socket's address behind a trusted proxy.
    this.remoteAddress = req.app.enabled('trust proxy')
      ? (req.ip ?? req.socket.remoteAddress)
      : req.socket.remoteAddress;
    this.#res = res;
  }

  /** The engine sets the degraded header through this the moment an answer is marked degraded. */
  setHeader(name: string, value: string): void {
    if (!this.#res.headersSent) this.#res.setHeader(name, value);
  }
}

/** The response closed: after 'finish' (Node emits 'close' after it), or because the client left. */
function onClose(this: Response): void {
  const state = (this.req as Stateful)[STATE];
  if (state === undefined) return;
  state.closed(this.writableFinished);
}

/** Writes a complete engine response (rejections and problems). */
function send(req: Request, res: Response, out: OutboundResponse): void {
  res.status(out.status);
  for (const name in out.headers) res.setHeader(name, out.headers[name] as string);
  res.end(out.body === undefined || req.method === 'HEAD' ? undefined : JSON.stringify(out.body));
}

/** Writes an idempotency answer (a replay or a refusal) as it is. */
function answer(res: Response, a: IdempotencyAnswer): void {
  res.status(a.status);
  for (const name in a.headers) res.setHeader(name, a.headers[name] as string);
  res.end(a.body);
}

/**
 * Creates the Express middlewares from a Bulwark core instance, or from a config (a new core).
 * @example
 * const bw = bulwark({ http: { bulkhead: { maxConcurrent: 100, maxQueue: 50 } } });
 * app.use(bw.middleware);
 * app.get('/users/:id', bw.protect({ timeout: '2s' }, (req, _res, signal) => users.get(req.params.id, signal)));
 * app.use(bw.notFound);
 * app.use(bw.errorHandler);
 */
export function bulwark(coreOrConfig: Bulwark | BulwarkConfig = {}): BulwarkExpress {
  const core = isBulwark(coreOrConfig) ? coreOrConfig : createBulwark(coreOrConfig);
  const engine = core.http;

  /** Handles the engine's decision: headers, a rejection, or `then` (default: `next()`) run in the request context. */
  function onAdmission(
    req: Request,
    res: Response,
    next: NextFunction,
    state: Inbound,
    a: Admission,
    then?: () => void,
  ): void {
    state.admission = a;
    if (state.gone) {
      a.release();
      return;
    }
    writeAdmissionHeaders(res, a);
    if (a.rejection) {
      send(req, res, a.rejection);
      return;
    }
    req.bulwark = new AdmissionView(a, engine);
    // express-request-id / pino-http convention: `req.id` is the request's ID (pino-http then logs ours).
    const r = req as { id?: unknown };
    if (r.id === undefined) r.id = a.context.correlationId;
    engine.run(a, then ?? next);
  }

  /** Admits `req`; once admitted runs `then` inside the request context; a rejection is written and ends the chain. */
  function admitThen(req: Request, res: Response, next: NextFunction, then?: () => void): void {
    const state = new Inbound(req, res);
    (req as Stateful)[STATE] = state;
    // Listening before admit() also catches a client that leaves while queued in the bulkhead.
    res.on('close', onClose);
    // An admission, or a promise of one only when the request had to wait (queue, store).
    const pending = engine.admit(state);
    // Express 4 ignores rejected promises, so every async failure is forwarded to next(err).
    if (pending instanceof Promise) {
      pending.then((a) => onAdmission(req, res, next, state, a, then)).catch(next);
    } else onAdmission(req, res, next, state, pending, then);
  }

  /** The admission of an admitted (not rejected) request. */
  const admissionOf = (req: Request): Admission | undefined => {
    const a = (req as Stateful)[STATE]?.admission;
    return a === undefined || a.rejection ? undefined : a;
  };

  const middleware: RequestHandler = (req, res, next) => {
    // Mounted twice (app-level and route-level): the first admission stands.
    if ((req as Stateful)[STATE] !== undefined) return next();
    admitThen(req, res, next);
  };

  function protect<T>(protection: RouteProtection, handler: ProtectedHandler<T>): RequestHandler {
    const route = engine.route(protection); // validated now: a typo in a policy name fails at start-up
    const run = (req: Request, res: Response, next: NextFunction, admission: Admission): void => {
      engine
        .protect(admission, route, (signal) => handler(req, res, signal))
        .then((value) => {
          if (value !== undefined && !res.headersSent) res.json(value);
        })
        .catch(next);
    };
    return (req, res, next) => {
      const admission = admissionOf(req);
      if (admission) return run(req, res, next, admission);
      // No app-level middleware: admit here, where the route pattern is known.
      admitThen(req, res, next, () => run(req, res, next, admissionOf(req) as Admission));
    };
  }

  const errorHandler: ErrorRequestHandler = (err, req, res, next) => {
    if (res.headersSent) return next(err);
    const inbound = (req as Stateful)[STATE] ?? new Inbound(req, res);
    send(req, res, engine.toResponse(err, inbound, req.bulwark?.context));
  };

  const notFound: RequestHandler = (req, res) => {
    const inbound = (req as Stateful)[STATE] ?? new Inbound(req, res);
    const err = Object.assign(new Error('No route matches this method and path.'), {
      status: 404,
      expose: true,
    });
    send(req, res, engine.toResponse(err, inbound, req.bulwark?.context));
  };

  function idempotency(options: ExpressIdempotencyOptions = {}): RequestHandler {
    const { caller = (req: Request) => subjectOf((req as { user?: unknown }).user), ...rest } = options;
    const guard = engine.idempotencyGuard(rest); // validated now
    return (req, res, next) => {
      const inbound = (req as Stateful)[STATE] ?? new Inbound(req, res);
      const act = (d: IdempotencyDecision): void => {
        if (d.action === 'answer') answer(res, d.answer);
        else {
          if (d.action === 'run') captureResponse(res, d.maxBodyBytes, d.complete);
          next();
        }
      };
      const { path, remoteAddress } = inbound;
      const body: unknown = req.body;
      const d = guard.begin({
        method: req.method,
        path,
        headers: req.headers,
        remoteAddress,
        caller: caller(req),
        body,
      });
      if (d instanceof Promise) d.then(act, next);
      else act(d);
    };
  }

  return { middleware, protect, idempotency, notFound, errorHandler, core };
}
