import type { IncomingMessage } from 'node:http';
import { type Bulwark, isBulwarkError } from '@bulwark/core';
import { type ArgumentsHost, Catch, type ExceptionFilter, Inject, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { BULWARK } from './bulwark.constants.js';
import { admitted, toInbound } from './bulwark.middleware.js';

const logger = new Logger('Bulwark');

/** The default report of an unknown (5xx) error: Nest's Logger, with the stack and the correlation ID. */
export function logUnknownError(error: unknown, correlationId: string | undefined): void {
  const e = error instanceof Error ? error : new Error(String(error));
  logger.error(`${e.name}: ${e.message} (correlation ID ${correlationId ?? 'none'})`, e.stack);
}

/**
 * Global filter writing every error as `application/problem+json` through core's engine:
 * Bulwark errors keep their code and status, Nest's `HttpException`s their status and message,
 * unknown errors become a 500 that leaks nothing in production and are logged once with their stack.
 * Always carries the correlation ID. Writes through the platform's reply (Express or Fastify), so
 * headers set on it (`@Header`) are kept.
 */
@Catch()
export class BulwarkExceptionFilter implements ExceptionFilter {
  constructor(
    @Inject(BULWARK) private readonly bulwark: Bulwark,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
  ) {}

  /** Nest's filter hook. */
  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const http = host.switchToHttp();
    const req = http.getRequest<IncomingMessage & { raw?: IncomingMessage }>();
    const res = http.getResponse<object>();
    const adapter = this.adapterHost.httpAdapter;
    const raw = req.raw ?? req;
    const state = admitted(raw);
    const inbound = state?.inbound ?? toInbound(raw);
    const context = state?.admission.context;
    const out = this.bulwark.http.toResponse(exception, inbound, context);
    if (out.status >= 500 && !isBulwarkError(exception)) logUnknownError(exception, context?.correlationId);
    if (adapter.isHeadersSent(res)) return void adapter.end(res);
    const own = state?.admission.headers ?? [];
    for (let i = 0; i < own.length; i += 2) {
      const name = own[i] as string;
      if (!(name in out.headers)) adapter.setHeader(res, name, own[i + 1] as string);
    }
    for (const name in out.headers) adapter.setHeader(res, name, out.headers[name] as string);
    const body = out.body === undefined || inbound.method === 'HEAD' ? undefined : JSON.stringify(out.body);
    adapter.reply(res, body, out.status);
  }
}
