import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import {
  type Bulwark,
  type BulwarkConfig,
  createBulwark,
  getContext,
  type RequestContext,
} from '@bulwark/core';
import { bodyParser } from '@koa/bodyparser';
import Koa, { type Middleware } from 'koa';
import request from 'supertest';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { type BulwarkKoa, type BulwarkState, bulwark } from './index.js';

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  delay(ms, undefined, { signal }).catch((e: unknown) => {
    throw signal?.aborted ? signal.reason : e;
  });

const cores: Bulwark[] = [];
afterEach(async () => {
  await Promise.all(cores.splice(0).map((c) => c.close()));
});

type Routes = Record<string, Middleware>;

/** A Koa app with Bulwark's middleware and the given routes (keyed `METHOD /path`); records app errors. */
function makeApp(
  routesOf: Routes | ((bw: BulwarkKoa) => Routes),
  config: BulwarkConfig = {},
  upstream?: Middleware,
) {
  const bw = bulwark(config);
  cores.push(bw.core);
  const routes = typeof routesOf === 'function' ? routesOf(bw) : routesOf;
  const app = new Koa();
  const errors: unknown[] = [];
  app.on('error', (err) => errors.push(err));
  if (upstream) app.use(upstream);
  app.use(bw.middleware);
  app.use((ctx, next) => routes[`${ctx.method} ${ctx.path}`]?.(ctx, next) ?? next());
  return { app, bw, errors, agent: request(app.callback()) };
}

/** Resolves once `signal` aborts. */
const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) =>
    signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true }),
  );

