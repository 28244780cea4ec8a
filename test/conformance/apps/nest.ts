/**
 * The conformance app on NestJS 12 + platform-express (routes and handler bodies as listed in
 * ../spec.ts); `./nest-fastify.ts` runs the same app on platform-fastify.
 */
import 'reflect-metadata';
import type { Server, ServerResponse } from 'node:http';
import { BulkheadFullError, type Bulwark, type BulwarkConfig, getContext } from '@bulwark/core';
import { BULWARK, BulwarkModule, currentSignal, Idempotent, Timeout, UsePolicy } from '@bulwark/nestjs';
import {
  Body,
  type CanActivate,
  Controller,
  type ExecutionContext,
  Get,
  Module,
  Post,
  Query,
  Res,
  UseGuards,
} from '@nestjs/common';
import { type AbstractHttpAdapter, NestFactory } from '@nestjs/core';
import { type AppFactory, type ConformanceApp, newProbe } from '../spec.js';

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Resolves when `signal` aborts. */
function aborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) =>
    signal?.aborted ? resolve() : signal?.addEventListener('abort', () => resolve(), { once: true }),
  );
}

/** Stand-in authentication: the `x-user` header becomes `request.user` (where Passport puts it). */
class FakeUser implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, unknown>; user?: unknown }>();
    if (typeof req.headers['x-user'] === 'string') req.user = { id: req.headers['x-user'] };
    return true;
  }
}

/** Builds the NestJS conformance app on the given platform (platform-express when none is given). */
export async function nestConformanceApp(
  config: Record<string, unknown>,
  platform?: AbstractHttpAdapter,
): Promise<ConformanceApp> {
  const probe = newProbe();

  @Controller()
  class ConformanceController {
    @Get('ok')
    ok() {
      probe.handlerRuns++;
      const ctx = getContext();
      probe.seen = {
        correlationId: ctx?.correlationId,
        traceId: ctx?.trace.traceId,
        spanId: ctx?.trace.spanId,
        deadline: ctx?.deadline,
      };
      return { ok: true, correlationId: ctx?.correlationId, traceId: ctx?.trace.traceId };
    }

    // Express (under Nest) answers HEAD with the GET route, so HEAD /boom shares this handler.
    @Get('boom')
    boom() {
      probe.handlerRuns++;
      throw new Error('db password is hunter2');
    }

    @Get('bulwark-error')
    bulwarkError() {
      probe.handlerRuns++;
      throw new BulkheadFullError({ retryAfterMs: 2000 });
    }

    @Get('slow')
    async slow(@Query('ms') ms?: string) {
      probe.handlerRuns++;
      await wait(Number(ms ?? 0), currentSignal());
      return { ok: true };
    }

    @Get('timeout')
    @Timeout(100)
    async timeout() {
      probe.handlerRuns++;
      const signal = currentSignal();
      await aborted(signal);
      probe.timeoutAborted = true;
      throw signal?.reason;
    }

    @Get('flaky')
    @UsePolicy('flaky')
    async flaky() {
      probe.handlerRuns++;
      if (probe.failFlaky) throw Object.assign(new Error('flaky dependency failed'), { status: 500 });
      return { ok: true };
    }

    @Get('fallback')
    @UsePolicy('degradable')
    async fallback() {
      probe.handlerRuns++;
      throw Object.assign(new Error('always fails'), { status: 500 });
    }

    @Post('idem')
    @UseGuards(FakeUser)
    @Idempotent({ required: true, maxKeyLength: 64 })
    async idem(@Body() body: unknown, @Res({ passthrough: true }) res: { raw?: ServerResponse }) {
      probe.handlerRuns++;
      const run = probe.handlerRuns;
      await probe.hold;
      if (probe.failFlaky) throw Object.assign(new Error('flaky dependency failed'), { status: 500 });
      const raw = res.raw ?? (res as ServerResponse); // Express's res is the raw one; Fastify's reply has it
      raw.setHeader('Location', `/idem/${run}`);
      raw.setHeader('Set-Cookie', `sid=${run}`);
      return { run, body };
    }

    @Get('hang')
    async hang() {
      probe.handlerRuns++;
      await aborted(currentSignal());
      probe.hangAborted = true;
    }
  }

  @Module({ imports: [BulwarkModule.forRoot(config as BulwarkConfig)], controllers: [ConformanceController] })
  class ConformanceModule {}

  const options = { logger: false as const, abortOnError: false };
  const app = platform
    ? await NestFactory.create(ConformanceModule, platform, options)
    : await NestFactory.create(ConformanceModule, options);
  await app.listen(0, '127.0.0.1');
  const server = app.getHttpServer() as Server;
  return {
    server,
    probe,
    core: app.get<Bulwark>(BULWARK),
    async close() {
      server.closeAllConnections();
      await app.close(); // closes the server and, through BulwarkModule's shutdown hook, Bulwark
    },
  };
}

/** Builds the NestJS conformance app on platform-express. */
export const createNestApp: AppFactory = (config) => nestConformanceApp(config);

export default createNestApp;
