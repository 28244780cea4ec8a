/**
 * The Express adapter: turns `req` into an InboundRequest, hands it to core's HTTP engine, and
 * writes the engine's decisions back. It decides nothing itself (see DESIGN.md, the one rule).
 */
import {
  type Admission,
  type Bulwark,
  type BulwarkConfig,
  createBulwark,
  type HttpEngineLike,
  type InboundRequest,
  markDegraded,
  type OutboundResponse,
  type RequestContext,
  type RouteProtection,
} from '@bulwark/core';
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import type { BulwarkRequest } from './types.js';

/** A route handler run under route protection; a value it returns is sent as JSON. */
export type ProtectedHandler<T = unknown> = (
  req: Request,
  res: Response,
  signal: AbortSignal,
) => T | Promise<T>;

/** What {@link bulwark} returns: the middlewares and the core they share. */
export interface BulwarkExpress {
  /** Admits or sheds each request, sets `req.bulwark`, and runs the rest of the chain in its context. */
  readonly middleware: RequestHandler;
  /** Wraps a route handler in route protection (a named or inline policy, a timeout). */
  protect<T>(protection: RouteProtection, handler: ProtectedHandler<T>): RequestHandler;
  /** Error middleware writing any error as `application/problem+json`; mount it last. */
  readonly errorHandler: ErrorRequestHandler;
  /** The Bulwark core instance (call `core.close()` on shutdown). */
  readonly core: Bulwark;
}

interface Admitted {
  admission: Admission;
  inbound: InboundRequest;
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

/**
 * Describes `req` for the engine. The route pattern is only known once a route matched, so an
 * app-level middleware keys by path (`GET /users/42`) and a route-level one (or `protect()` used
 * without the app-level middleware) keys by pattern (`GET /users/:id`).
 */
function toInbound(req: Request, res: Response): InboundRequest {
  const path = pathOf(req);
  const route: unknown = (req.route as { path?: unknown } | undefined)?.path;
  return {
    method: req.method,
    path,
    routeKey: `${req.method} ${typeof route === 'string' ? req.baseUrl + route : path}`,
    headers: req.headers,
    remoteAddress: req.ip ?? req.socket.remoteAddress,
    // The engine sets the degraded header through this the moment an answer is marked degraded.
    setHeader: (name, value) => {
      if (!res.headersSent) res.setHeader(name, value);
    },
  };
}

/** Writes a complete engine response (rejections and problems). */
function send(req: Request, res: Response, out: OutboundResponse): void {
  res.status(out.status);
  for (const [name, value] of Object.entries(out.headers)) res.setHeader(name, value);
  res.end(out.body === undefined || req.method === 'HEAD' ? undefined : JSON.stringify(out.body));
}

/** `req.bulwark`: getters over the admission, so the signal (and its deadline timer) is only created when read. */
class RequestInfo implements BulwarkRequest {
  constructor(
    private readonly admission: Admission,
    private readonly engine: HttpEngineLike,
  ) {}
  get correlationId(): string {
    return this.admission.context.correlationId;
  }
  get traceId(): string {
    return this.admission.context.trace.traceId;
  }
  get spanId(): string {
    return this.admission.context.trace.spanId;
  }
  get deadline(): number | undefined {
    return this.admission.context.deadline;
  }
  get signal(): AbortSignal {
    return this.admission.signal;
  }
  get context(): RequestContext {
    return this.admission.context;
  }
  degrade(reason: string): void {
    this.engine.run(this.admission, () => markDegraded(reason));
  }
}

/**
 * Creates the Express middlewares from a Bulwark core instance, or from a config (a new core).
 * @example
 * const bw = bulwark({ http: { bulkhead: { maxConcurrent: 100, maxQueue: 50 } } });
 * app.use(bw.middleware);
 * app.get('/users/:id', bw.protect({ timeout: '2s' }, (req, _res, signal) => users.get(req.params.id, signal)));
 * app.use(bw.errorHandler);
 */
export function bulwark(coreOrConfig: Bulwark | BulwarkConfig = {}): BulwarkExpress {
  const core = isBulwark(coreOrConfig) ? coreOrConfig : createBulwark(coreOrConfig);
  const engine = core.http;
  const admitted = new WeakMap<Request, Admitted>();

  /** Runs `then` inside the request context once admitted; a rejection is written and ends the chain. */
  function admitThen(req: Request, res: Response, next: NextFunction, then: () => void): void {
    const inbound = toInbound(req, res);
    let admission: Admission | undefined;
    let gone = false;
    res.once('finish', () => admission?.release());
    // Listening before admit() also catches a client that leaves while queued in the bulkhead.
    res.once('close', () => {
      gone = true;
      if (admission && !res.writableFinished) admission.abort();
      admission?.release();
    });
    const onAdmission = (a: Admission) => {
      admission = a;
      if (gone) return a.release();
      for (const [name, value] of Object.entries(a.headers)) res.setHeader(name, value);
      if (a.rejection) return send(req, res, a.rejection);
      admitted.set(req, { admission: a, inbound });
      req.bulwark = new RequestInfo(a, engine);
      engine.run(a, then);
    };
    // The sync fast path saves a microtask when nothing had to wait (no bulkhead, no store).
    const pending = engine.admitFast?.(inbound) ?? engine.admit(inbound);
    // Express 4 ignores rejected promises, so every async failure is forwarded to next(err).
    if (pending instanceof Promise) pending.then(onAdmission).catch(next);
    else onAdmission(pending);
  }

  const middleware: RequestHandler = (req, res, next) => {
    // Mounted twice (app-level and route-level): the first admission stands.
    if (admitted.has(req)) return next();
    admitThen(req, res, next, () => next());
  };

  function protect<T>(protection: RouteProtection, handler: ProtectedHandler<T>): RequestHandler {
    const run = (req: Request, res: Response, next: NextFunction, { admission }: Admitted): void => {
      engine
        .protect(admission, protection, (signal) => handler(req, res, signal))
        .then((value) => {
          if (value !== undefined && !res.headersSent) res.json(value);
        })
        .catch(next);
    };
    return (req, res, next) => {
      const state = admitted.get(req);
      if (state) return run(req, res, next, state);
      // No app-level middleware: admit here, where the route pattern is known.
      admitThen(req, res, next, () => run(req, res, next, admitted.get(req) as Admitted));
    };
  }

  const errorHandler: ErrorRequestHandler = (err, req, res, next) => {
    if (res.headersSent) return next(err);
    const inbound = admitted.get(req)?.inbound ?? toInbound(req, res);
    send(req, res, engine.toResponse(err, inbound, req.bulwark?.context));
  };

  return { middleware, protect, errorHandler, core };
}
