import type { IncomingMessage } from 'node:http';
import type { Bulwark } from '@bulwark/core';
import { type ArgumentsHost, Catch, type ExceptionFilter, Inject } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { BULWARK } from './bulwark.constants.js';
import { IdempotentAnswer } from './bulwark.idempotency.js';
import { admitted, toInbound } from './bulwark.middleware.js';
import { takeLimit } from './bulwark.rate-limit.js';

/**
 * Global filter writing every error as `application/problem+json` through core's engine:
 * Bulwark errors keep their code and status, Nest's `HttpException`s their status and message,
 * unknown errors become a 500 that leaks nothing in production, reported once through `http.onError`
 * (default: Nest's Logger, with the stack and correlation ID).
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
    if (exception instanceof IdempotentAnswer) {
      const { headers, body, status } = exception.answer; // a replay or refusal, written as it is
      for (const name in headers) adapter.setHeader(res, name, headers[name] as string);
      return void adapter.reply(res, body?.toString(), status);
    }
    const raw = req.raw ?? req;
    const state = admitted(raw);
    if (state !== undefined && !state.limitTaken && this.bulwark.config.http?.rateLimit) {
      // No guard saw this request (Nest's 404 for an unknown path, or an earlier guard refused it):
      // it still takes the app-wide limit, so unknown paths cannot be hammered without one.
      state.limitTaken = true;
      takeLimit(this.bulwark, state).then(
        () => this.catch(exception, host),
        (refusal: unknown) => this.catch(refusal, host),
      );
      return;
    }
    const inbound = state?.inbound ?? toInbound(raw);
    const out = this.bulwark.http.toResponse(exception, inbound, state?.admission.context);
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
