import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Bulwark } from '@bulwark/core';
import {
  AdapterRequest,
  type Admission,
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
}

// The per-request state sits on the raw request under a symbol: no WeakMap entry per request
// (ephemerons make the young-generation GC keep whole requests alive) and no closure per request.
const STATE = Symbol('bulwark.nestjs');
type RawRequest = IncomingMessage & {
  originalUrl?: string;
  raw?: IncomingMessage;
  ip?: string; // Express's getter, or the value Fastify's middie copies from `request.ip`
  app?: { enabled(setting: string): boolean }; // Express
  [STATE]?: Inbound;
};
type ErrorReport = Parameters<NonNullable<InboundRequest['reportError']>>[1];

const logger = new Logger('Bulwark');

/** What the middleware remembers of an admitted request, for the exception filter; undefined before. */
export function admitted(req: object): AdmittedRequest | undefined {
  const state = (req as RawRequest)[STATE];
  return state?.admission === undefined ? undefined : (state as AdmittedRequest);
}

/**
 * A raw Node request (Express or Fastify underneath) for the engine, with its admission once admitted.
 * No `routeKey`: Nest routes after middleware, so the default key is engine-wide (never the raw path).
 */
class Inbound extends AdapterRequest {
  readonly method: string;
  readonly path: string;
  readonly routeKey = undefined; // the middleware runs before Nest's router: no pattern yet
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
    // The client honouring the platform's trust proxy setting: Fastify's `request.ip` (trustProxy),
    // Express's `req.ip` ('trust proxy'; read only when set, as it runs proxy-addr on every read).
    const ip = req.app === undefined || req.app.enabled('trust proxy') ? req.ip : undefined;
    this.remoteAddress = ip ?? req.socket?.remoteAddress;
    this.#res = res;
  }

  /** With a response, the engine sets the degraded header through this the moment an answer is marked degraded. */
  setHeader(name: string, value: string): void {
    const res = this.#res;
    if (res !== undefined && !res.headersSent) res.setHeader(name, value);
  }

  /** Nest's default report of an unknown (5xx) error (when `http.onError` is not set): its Logger, with the stack and correlation ID. */
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

/** Describes a raw Node request (Express or Fastify underneath) for the engine; `res` receives late headers (degraded). */
export function toInbound(req: RawRequest, res?: ServerResponse): InboundRequest {
  return new Inbound(req, res);
}

/** Writes a complete engine response (rejections and problems) on a raw Node response. */
export function writeRaw(res: ServerResponse, method: string, out: OutboundResponse): void {
  res.statusCode = out.status;
  for (const name in out.headers) res.setHeader(name, out.headers[name] as string);
  res.end(out.body === undefined || method === 'HEAD' ? undefined : JSON.stringify(out.body));
}

/** The response closed ('close' follows 'finish' too): aborts if it never finished (the client left), then releases. */
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
    const engine = this.bulwark.http;
    const state = new Inbound(req, res);
    req[STATE] = state;
    res.on('close', onClose); // before admission: a client leaving while queued gives up its place, never runs
    // An admission, or a promise of one only when the request had to wait (queue, store).
    const pending = engine.admit(state);
    if (!(pending instanceof Promise)) return this.admitted(res, next, state, pending);
    return pending.then((a) => this.admitted(res, next, state, a));
  }

  private admitted(
    res: ServerResponse,
    next: (error?: unknown) => void,
    state: Inbound,
    admission: Admission,
  ): void {
    state.admission = admission;
    writeAdmissionHeaders(res, admission);
    if (res.destroyed) admission.release();
    else if (admission.rejection) writeRaw(res, state.method, admission.rejection);
    else this.bulwark.http.run(admission, next);
  }
}
