import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Admission, Bulwark, InboundRequest, OutboundResponse } from '@bulwark/core';
import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import { BULWARK } from './bulwark.constants.js';

/** What the middleware remembers about an admitted request, for the exception filter. */
export interface AdmittedRequest {
  /** The engine's admission. */
  readonly admission: Admission;
  /** The request as the engine saw it. */
  readonly inbound: InboundRequest;
}

/** Admissions by raw request; the exception filter reads them. */
export const admitted = new WeakMap<object, AdmittedRequest>();

type RawRequest = IncomingMessage & { originalUrl?: string; raw?: IncomingMessage };

/** Describes a raw Node request (Express or Fastify underneath) for the engine; `res` receives late headers (degraded). */
export function toInbound(req: RawRequest, res?: ServerResponse): InboundRequest {
  const url = req.originalUrl ?? req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const method = req.method ?? 'GET';
  const inbound: InboundRequest = {
    method,
    path,
    routeKey: `${method} ${path}`,
    headers: req.headers,
    remoteAddress: req.socket?.remoteAddress,
  };
  // The engine writes the degraded header through this the moment an answer is marked degraded.
  if (res) inbound.setHeader = (name, value) => void (res.headersSent || res.setHeader(name, value));
  return inbound;
}

/** Writes a complete engine response (rejections and problems) on a raw Node response. */
export function writeRaw(res: ServerResponse, method: string, out: OutboundResponse): void {
  res.statusCode = out.status;
  for (const [name, value] of Object.entries(out.headers)) res.setHeader(name, value);
  res.end(out.body === undefined || method === 'HEAD' ? undefined : JSON.stringify(out.body));
}

/**
 * Admits or sheds every request through core's HTTP engine, sets its headers, writes rejections,
 * aborts the request's signal on client disconnect, and runs the rest of the request in its context.
 */
@Injectable()
export class BulwarkMiddleware implements NestMiddleware {
  constructor(@Inject(BULWARK) private readonly bulwark: Bulwark) {}

  /** Nest's middleware hook. */
  async use(req: RawRequest, res: ServerResponse, next: (error?: unknown) => void): Promise<void> {
    if (admitted.has(req)) return next();
    const engine = this.bulwark.http;
    const inbound = toInbound(req, res);
    const admission = await engine.admit(inbound);
    for (const [name, value] of Object.entries(admission.headers)) res.setHeader(name, value);
    res.once('finish', () => admission.release());
    res.once('close', () => {
      if (!res.writableFinished) admission.abort();
      admission.release();
    });
    if (admission.rejection) return writeRaw(res, inbound.method, admission.rejection);
    admitted.set(req, { admission, inbound });
    engine.run(admission, () => next());
  }
}
