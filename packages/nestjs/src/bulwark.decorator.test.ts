/**
 * The decorators on controller handlers and on plain service methods, through a real Nest app
 * (platform-express) and supertest. Durations are a few ms of real time: the requests go through a
 * real HTTP server, where fake timers would also freeze the sockets.
 */
import 'reflect-metadata';
import { type Bulwark, BulwarkError, getContext } from '@bulwark/core';
import {
  Controller,
  Get,
  HttpCode,
  type INestApplication,
  Inject,
  Injectable,
  Module,
  Param,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { BULWARK } from './bulwark.constants.js';
import { Bulkhead, CircuitBreaker, Fallback, Retry, Timeout, UsePolicy } from './bulwark.decorator.js';
import { BulwarkModule } from './bulwark.module.js';
import { currentSignal } from './bulwark.signal.js';

/** A 503 the standard classifier retries. */
const transient = () => Object.assign(new Error('dependency down'), { status: 503 });

function untilAborted(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_resolve, reject) =>
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true }),
  );
}

const calls = {
  charge: 0,
  flaky: 0,
  stackA: 0,
  stackB: 0,
  named: 0,
  sawSignal: undefined as AbortSignal | undefined,
};

@Injectable()
class PaymentsService {
  @Retry({ maxAttempts: 3, initialDelay: 1, jitter: 'none' })
  async charge(amount: number) {
    calls.charge++;
    if (calls.charge < 3) throw transient();
    return { charged: amount, correlationId: getContext()?.correlationId };
  }

  @Fallback('cached')
  @Timeout(30)
  async price(_sku: string) {
    calls.sawSignal = currentSignal();
    return untilAborted(currentSignal());
  }

  cached(error: unknown, sku: string) {
    return { sku, cached: true, timedOut: error instanceof BulwarkError && error.code === 'TIMEOUT' };
  }

  // Written retry-outside-fallback, run fallback-outside-retry: every attempt fails before the fallback.
  @Retry({ maxAttempts: 3, initialDelay: 1, jitter: 'none' })
  @Fallback((_error: unknown) => 'A fell back')
  async stackA() {
    calls.stackA++;
    throw transient();
  }

  @Fallback((_error: unknown) => 'B fell back')
  @Retry({ maxAttempts: 3, initialDelay: 1, jitter: 'none' })
  async stackB() {
    calls.stackB++;
    throw transient();
  }

  @Retry({ maxAttempts: 2, initialDelay: 1 })
  async inner() {
    calls.sawSignal = currentSignal();
    return untilAborted(currentSignal());
  }

  @UsePolicy('payments-api')
  async named() {
    calls.named++;
    if (calls.named < 2) throw transient();
    return 'named ok';
  }
}

@Controller()
class ShopController {
  constructor(@Inject(PaymentsService) private readonly payments: PaymentsService) {}

  @Get('charge/:amount')
  charge(@Param('amount') amount: string) {
    return this.payments.charge(Number(amount));
  }

  @Get('price/:sku')
  price(@Param('sku') sku: string) {
    return this.payments.price(sku);
  }

  @Get('stack')
  async stack() {
    return { a: await this.payments.stackA(), b: await this.payments.stackB() };
  }

  @Get('named')
  async named() {
    return { value: await this.payments.named() };
  }

  @Get('nested')
  @Timeout(30)
  nested(): Promise<never> {
    return this.payments.inner();
  }

  @Get('slow')
  @Timeout(30)
  slow(): Promise<never> {
    return untilAborted(currentSignal());
  }

  @Timeout(1000)
  @HttpCode(202)
  @Get('accepted')
  async accepted() {
    return { accepted: true };
  }

  @Get('busy')
  @Bulkhead({ maxConcurrent: 1, maxQueue: 0 })
  async busy() {
    await new Promise((resolve) => setTimeout(resolve, 50));
    return { done: true };
  }

  @Get('breaker/:fail')
  @CircuitBreaker('inventory', { volumeThreshold: 1, errorThresholdPercentage: 1, resetTimeout: '1m' })
  async breaker(@Param('fail') fail: string) {
    if (fail === 'yes') throw transient();
    return { ok: true };
  }