describe('middleware', () => {
  it('admits, echoes the correlation ID and fills ctx.state.bulwark with the ALS context', async () => {
    let state: BulwarkState | undefined;
    let als: RequestContext | undefined;
    const { agent, bw } = makeApp({
      'GET /ok': (ctx) => {
        state = ctx.state.bulwark;
        als = getContext();
        ctx.body = { ok: true };
      },
    });
    const res = await agent.get('/ok').set('x-request-id', 'abc-123');
    expect(res.status).toBe(200);
    expect(res.headers[bw.core.http.correlationHeader]).toBe('abc-123');
    expect(state?.correlationId).toBe('abc-123');
    expect(state?.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(state?.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(state?.signal).toBeInstanceOf(AbortSignal);
    expect(als).toBe(state?.context);
  });

  it('types ctx.state.bulwark through DefaultState', () => {
    const mw: Middleware = (ctx) => {
      expectTypeOf(ctx.state.bulwark).toEqualTypeOf<BulwarkState | undefined>();
      expectTypeOf(ctx.state.bulwark!.degrade).parameter(0).toBeString();
    };
    expect(mw).toBeTypeOf('function');
  });

  it('sets the degraded header from degrade() and from markDegraded deeper down', async () => {
    const { agent, bw } = makeApp({
      'GET /d': (ctx) => {
        ctx.state.bulwark!.degrade('cache-stale');
        ctx.body = { ok: true };
      },
    });
    const res = await agent.get('/d');
    expect(res.status).toBe(200);
    expect(res.headers[bw.core.http.degradedHeader]).toContain('cache-stale');
  });

  it('answers an unknown error as a 500 problem, hides the message in production, emits it once', async () => {
    const boom = new Error('db password is hunter2');
    const { agent, errors } = makeApp(
      {
        'GET /boom': () => {
          throw boom;
        },
      },
      { http: { production: true } },
    );
    const res = await agent.get('/boom');
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      status: 500,
      code: expect.any(String),
      correlationId: expect.any(String),
    });
    expect(JSON.stringify(res.body)).not.toContain('hunter2');
    expect(errors).toEqual([boom]);
  });

  it('sends no body for HEAD', async () => {
    const { agent } = makeApp({
      'HEAD /boom': () => {
        throw new Error('x');
      },
    });
    const res = await agent.head('/boom');
    expect(res.status).toBe(500);
    expect(res.text ?? '').toBe('');
  });

  it('wraps a thrown non-error before emitting it to the app', async () => {
    const { agent, errors } = makeApp({
      'GET /str': () => {
        throw 'just a string';
      },
    });
    const res = await agent.get('/str');
    expect(res.status).toBe(500);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(Error);
  });

  it('keeps the status of ctx.throw and does not emit client errors', async () => {
    const { agent, errors } = makeApp({
      'GET /missing': (ctx) => ctx.throw(404, 'no such user'),
      'GET /auth': (ctx) => ctx.throw(401, 'log in first', { headers: { 'WWW-Authenticate': 'Bearer' } }),
    });
    const missing = await agent.get('/missing');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(missing.body.status).toBe(404);
    const auth = await agent.get('/auth');
    expect(auth.status).toBe(401);
    expect(auth.headers['www-authenticate']).toBe('Bearer');
    expect(errors).toEqual([]);
  });

  it('shows an exposed ctx.throw message and hides an unexposed one (production)', async () => {
    const { agent, errors } = makeApp(
      {
        'GET /bad': (ctx) => ctx.throw(400, 'name is required'),
        'GET /secret': (ctx) => ctx.throw(503, 'pool exhausted at 10.0.0.7'),
      },
      { http: { production: true } },
    );
    const bad = await agent.get('/bad');
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('name is required');
    const secret = await agent.get('/secret');
    expect(secret.status).toBe(503);
    expect(JSON.stringify(secret.body)).not.toContain('10.0.0.7');
    expect(errors).toHaveLength(1);
  });

  it('drops headers set downstream of a failure but keeps upstream ones', async () => {
    const { agent } = makeApp(
      {
        'GET /half': (ctx) => {
          ctx.set('ETag', '"v1"');
          ctx.body = 'partial';
          throw new Error('late failure');
        },
      },
      {},
      (ctx, next) => {
        ctx.set('Access-Control-Allow-Origin', '*');
        return next();
      },
    );
    const res = await agent.get('/half');
    expect(res.status).toBe(500);
    expect(res.headers.etag).toBeUndefined();
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.body.status).toBe(500);
  });

  it('sheds load with the engine rejection and never runs the handler', async () => {
    let runs = 0;
    let unblock = () => {};
    const gate = new Promise<void>((r) => {
      unblock = r;
    });
    const { app } = makeApp(
      {
        'GET /busy': async (ctx) => {
          runs++;
          await gate;
          ctx.body = { ok: true };
        },
      },
      { http: { bulkhead: { maxConcurrent: 1, maxQueue: 0 } } },
    );
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const agent = request(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      const first = agent.get('/busy').then((r) => r);
      while (runs === 0) await new Promise((r) => setImmediate(r)); // wait until the first one holds the slot
      const second = await agent.get('/busy');
      expect(second.status).toBe(503);
      expect(second.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(second.headers['retry-after']).toBeDefined();
      expect(runs).toBe(1);
      unblock();
      expect((await first).status).toBe(200);
      // The slot was released when the first response finished.
      expect((await agent.get('/busy')).status).toBe(200);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('aborts the signal when the client disconnects, and releases the slot', async () => {
    let signal: AbortSignal | undefined;
    let sawAbort: () => void = () => {};
    const abortSeen = new Promise<void>((r) => {
      sawAbort = r;
    });
    const { app, errors } = makeApp(
      {
        'GET /hang': async (ctx) => {
          signal = ctx.state.bulwark!.signal;
          await aborted(signal);
          sawAbort();
          throw signal.reason; // a cancellation, not a server error: not emitted
        },
        'GET /ok': (ctx) => {
          ctx.body = 'ok';
        },
      },
      { http: { bulkhead: { maxConcurrent: 1, maxQueue: 0, key: () => 'all' } } },
    );
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const ac = new AbortController();
      fetch(`${base}/hang`, { signal: ac.signal }).catch(() => {});
      while (!signal) await new Promise((r) => setImmediate(r));
      ac.abort();
      await abortSeen;
      expect(signal.aborted).toBe(true);
      await new Promise((r) => setImmediate(r)); // let 'close' run release()
      expect((await fetch(`${base}/ok`)).status).toBe(200);
      expect(errors).toEqual([]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('rate limits with RateLimit headers, and sends no body for a HEAD rejection', async () => {
    let runs = 0;
    const hit: Middleware = (ctx) => {
      runs++;
      ctx.body = 'ok';
    };
    const { agent } = makeApp(
      { 'GET /r': hit, 'HEAD /r': hit },
      { http: { rateLimit: { limit: 1, interval: '1m', key: () => 'all' } } },
    );
    expect((await agent.get('/r')).status).toBe(200);
    const limited = await agent.head('/r');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBeDefined();
    expect(Object.keys(limited.headers).some((h) => h.startsWith('ratelimit'))).toBe(true);
    expect(limited.text ?? '').toBe('');
    const body = await agent.get('/r');
    expect(body.status).toBe(429);
    expect(body.body.code).toBe('RATE_LIMITED');
    expect(runs).toBe(1);
  });

  it('rejects a spent deadline and aborts the signal when the deadline passes', async () => {
    let runs = 0;
    const { agent } = makeApp({
      'GET /slow': async (ctx) => {
        runs++;
        await sleep(5_000, ctx.state.bulwark!.signal);
        ctx.body = 'late';
      },
    });
    const spent = await agent.get('/slow').set('x-deadline-ms', '0');
    expect(spent.status).toBe(504);
    expect(runs).toBe(0);
    const passed = await agent.get('/slow').set('x-deadline-ms', '50');
    expect(passed.status).toBe(504);
    expect(passed.body.code).toBe('DEADLINE_EXCEEDED');
    expect(runs).toBe(1);
  });

  it('reports an error after the headers were sent and cuts the response', async () => {
    const { agent, errors } = makeApp({
      'GET /stream': (ctx) => {
        ctx.status = 200;
        ctx.res.flushHeaders();
        throw new Error('mid-stream');
      },
    });
    await agent.get('/stream').catch(() => undefined);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('mid-stream');
  });

  it('admits once when mounted twice', async () => {
    const { app, bw } = makeApp({});
    let contexts = 0;
    app.use(bw.middleware);
    app.use((ctx) => {
      contexts = getContext() === ctx.state.bulwark!.context ? 1 : 0;
      ctx.body = 'ok';
    });
    const res = await request(app.callback()).get('/x');
    expect(res.status).toBe(200);
    expect(contexts).toBe(1);
  });
});

describe('protect', () => {
  it('sends a returned value as the body, unless the handler set one', async () => {
    const { agent } = makeApp((bw) => ({
      'GET /value': bw.protect({}, () => ({ hello: 'world' })),
      'GET /own': bw.protect({}, (ctx) => {
        ctx.body = 'set by handler';
        return { ignored: true };
      }),
    }));
    expect((await agent.get('/value')).body).toEqual({ hello: 'world' });
    expect((await agent.get('/own')).text).toBe('set by handler');
  });

  it('times out: aborts the handler signal and answers 504', async () => {
    let handlerAborted = false;
    const { agent } = makeApp((bw) => ({
      'GET /slow': bw.protect({ timeout: 50 }, async (_ctx, signal) => {
        await aborted(signal);
        handlerAborted = true;
        throw signal.reason;
      }),
    }));
    const res = await agent.get('/slow');
    expect(res.status).toBe(504);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(handlerAborted).toBe(true);
  });

  it('admits by itself when the app-level middleware is absent', async () => {
    const bw = bulwark({});
    cores.push(bw.core);
    const app = new Koa();
    app.use(bw.protect({}, (ctx) => ({ correlationId: ctx.state.bulwark!.correlationId })));
    const res = await request(app.callback()).get('/').set('x-request-id', 'solo-1');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ correlationId: 'solo-1' });
  });

  it('runs a named policy and takes an existing core', async () => {
    const core = createBulwark({ policies: { safe: { fallback: { value: { fallback: true } } } } });
    cores.push(core);
    const bw = bulwark(core);
    expect(bw.core).toBe(core);
    const app = new Koa();
    app.use(bw.middleware);
    app.use(
      bw.protect({ policy: 'safe' }, () => {
        throw new Error('down');
      }),
    );
    const res = await request(app.callback()).get('/');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ fallback: true });
    expect(res.headers[core.http.degradedHeader]).toBeDefined();
  });
});

describe('body parsers', () => {
  // koa-bodyparser ships no types; it is a function returning middleware.
  const koaBodyParser = createRequire(import.meta.url)('koa-bodyparser') as () => Middleware;

  it.each([
    ['koa-bodyparser', koaBodyParser],
    ['@koa/bodyparser', () => bodyParser() as unknown as Middleware],
  ])(
    '%s: malformed JSON answers 400 with the parser message, not a 500, and is not reported',
    async (_name, parser) => {
      const bw = bulwark({ http: { production: true } });
      cores.push(bw.core);
      const app = new Koa();
      const errors: unknown[] = [];
      app.on('error', (err) => errors.push(err));
      app.use(bw.middleware);
      app.use(parser());
      app.use((ctx) => {
        ctx.body = { got: (ctx.request as { body?: unknown }).body };
      });
      const bad = await request(app.callback())
        .post('/orders')
        .set('content-type', 'application/json')
        .send('{"id": 1,');
      expect(bad.status).toBe(400);
      expect(bad.headers['content-type']).toMatch(/^application\/problem\+json/);
      const body = JSON.parse(bad.text) as { status: number; detail?: string };
      expect(body.status).toBe(400);
      expect(body.detail).toBeTruthy();
      expect(errors).toEqual([]);
      const good = await request(app.callback()).post('/orders').send({ id: 1 });
      expect(good.body).toEqual({ got: { id: 1 } });
    },
  );
});
