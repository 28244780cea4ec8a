/** BulwarkModule: registration, start-up validation, the exception filter and shutdown, on a real Nest app. */
import 'reflect-metadata';
import { BulkheadFullError, type Bulwark, createBulwark } from '@bulwark/core';
import {
  Controller,
  Get,
  type INestApplication,
  Inject,
  Injectable,
  Module,
  NotFoundException,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BULWARK } from './bulwark.constants.js';
import { CircuitBreaker, Fallback, Retry, UsePolicy } from './bulwark.decorator.js';
import { BulwarkModule } from './bulwark.module.js';

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start(imports: unknown[], controllers: Type[] = [], providers: Type[] = []) {
  const moduleRef = await Test.createTestingModule({
    imports: imports as never[],
    controllers,
    providers,
  }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

@Controller()
class ErrorsController {
  constructor(@Inject(BULWARK) readonly bulwark: Bulwark) {}
  @Get('missing')
  missing() {
    throw new NotFoundException('no such order');
  }
  @Get('boom')
  boom() {
    throw new Error('db password is hunter2');
  }
  @Get('full')
  full() {
    throw new BulkheadFullError({ retryAfterMs: 2000 });
  }
  @Get('ok')
  ok() {
    return { ok: true };
  }
}

describe('exception filter', () => {
  const production = { http: { production: true } };

  it('keeps an HttpException status and message, with the correlation ID', async () => {
    const res = await request(
      (await start([BulwarkModule.forRoot(production)], [ErrorsController])).getHttpServer(),
    )
      .get('/missing')
      .set('x-request-id', 'abc-123');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.headers['x-request-id']).toBe('abc-123');
    expect(res.body).toMatchObject({
      status: 404,
      detail: 'no such order',
      correlationId: 'abc-123',
      instance: '/missing',
    });
  });

  it('turns an unknown error into a 500 problem that leaks nothing in production', async () => {
    const res = await request(
      (await start([BulwarkModule.forRoot(production)], [ErrorsController])).getHttpServer(),
    ).get('/boom');
    expect(res.status).toBe(500);
    expect(res.body.code).toBe('INTERNAL_ERROR');
    expect(JSON.stringify(res.body)).not.toContain('hunter2');
    expect(res.body.correlationId).toBe(res.headers['x-request-id']);
  });

  it('keeps a BulwarkError code, status and Retry-After', async () => {
    const res = await request(
      (await start([BulwarkModule.forRoot()], [ErrorsController])).getHttpServer(),
    ).get('/full');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('2');
    expect(res.body).toMatchObject({ code: 'BULKHEAD_FULL', retryAfter: 2 });
  });

  it("answers Nest's own 404 for unknown routes as a problem", async () => {
    const res = await request(
      (await start([BulwarkModule.forRoot()], [ErrorsController])).getHttpServer(),
    ).get('/nope');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ status: 404, correlationId: res.headers['x-request-id'] });
  });
});

describe('registration', () => {
  it('forRoot provides the Bulwark instance under BULWARK and sets the correlation header on every route', async () => {
    const nest = await start([BulwarkModule.forRoot()], [ErrorsController]);
    expect(typeof nest.get<Bulwark>(BULWARK).run).toBe('function');
    const res = await request(nest.getHttpServer()).get('/ok');
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toMatch(/\S+/);
  });

  it('forRootAsync builds the config from injected providers', async () => {
    @Injectable()
    class Settings {
      readonly header = 'x-trace-me';
    }
    @Module({ providers: [Settings], exports: [Settings] })
    class SettingsModule {}
    const nest = await start(
      [
        BulwarkModule.forRootAsync({
          imports: [SettingsModule],
          inject: [Settings],
          useFactory: async (s: Settings) => ({ http: { correlation: { header: s.header } } }),
        }),
      ],
      [ErrorsController],
    );
    const res = await request(nest.getHttpServer()).get('/ok');
    expect(res.headers['x-trace-me']).toMatch(/\S+/);
  });

  it('accepts an existing Bulwark instance and closes it on application shutdown', async () => {
    const core = createBulwark({});
    const close = vi.spyOn(core, 'close');
    const nest = await start([BulwarkModule.forRoot(core)], [ErrorsController]);
    expect(nest.get(BULWARK)).toBe(core);
    await nest.close();
    app = undefined;
    expect(close).toHaveBeenCalledOnce();
  });
});

describe('misconfiguration fails at start', () => {
  async function startFails(target: Type, asController = false): Promise<string> {
    const imports = [BulwarkModule.forRoot({ policies: { known: { retry: {} } } })];
    const error = await start(imports, asController ? [target] : [], asController ? [] : [target]).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    return (error as Error).message;
  }

  it('names an unknown @UsePolicy policy', async () => {
    @Injectable()
    class S {
      @UsePolicy('payments-api') async pay() {}
    }
    expect(await startFails(S)).toMatch(/S\.pay: @UsePolicy\('payments-api'\) names no registered policy/);
  });

  it('names an unknown @CircuitBreaker(name) policy, on a controller too', async () => {
    @Controller()
    class C {
      @Get() @CircuitBreaker('nope') async get() {}
    }
    expect(await startFails(C, true)).toMatch(/C\.get: @CircuitBreaker\('nope'\) names no registered policy/);
  });

  it('names a @Fallback method that does not exist, or is not a function', async () => {
    @Injectable()
    class S {
      readonly notAFunction = 42;
      @Fallback('recover') async a() {}
      @Fallback('notAFunction') async b() {}
    }
    const message = await startFails(S);
    expect(message).toMatch(/S\.a: @Fallback\('recover'\): method 'recover' is not defined/);
    expect(message).toMatch(/S\.b: @Fallback\('notAFunction'\).*not a function \(got number\)/);
  });

  it('names a @Fallback method with too many parameters', async () => {
    @Injectable()
    class S {
      @Fallback('recover') async a(_x: number) {}
      recover(_error: unknown, _x: number, _extra: string) {}
    }
    expect(await startFails(S)).toMatch(/declares 3 parameters but receives at most 2/);
  });

  it('refuses the same decorator twice on one method', async () => {
    @Injectable()
    class S {
      @Retry() @Retry({ maxAttempts: 5 }) async twice() {}
    }
    expect(await startFails(S)).toMatch(/S\.twice: more than one @Retry/);
  });

  it('wraps service methods in an application context without HTTP too', async () => {
    @Injectable()
    class S {
      @Fallback((error: unknown) => `recovered from ${(error as Error).message}`)
      async fail(): Promise<string> {
        throw new Error('x');
      }
    }
    @Module({ imports: [BulwarkModule.forRoot()], providers: [S] })
    class M {}
    const ctx = await NestFactory.createApplicationContext(M, { logger: false });
    await expect(ctx.get(S).fail()).resolves.toBe('recovered from x');
    await ctx.close();
  });
});
