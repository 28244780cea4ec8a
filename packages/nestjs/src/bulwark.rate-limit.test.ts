/**
 * @RateLimit() and @SkipRateLimit() per route, as @nestjs/throttler users expect, through core's
 * route protection: real Nest apps on both platforms, supertest.
 */
import 'reflect-metadata';
import { Controller, Get, type INestApplication, type Type } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { BulwarkModule } from './bulwark.module.js';
import { RateLimit, SkipRateLimit } from './bulwark.rate-limit.js';

@Controller()
class ApiController {
  @Get('plain') plain() {
    return 'plain';
  }
  @Get('login') @RateLimit({ limit: 2, interval: '1m' }) login() {
    return 'login';
  }
  @Get('open') @SkipRateLimit() open() {
    return 'open';
  }
}

@Controller('internal')
@SkipRateLimit()
class InternalController {
  @Get('a') a() {
    return 'a';
  }
  @Get('b') @RateLimit() b() {
    return 'b';
  }
}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe.each(['express', 'fastify'] as const)('rate-limit decorators on platform-%s', (platform) => {
  async function start(
    http: Record<string, unknown>,
    controllers: Type[] = [ApiController, InternalController],
  ) {
    const moduleRef = await Test.createTestingModule({
      imports: [BulwarkModule.forRoot({ http })],
      controllers,
    }).compile();
    const adapter = platform === 'fastify' ? new FastifyAdapter() : undefined;
    app = adapter
      ? moduleRef.createNestApplication(adapter, { logger: false })
      : moduleRef.createNestApplication({ logger: false });
    await app.init();
    if (adapter) await adapter.getInstance().ready();
    const server = app.getHttpServer();
    return async (path: string, times: number) => {
      const statuses: number[] = [];
      for (let i = 0; i < times; i++) statuses.push((await request(server).get(path)).status);
      return statuses;
    };
  }

  it('the app-wide limit applies per route; @SkipRateLimit() leaves a handler or a controller out', async () => {
    const get = await start({ rateLimit: { limit: 1, interval: '1m' } });
    expect(await get('/plain', 2)).toEqual([200, 429]);
    expect(await get('/open', 3)).toEqual([200, 200, 200]);
    expect(await get('/internal/a', 3)).toEqual([200, 200, 200]);
  });

  it('a path no route matches still takes the app-wide limit (Nest answers 404 without running a guard)', async () => {
    const get = await start({ rateLimit: { limit: 2, interval: '1m' } });
    expect(await get('/no-such-route', 3)).toEqual([404, 404, 429]);
    expect(await get('/plain', 1)).toEqual([429]);
  });

  it("@RateLimit(options) gives a route its own buckets; @RateLimit() undoes its controller's skip", async () => {
    const get = await start({ rateLimit: { limit: 1, interval: '1m' } });
    expect(await get('/login', 3)).toEqual([200, 200, 429]);
    expect(await get('/internal/b', 2)).toEqual([200, 429]);
  });

  it('a 429 from a route limit is a problem with RateLimit headers and Retry-After; allowed answers carry RateLimit', async () => {
    const get = await start({});
    expect(await get('/plain', 3)).toEqual([200, 200, 200]);
    const server = (app as INestApplication).getHttpServer();
    const ok = await request(server).get('/login');
    expect(ok.headers.ratelimit).toMatch(/r=1/);
    await request(server).get('/login');
    const limited = await request(server).get('/login');
    expect(limited.status).toBe(429);
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(limited.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(limited.headers.ratelimit).toBeDefined();
    expect(limited.body).toMatchObject({
      code: 'RATE_LIMITED',
      correlationId: limited.headers['x-request-id'],
    });
  });

  it('invalid @RateLimit options fail at start, naming the handler', async () => {
    @Controller()
    class Bad {
      @Get() @RateLimit({ limit: -1 }) get() {
        return 'x';
      }
    }
    const error = await start({}, [Bad]).catch((e: Error) => e);
    expect(String(error)).toMatch(/Bad\.get: .*limit/);
  });
});
