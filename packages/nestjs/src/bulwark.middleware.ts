import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Bulwark } from '@bulwark/core';
import {
  AdapterRequest,
  type Admission,
  type ErrorReport,
  type InboundRequest,
  type OutboundResponse,
  writeAdmissionHeaders,
} from '@bulwark/core/adapter';
import { Inject, Injectable, Logger, type NestMiddleware } from '@nestjs/common';
import { BULWARK } from './bulwark.constants.js';

/** What the middleware remembers about an admitted request, for the exception filter. */
export interface AdmittedRequest {
  /** The engine's admission. */
  readonly admission: Admission;
  /** The request as the engine saw it. */
  readonly inbound: InboundRequest;
  /** True once the app-wide or the route's rate limit was taken (by the guard, or the filter for a request no guard saw). */
  limitTaken: boolean;
}

// Per-request state on the raw request under a symbol: no WeakMap entry and no closure per request.
const STATE = Symbol('bulwark.nestjs');
type RawRequest = IncomingMessage & {
  originalUrl?: string;
  raw?: IncomingMessage;
  ip?: string; // Express's getter, or the value Fastify's middie copies from `request.ip`
  app?: { enabled(setting: string): boolean }; // Express
  [STATE]?: Inbound;
};
const logger = new Logger('Bulwark');

/** What the middleware remembers of an admitted request, for the exception filter; undefined before. */
export function admitted(req: object): AdmittedRequest | undefined {
  const state = (req as RawRequest)[STATE];
  return state?.admission === undefined ? undefined : (state as AdmittedRequest);
}

/** A raw Node request (Express or Fastify underneath) for the engine, with its admission once admitted. */
class Inbound extends AdapterRequest {
  readonly method: string;
  readonly path: string;
  readonly routeKey = undefined; // the middleware runs before Nest's router: no pattern yet
  readonly deferRateLimit = true; // the rate-limit guard takes it per route (@RateLimit, @SkipRateLimit)
  limitTaken = false; // the guard took it, or the filter did for a request no guard saw (a 404)
  readonly headers: InboundRequest['headers'];
  readonly remoteAddress: string | undefined;
  readonly #res: ServerResponse | undefined;

  constructor(req: RawRequest, res: ServerResponse | undefined) {
    super();
    const url = req.originalUrl ?? req.url ?? '/';
    const q = url.indexOf('?');
    this.method = req.method ?? 'GET';
    this.path = q === -1 ? url : url.slice(0, q);
    this.headers = req.headers;
    // The client under the platform's trust proxy setting: Fastify's `request.ip` (trustProxy),
    // Express's `req.ip` ('trust proxy'; read only when set: it runs proxy-addr on every read).
    const ip = req.app === undefined || req.app.enabled('trust proxy') ? req.ip : undefined;
    this.remoteAddress = ip ?? req.socket?.remoteAddress;
    this.#res = res;
  }

  /** The engine sets late headers (degraded, a route's RateLimit) through this. */
  setHeader(name: string, value: string): void {
    const res = this.#res;
    if (res !== undefined && !res.headersSent) res.setHeader(name, value);
  }

  /** Nest's default report of an unknown 5xx error (without `http.onError`): its Logger, with the stack and correlation ID. */
  reportError(error: unknown, r: ErrorReport): void {
    const e = error instanceof Error ? error : new Error(String(error));
    const what = `${r.method} ${r.path} answered ${r.status} (correlation ID ${r.correlationId})`;
    logger.error(`${what}: ${e.name}: ${e.message}`, e.stack);
  }

  /** The request as the engine saw it. */
  get inbound(): InboundRequest {
    return this;
  }
}

/** Describes a raw Node request (Express or Fastify underneath) for the engine. */
export function toInbound(req: RawRequest): InboundRequest {
  return new Inbound(req, undefined);
}

function writeRaw(res: ServerResponse, method: string, out: OutboundResponse): void {
  res.statusCode = out.status;
  for (const name in out.headers) res.setHeader(name, out.headers[name] as string);
  res.end(out.body === undefined || method === 'HEAD' ? undefined : JSON.stringify(out.body));
}

/** 'close' follows 'finish' too: aborts if the response never finished (the client left), then releases. */
function onClose(this: ServerResponse & { req?: RawRequest }): void {
  this.req?.[STATE]?.closed(this.writableFinished);
}

/**
 * Admits or sheds every request through core's HTTP engine, sets its headers, writes rejections,
 * aborts the request's signal on client disconnect, and runs the rest of the request in its context.
 */
@Injectable()
export class BulwarkMiddleware implements NestMiddleware {
  constructor(@Inject(BULWARK) private readonly bulwark: Bulwark) {}

  /** Nest's middleware hook. */
  use(req: RawRequest, res: ServerResponse, next: (error?: unknown) => void): void | Promise<void> {
    if (req[STATE] !== undefined) return next();
    const state = new Inbound(req, res);
    req[STATE] = state;
    res.on('close', onClose); // before admission: a client leaving while queued gives up its place
    const pending = this.bulwark.http.admit(state); // a promise only when the request had to wait
    if (!(pending instanceof Promise)) return this.admitted(res, next, state, pending);
    return pending.then((a) => this.admitted(res, next, state, a));
  }

  private admitted(res: ServerResponse, next: (error?: unknown) => void, state: Inbound, a: Admission): void {
    state.admission = a;
    writeAdmissionHeaders(res, a);
    if (res.destroyed) a.release();
    else if (a.rejection) writeRaw(res, state.method, a.rejection);
    else this.bulwark.http.run(a, next);
  }
}