  @Get('breaker2')
  @CircuitBreaker('inventory', { volumeThreshold: 1, errorThresholdPercentage: 1, resetTimeout: '1m' })
  async breaker2() {
    return { ok: true };
  }
}

@Module({ providers: [PaymentsService], controllers: [ShopController] })
class ShopModule {}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
  for (const k of ['charge', 'flaky', 'stackA', 'stackB', 'named'] as const) calls[k] = 0;
});

async function start(): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      BulwarkModule.forRoot({ policies: { 'payments-api': { retry: { maxAttempts: 2, initialDelay: 1 } } } }),
      ShopModule,
    ],
  }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

describe('decorators on services', () => {
  it('@Retry retries a service method called from a controller, inside the request context', async () => {
    const res = await request((await start()).getHttpServer())
      .get('/charge/42')
      .set('x-request-id', 'req-42');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ charged: 42, correlationId: 'req-42' });
    expect(calls.charge).toBe(3);
  });

  it("reports the decorators' events (retries) on the core instance's event stream", async () => {
    const nest = await start();
    const core = nest.get<Bulwark>(BULWARK);
    const seen: string[] = [];
    core.events.on('retry.scheduled', (e) => seen.push(e.policy));
    await request(nest.getHttpServer()).get('/charge/1').expect(200);
    expect(seen).toEqual(['PaymentsService.charge', 'PaymentsService.charge']);
  });

  it('@Fallback answers with a method of the class, getting the error and the arguments', async () => {
    const res = await request((await start()).getHttpServer()).get('/price/sku-1');
    expect(res.body).toEqual({ sku: 'sku-1', cached: true, timedOut: true });
    expect(calls.sawSignal?.aborted).toBe(true);
  });

  it('@UsePolicy runs the named policy from the config', async () => {
    const res = await request((await start()).getHttpServer()).get('/named');
    expect(res.body).toEqual({ value: 'named ok' });
    expect(calls.named).toBe(2);
  });

  it('stacks in the fixed order (fallback outside retry) whatever order the decorators are written in', async () => {
    const res = await request((await start()).getHttpServer()).get('/stack');
    expect(res.body).toEqual({ a: 'A fell back', b: 'B fell back' });
    expect([calls.stackA, calls.stackB]).toEqual([3, 3]);
  });
});

describe('decorators on controller handlers', () => {
  it('@Timeout aborts the handler signal and answers a 504 problem with the correlation ID', async () => {
    const res = await request((await start()).getHttpServer())
      .get('/slow')
      .set('x-request-id', 'slow-1');
    expect(res.status).toBe(504);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.headers['x-request-id']).toBe('slow-1');
    expect(res.body).toMatchObject({ status: 504, code: 'TIMEOUT', correlationId: 'slow-1' });
  });

  it("a handler's @Timeout aborts the signal of the service methods it calls", async () => {
    const res = await request((await start()).getHttpServer()).get('/nested');
    expect(res.status).toBe(504);
    expect(calls.sawSignal?.aborted).toBe(true);
  });

  it('keeps Nest route metadata (@HttpCode) on the wrapped handler', async () => {
    const res = await request((await start()).getHttpServer()).get('/accepted');
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: true });
  });

  it('@Bulkhead sheds the call beyond its limit with a 503', async () => {
    const server = (await start()).getHttpServer();
    const [a, b] = await Promise.all([request(server).get('/busy'), request(server).get('/busy')]);
    expect([a.status, b.status].sort()).toEqual([200, 503]);
    expect([a.body.code, b.body.code]).toContain('BULKHEAD_FULL');
  });

  it('@CircuitBreaker(name, options) shares one breaker across the methods using the name', async () => {
    const server = (await start()).getHttpServer();
    expect((await request(server).get('/breaker/yes')).status).toBe(500);
    const open = await request(server).get('/breaker2');
    expect(open.status).toBe(503);
    expect(open.body.code).toBe('CIRCUIT_OPEN');
  });
});
