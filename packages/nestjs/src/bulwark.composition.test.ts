/**
 * One composition: every decorated method is a named policy in core's registry, built by core from
 * the decorators' config; Observable-returning methods get every decorator. Real Nest apps
 * (platform-express) with supertest; durations are a few ms of real time (real sockets).
 */
import 'reflect-metadata';
import type { Bulwark } from '@bulwark/core';
import {
  Controller,
  Get,
  type INestApplication,
  Inject,
  Injectable,
  Module,
  type Type,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { defer, Observable, of, throwError } from 'rxjs';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Bulkhead,
  CircuitBreaker,
  Fallback,
  InjectBulwark,
  Retry,
  TimeLimit,
  Timeout,
} from './bulwark.decorator.js';
import { BulwarkModule } from './bulwark.module.js';
import { currentSignal } from './bulwark.signal.js';

const transient = () => Object.assign(new Error('dependency down'), { status: 503 });

const seen = {
  subscriptions: 0,
  bodies: 0,
  torndown: 0,
  signal: undefined as AbortSignal | undefined,
  loads: 0,
};

/** Emits `value` after `ms` unless unsubscribed first (then counts a teardown). */
function later<T>(value: T, ms: number): Observable<T> {
  return new Observable<T>((subscriber) => {
    seen.subscriptions++;
    seen.signal = currentSignal();
    let fired = false;
    const timer = setTimeout(() => {
      fired = true;
      subscriber.next(value);
      subscriber.complete();
    }, ms);
    return () => {
      clearTimeout(timer);
      if (!fired) seen.torndown++;
    };
  });
}

@Injectable()
class CatsService {
  constructor(@InjectBulwark() readonly bulwark: Bulwark) {}

  @CircuitBreaker({ volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeout: '1m' })
  async findAll() {
    return ['tom'];
  }

  @Timeout(40)
  slow$(): Observable<string> {
    seen.bodies++;
    return later('too late', 5000);
  }

  @Retry({ maxAttempts: 3, initialDelay: 1, jitter: 'none' })
  flaky$(): Observable<string> {
    seen.bodies++;
    return defer(() => (++seen.subscriptions < 3 ? throwError(transient) : of('third time')));
  }

  @CircuitBreaker({ volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeout: '1m' })
  failing$(): Observable<never> {
    return defer(() => {
      seen.subscriptions++;
      return throwError(transient);
    });
  }

  @Bulkhead({ maxConcurrent: 1, maxQueue: 0 })
  busy$(): Observable<string> {
    return later('done', 60);
  }

  @Fallback(() => 'cached')
  @Retry({ maxAttempts: 2, initialDelay: 1 })
  degraded$(): Observable<string> {
    return throwError(transient);
  }

  @TimeLimit(40)
  async limited() {
    await new Promise((resolve) => setTimeout(resolve, 5000).unref());
  }

  // Not `async`: the first call learns it returns a Promise; every call is retried.
  @Retry({ maxAttempts: 2, initialDelay: 1 })
  load(): Promise<number> {
    seen.loads++;
    return seen.loads % 2 === 1 ? Promise.reject(transient()) : Promise.resolve(seen.loads);
  }

  @CircuitBreaker('shared-db', { volumeThreshold: 5 })
  async readA() {
    return 'a';
  }

  @CircuitBreaker('shared-db', { volumeThreshold: 5 })
  async readB() {
    return 'b';
  }
}

@Controller()
class CatsController {
  constructor(@Inject(CatsService) private readonly cats: CatsService) {}
  @Get('cats') cats$() {
    return this.cats.findAll();
  }
  @Get('slow') slow() {
    return this.cats.slow$();
  }
  @Get('flaky') flaky() {
    return this.cats.flaky$();
  }
  @Get('failing') failing() {
    return this.cats.failing$();
  }
  @Get('busy') busy() {
    return this.cats.busy$();
  }
  @Get('degraded') degraded() {
    return this.cats.degraded$();
  }
  @Get('limited') limited() {
    return this.cats.limited();
  }
  @Get('handler') @Timeout(40) handler(): Observable<string> {
    return later('handler too late', 5000);
  }
}

@Module({ providers: [CatsService], controllers: [CatsController] })
class CatsModule {}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
  for (const k of ['subscriptions', 'bodies', 'torndown', 'loads'] as const) seen[k] = 0;
  seen.signal = undefined;
});

