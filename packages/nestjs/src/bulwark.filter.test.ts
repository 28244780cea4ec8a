/**
 * The exception filter on both platforms (real Nest apps, supertest): problem responses written
 * through the platform's reply keep their headers, and each unknown error is logged once through
 * Nest's Logger with its stack and correlation ID.
 */
import 'reflect-metadata';
import { BulkheadFullError } from '@bulwark/core';
import { Controller, Get, Header, type INestApplication, type LoggerService } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { BulwarkModule } from './bulwark.module.js';

@Controller()
class FailingController {
  @Get('boom')
  @Header('x-from-handler', 'kept')
  boom() {
    throw new Error('db password is hunter2');
  }

  @Get('full')
  @Header('cache-control', 'no-store')
  full() {
    throw new BulkheadFullError({ retryAfterMs: 3000 });
  }

  @Get('ok')
  ok() {
    return { ok: true };
  }
}

class CapturingLogger implements LoggerService {
  readonly errors: unknown[][] = [];
  log() {}
  warn() {}
  error(...args: unknown[]) {
    this.errors.push(args);
  }
}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const platforms = [
  ['express', () => undefined],
  ['fastify', () => new FastifyAdapter()],
] as const;

describe.each(platforms)('exception filter on platform-%s', (_name, adapter) => {
  async function start(logger: LoggerService | false = false, http: Record<string, unknown> = {}) {
    const moduleRef = await Test.createTestingModule({
      imports: [BulwarkModule.forRoot({ http: { production: true, ...http } })],
      controllers: [FailingController],
    }).compile();
    const platform = adapter();
    app = platform
      ? moduleRef.createNestApplication(platform, { logger })
      : moduleRef.createNestApplication({ logger });
    await app.init();
    if (platform) await platform.getInstance().ready();
    return request(app.getHttpServer());
  }

  it('keeps Content-Type, Retry-After and the handler’s @Header headers on a problem', async () => {
    const http = await start();
    const full = await http.get('/full');
    expect(full.status).toBe(503);
    expect(full.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(full.headers['retry-after']).toBe('3');
    expect(full.headers['cache-control']).toBe('no-store');
    expect(full.body).toMatchObject({ code: 'BULKHEAD_FULL', retryAfter: 3 });
    const boom = await http.get('/boom');
    expect(boom.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(boom.headers['x-from-handler']).toBe('kept');
  });

  it('answers HEAD with the headers and no body', async () => {
    const res = await (await start()).head('/boom');
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.text ?? '').toBe('');
  });

  it('logs an unknown error once through Nest’s Logger, with its stack and correlation ID', async () => {
    const logger = new CapturingLogger();
    const http = await start(logger);
    const res = await http.get('/boom').set('x-request-id', 'find-me-1');
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.body)).not.toContain('hunter2');
    expect(logger.errors).toHaveLength(1);
    const [message, stack] = logger.errors[0] as [string, string];
    expect(message).toBe('GET /boom answered 500 (correlation ID find-me-1): Error: db password is hunter2');
    expect(stack).toMatch(/at FailingController\.boom/);
  });

  it('reports through http.onError instead when it is set', async () => {
    const logger = new CapturingLogger();
    const reported: string[] = [];
    const http = await start(logger, {
      onError: (_e: unknown, r: { correlationId: string }) => reported.push(r.correlationId),
    });
    await http.get('/boom').set('x-request-id', 'find-me-2').expect(500);
    expect([reported, logger.errors]).toEqual([['find-me-2'], []]);
  });

  it('does not log Bulwark errors or client errors', async () => {
    const logger = new CapturingLogger();
    const http = await start(logger);
    await http.get('/full').expect(503);
    await http.get('/nope').expect(404);
    expect(logger.errors).toEqual([]);
  });
});
