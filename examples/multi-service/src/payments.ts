/**
 * The payments service (NestJS 12 on Express). `GET /payments/:orderId` captures a payment.
 * Failure switches, for the README and the end-to-end test: `?fail=1` answers 503 (the card
 * processor is down), `?slowMs=N` answers after N ms (stopping early when the caller gives up).
 * Logs are Nest's, through `BulwarkLogger` in JSON mode: every line written inside a request
 * carries `params: { correlationId, traceId, spanId }`.
 */
import 'reflect-metadata';
import { AsyncResource } from 'node:async_hooks';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import { BulwarkLogger, BulwarkModule, currentSignal } from '@bulwark/nestjs';
import {
  Controller,
  Get,
  Injectable,
  type MiddlewareConsumer,
  Module,
  type NestMiddleware,
  type NestModule,
  Param,
  Query,
  ServiceUnavailableException,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  delay(ms, undefined, { signal }).catch((e: unknown) => {
    throw signal?.aborted ? signal.reason : e;
  });

const HOST = '127.0.0.1';

function port(value: string | undefined, fallback: number): number {
  const n = value === undefined || value === '' ? fallback : Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new TypeError(`Not a port: ${String(value)}`);
  return n;
}
/** `PAYMENTS_PORT`, else `PORT` (default 3000) + 2, as the launcher hands them out. */
const listenPort = port(process.env.PAYMENTS_PORT, port(process.env.PORT, 3000) + 2);

/** Request lines: Nest's ConsoleLogger in JSON mode, plus the request's ids (BulwarkLogger). */
const logger = new BulwarkLogger('payments', { json: true, logLevels: ['log', 'warn', 'error'] });

const TRACEPARENT = /^[\da-f]{2}-[\da-f]{32}-([\da-f]{16})-[\da-f]{2}$/;

type Req = IncomingMessage & { path?: string; requestLog?: { bind(): void } };
type Write = (extra: Record<string, unknown>) => void;

/** Starts a request's log line (written when the response closes), outside Bulwark's middleware. */
function requestLog(req: Req, res: ServerResponse, next: () => void): void {
  const started = performance.now();
  const deadline = req.headers['x-deadline-ms'];
  const fields = {
    method: req.method,
    path: (req.url ?? '/').split('?')[0],
    inboundDeadlineMs: typeof deadline === 'string' && /^\d{1,10}$/.test(deadline) ? Number(deadline) : null,
    inboundParentId: TRACEPARENT.exec(String(req.headers.traceparent ?? '').toLowerCase())?.[1] ?? null,
  };
  // Refused at the door (no request context): the correlation ID comes from the response header.
  let write: Write = (extra) =>
    logger.log({ msg: 'request', correlationId: res.getHeader('x-request-id'), ...extra });
  res.once('close', () => {
    write({
      ...fields,
      status: res.statusCode,
      ms: Math.round(performance.now() - started),
      ...(res.writableFinished ? {} : { aborted: true }),
    });
  });
  req.requestLog = {
    // Called inside the request context: the line is then written in it, and gets the ids.
    bind() {
      write = AsyncResource.bind((extra: Record<string, unknown>) =>
        logger.log({ msg: 'request', ...extra }),
      );
    },
  };
  next();
}

/** Runs after the module's Bulwark middleware, inside the request context. */
@Injectable()
class InContext implements NestMiddleware {
  use(req: Req, _res: ServerResponse, next: () => void): void {
    req.requestLog?.bind();
    next();
  }
}

@Controller('payments')
class PaymentsController {
  @Get(':orderId')
  async capture(
    @Param('orderId') orderId: string,
    @Query('fail') fail?: string,
    @Query('slowMs') slowMs?: string,
  ) {
    if (fail === '1') {
      throw new ServiceUnavailableException(
        'The card processor is unavailable (failure injected with ?fail=1).',
      );
    }
    const delay = Number(slowMs ?? 0);
    // The request's signal: aborted when orders gives up (its attempt timeout closes the connection).
    if (Number.isInteger(delay) && delay > 0) await sleep(Math.min(delay, 60_000), currentSignal());
    return { orderId, paymentId: `pay_${orderId}`, status: 'captured' };
  }
}

@Module({
  imports: [BulwarkModule.forRoot({ http: { deadline: { max: '10s' } } })],
  controllers: [PaymentsController],
})
class PaymentsModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(InContext).forRoutes('*path');
  }
}

const app = await NestFactory.create(PaymentsModule, {
  // Nest's own lines (start-up, unhandled errors) through a BulwarkLogger too, warnings and errors only.
  logger: new BulwarkLogger('nest', { json: true, logLevels: ['warn', 'error'] }),
});
app.use(requestLog); // before every module middleware: sees refused requests too
await app.listen(listenPort, HOST);
const server = app.getHttpServer() as Server;
const address = server.address();
logger.log({ msg: 'listening', port: typeof address === 'object' && address ? address.port : listenPort });

let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (closing) return;
    closing = true;
    logger.log({ msg: 'shutting down', signal });
    setTimeout(() => {
      logger.error({ msg: 'still running 5 s after the signal; exiting' });
      process.exit(1);
    }, 5000).unref();
    server.closeIdleConnections();
    const drained = setTimeout(() => server.closeAllConnections(), 2000);
    drained.unref();
    // Closes the server, then BulwarkModule closes the Bulwark core.
    void app.close().then(() => {
      clearTimeout(drained);
      logger.log({ msg: 'closed' });
    });
  });
}