async function start(imports: unknown[] = [BulwarkModule.forRoot(), CatsModule], providers: Type[] = []) {
  const moduleRef = await Test.createTestingModule({ imports: imports as never[], providers }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return { nest: app, http: request(app.getHttpServer()), core: app.get(CatsService).bulwark };
}

describe('every decorated method is a named policy', () => {
  it('names() lists Class.method and the shared breaker name, and @InjectBulwark injects the instance', async () => {
    const { core } = await start();
    expect(core.names()).toEqual(
      expect.arrayContaining(['CatsService.findAll', 'CatsService.slow$', 'CatsService.flaky$', 'shared-db']),
    );
    expect(core.names()).not.toContain('CatsService.readA');
    expect(typeof core.run).toBe('function');
  });

  it("an operator forces a decorated method's breaker open and closed by its name", async () => {
    const { http, core } = await start();
    core.breaker('CatsService.findAll').forceOpen();
    const open = await http.get('/cats');
    expect(open.status).toBe(503);
    expect(open.body.code).toBe('CIRCUIT_OPEN');
    expect(core.breaker('CatsService.findAll').state()).toBe('open');
    core.breaker('CatsService.findAll').forceClose();
    expect((await http.get('/cats')).body).toEqual(['tom']);
  });

  it('one breaker policy behind every method declaring the same name and options', async () => {
    const { nest, core } = await start();
    core.breaker('shared-db').forceOpen();
    await expect(nest.get(CatsService).readA()).rejects.toMatchObject({ code: 'CIRCUIT_OPEN' });
    await expect(nest.get(CatsService).readB()).rejects.toMatchObject({ code: 'CIRCUIT_OPEN' });
  });

  it('refuses a second declaration of a shared breaker name with other options', async () => {
    @Injectable()
    class Other {
      @CircuitBreaker('shared-db', { volumeThreshold: 50 }) async read() {}
    }
    const error = await start([BulwarkModule.forRoot(), CatsModule], [Other]).catch((e: Error) => e);
    expect(String(error)).toMatch(
      /\n {2}- (Other\.read|CatsService\.read[AB]): policies\.shared-db\.circuitBreaker\.volumeThreshold: expected/,
    );
  });

  it('a second app on the same core defines the same policies again (idempotent)', async () => {
    const { core } = await start();
    const again = await Test.createTestingModule({
      imports: [BulwarkModule.forRoot(core), CatsModule],
    }).compile();
    const second = again.createNestApplication({ logger: false });
    await second.init();
    expect(second.get(CatsService).bulwark).toBe(core);
    await expect(second.get(CatsService).findAll()).resolves.toEqual(['tom']);
  });

  it('a method that returns a Promise without being async is retried on every call, the first too', async () => {
    const { nest } = await start();
    await expect(nest.get(CatsService).load()).resolves.toBe(2);
    await expect(nest.get(CatsService).load()).resolves.toBe(4);
    expect(seen.loads).toBe(4);
  });

  it('core validates the options and the error names the method', async () => {
    @Injectable()
    class Bad {
      @Retry({ maxAttempts: -1 }) async call() {}
    }
    const error = await start([BulwarkModule.forRoot()], [Bad]).catch((e: Error) => e);
    expect(String(error)).toMatch(/\n {2}- Bad\.call: policies\.Bad\.call\.retry\.maxAttempts: expected/);
  });

  it('refuses a method whose emitted return type is a plain value, naming the method', async () => {
    @Injectable()
    class Calc {
      // @ts-expect-error a resilient call is asynchronous: a number-returning method does not compile
      @Retry() double(n: number): number {
        return n * 2;
      }
    }
    // What tsc and swc emit for `double(n: number): number` (vitest's esbuild emits no metadata).
    Reflect.defineMetadata('design:returntype', Number, Calc.prototype, 'double');
    const error = await start([BulwarkModule.forRoot()], [Calc]).catch((e: Error) => e);
    expect(String(error)).toMatch(/Calc\.double: returns Number, but a resilient call is asynchronous/);
  });
});

describe('Observable-returning methods', () => {
  it('@Timeout unsubscribes the source and aborts its signal, answering 504', async () => {
    const { http } = await start();
    const started = Date.now();
    const res = await http.get('/slow').set('x-request-id', 'obs-1');
    expect(res.status).toBe(504);
    expect(res.body).toMatchObject({ code: 'TIMEOUT', correlationId: 'obs-1' });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(seen.torndown).toBe(1);
    expect(seen.signal?.aborted).toBe(true);
  });

  it('@Timeout on a controller handler returning an Observable', async () => {
    const { http } = await start();
    expect((await http.get('/handler')).status).toBe(504);
    expect(seen.torndown).toBe(1);
  });

  it('@Retry resubscribes (the method body runs once per call)', async () => {
    const { http } = await start();
    const res = await http.get('/flaky');
    expect(res.status).toBe(200);
    expect(res.text).toBe('third time');
    expect([seen.subscriptions, seen.bodies]).toEqual([3, 1]);
  });

  it('@CircuitBreaker counts failed subscriptions and then refuses without subscribing', async () => {
    const { http, core } = await start();
    expect((await http.get('/failing')).status).toBe(500);
    expect((await http.get('/failing')).status).toBe(500);
    const open = await http.get('/failing');
    expect(open.body.code).toBe('CIRCUIT_OPEN');
    expect(seen.subscriptions).toBe(2);
    expect(core.breaker('CatsService.failing$').state()).toBe('open');
  });

  it('@Bulkhead holds its slot for the whole subscription', async () => {
    const { http } = await start();
    const [a, b] = await Promise.all([http.get('/busy'), http.get('/busy')]);
    expect([a.status, b.status].sort()).toEqual([200, 503]);
    expect([a.body.code, b.body.code]).toContain('BULKHEAD_FULL');
  });

  it('@Fallback emits the fallback value after the retries failed', async () => {
    const { http } = await start();
    const res = await http.get('/degraded');
    expect([res.status, res.text]).toEqual([200, 'cached']);
  });

  it("the subscriber's unsubscribe tears the source down and aborts its signal", async () => {
    const { nest } = await start();
    const subscription = nest.get(CatsService).slow$().subscribe();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(seen.subscriptions).toBe(1);
    subscription.unsubscribe();
    expect(seen.torndown).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(seen.signal?.aborted).toBe(true);
  });
});

it('@TimeLimit is @Timeout under another name', async () => {
  const { http } = await start();
  const res = await http.get('/limited');
  expect([res.status, res.body.code]).toEqual([504, 'TIMEOUT']);
});
