import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Bulwark, type BulwarkConfig, createBulwark, getContext, markDegraded } from '@bulwark/core';
import { type InboundRequest } from '@bulwark/core/adapter';
import express, { type RequestHandler } from 'express';
import supertest from 'supertest';
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { type BulwarkExpress, type BulwarkRequest, bulwark } from './index.js';

const cores: Bulwark[] = [];
afterEach(async () => {
  await Promise.all(cores.splice(0).map((c) => c.close()));
});

/** A Bulwark for Express whose core is closed after the test. */
function make(config: BulwarkConfig = {}): BulwarkExpress {
  const bw = bulwark({ ...config, http: { production: true, ...config.http } });
  cores.push(bw.core);
  return bw;
}

/** Calls a handler the way Express 4 does: the returned value (a promise or not) is dropped. */
function express4(handler: RequestHandler): RequestHandler {
  return (req, res, next) => {
    const returned: unknown = handler(req, res, next);
    expect(returned).toBeUndefined();
  };
}

describe('bulwark()', () => {
  it('accepts a core instance and keeps it', () => {
    const core = createBulwark({});
    cores.push(core);
    expect(bulwark(core).core).toBe(core);
  });

  it('builds a core from a config', () => {
    const bw = make();
    expect(typeof bw.core.run).toBe('function');
    expect(bw.core.http).toBeDefined();
  });
});

describe('middleware', () => {
  it('types and fills req.bulwark, and runs the handler inside the request context', async () => {
    const bw = make();
    const app = express();
    app.use(bw.middleware);
    app.get('/ctx', (req, res) => {
      expectTypeOf(req.bulwark).toEqualTypeOf<BulwarkRequest | undefined>();
      const b = req.bulwark!;
      res.json({
        same: getContext() === b.context,
        correlationId: b.correlationId,
        traceId: b.traceId,
        spanId: b.spanId,
        aborted: b.signal.aborted,
        deadline: b.deadline ?? null,
      });
    });
    const res = await supertest(app).get('/ctx').set('x-request-id', 'req-1');
    expect(res.body).toMatchObject({ same: true, correlationId: 'req-1', aborted: false, deadline: null });
    expect(res.body.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(res.body.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(res.headers['x-request-id']).toBe('req-1');
  });

  it('sets the degraded header from degrade() and from markDegraded deeper down', async () => {
    const bw = make();
    const app = express();
    app.use(bw.middleware);
    app.get('/d', async (req, res) => {
      req.bulwark!.degrade('cache-stale');
      await Promise.resolve();
      markDegraded('no-recommendations');
      res.json({ ok: true });
    });
    const res = await supertest(app).get('/d');
    expect(res.headers[bw.core.http.degradedHeader]).toContain('cache-stale');
    expect(res.headers[bw.core.http.degradedHeader]).toContain('no-recommendations');
  });

  it('keys app-level limits engine-wide, not by path: distinct URLs cannot walk past the bulkhead', async () => {
    const seen: (string | undefined)[] = [];
    const key = (req: InboundRequest) => {
      seen.push(req.routeKey);
      return 'all';
    };
    // The bulkhead uses the default key; the rate limit's key function only records what it was given.
    const bw = make({
      http: { bulkhead: { maxConcurrent: 1, maxQueue: 0 }, rateLimit: { limit: 100, key } },
    });
    const app = express();
    app.use(bw.middleware);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    app.get('/users/:id', async (_req, res) => {
      await gate;
      res.end();
    });
    const server = app.listen(0, '127.0.0.1');
    try {
      const first = supertest(server)
        .get('/users/1')
        .then((r) => r);
      await vi.waitFor(() => expect(seen).toHaveLength(1));
      for (let i = 2; i <= 5; i++)
        expect((await supertest(server).get(`/users/${i}?x=${i}`)).status).toBe(503);
      open();
      expect((await first).status).toBe(200);
      expect(seen).toEqual([undefined, undefined, undefined, undefined, undefined]);
    } finally {
      server.close();
    }
  });

  it('keys by route pattern when mounted on the route, and admits once when mounted twice', async () => {
    const keys: string[] = [];
    const key = (req: InboundRequest) => {
      keys.push(req.routeKey ?? '');
      return 'all';
    };
    const bw = make({ http: { bulkhead: { maxConcurrent: 5, key } } });
    const app = express();
    const router = express.Router();
    router.get('/items/:id', bw.middleware, (_req, res) => res.end());
    app.use('/api', router);
    app.get('/twice/:id', bw.middleware, bw.middleware, (_req, res) => res.end());
    await supertest(app).get('/api/items/7');
    await supertest(app).get('/twice/8');
    expect(keys).toEqual(['GET /api/items/:id', 'GET /twice/:id']);
  });

  it('writes a rejection with its headers and no body for HEAD', async () => {
    const bw = make();
    const app = express();
    app.use(bw.middleware);
    app.get('/ok', (_req, res) => res.json({ ok: true }));
    const get = await supertest(app).get('/ok').set('x-deadline-ms', '0');
    expect(get.status).toBe(504);
    expect(get.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(get.text).code).toBe('DEADLINE_EXCEEDED');
    const head = await supertest(app).head('/ok').set('x-deadline-ms', '0');
    expect(head.status).toBe(504);
    expect(head.text ?? '').toBe('');
  });

  it('replaces a correlation ID holding CR/LF that reached the app (no response splitting)', async () => {
    const bw = make();
    const app = express();
    // What a lax proxy or parser could hand over; Node's own parser refuses it on the wire.
    app.use((req, _res, next) => {
      req.headers['x-request-id'] = 'abc\r\nSet-Cookie: session=evil';
      next();
    });
    app.use(bw.middleware);
    app.get('/ok', (_req, res) => res.json({ ok: true }));
    const res = await supertest(app).get('/ok');
    expect(res.status).toBe(200);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.headers['x-request-id']).toMatch(/^[A-Za-z0-9\-_.:/+=@]{1,128}$/);
  });

  it('aborts the signal on client disconnect and frees the bulkhead slot', async () => {
    const bw = make({ http: { bulkhead: { maxConcurrent: 1, maxQueue: 0 } } });
    const app = express();
    let aborted = false;
    let started = false;
    app.use(bw.middleware);
    app.get('/hang', (req) => {
      started = true;
      req.bulwark!.signal.addEventListener('abort', () => {
        aborted = true;
      });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const { port } = server.address() as AddressInfo;
      const req = httpRequest({ host: '127.0.0.1', port, path: '/hang' });
      req.on('error', () => {}); // ECONNRESET from our own destroy()
      req.end();
      await vi.waitFor(() => expect(started).toBe(true));
      req.destroy();
      await vi.waitFor(() => expect(aborted).toBe(true));
      // The slot came back: with maxConcurrent 1 and no queue, a second hang would be shed.
      started = false;
      const again = httpRequest({ host: '127.0.0.1', port, path: '/hang' });
      again.on('error', () => {});
      again.end();
      await vi.waitFor(() => expect(started).toBe(true));
      again.destroy();
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('client leaving while queued', () => {
  it('does not run the handler, and gives the slot back at once', async () => {
    const bw = make({ http: { bulkhead: { maxConcurrent: 1, maxQueue: 1, queueTimeout: '5s' } } });
    const app = express();
    let runs = 0;
    const aborts: boolean[] = [];
    app.use(bw.middleware);
    app.get('/hang', (req) => {
      runs++;
      req.bulwark!.signal.addEventListener('abort', () => aborts.push(true));
    });
    app.get('/ok', (_req, res) => res.json({ ok: true }));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as AddressInfo;
    const open = (path: string) => {
      const req = httpRequest({ host: '127.0.0.1', port, path });
      req.on('error', () => {}); // ECONNRESET from our own destroy()
      req.end();
      return req;
    };
    try {
      const holder = open('/hang');
      await vi.waitFor(() => expect(runs).toBe(1));
      const queued = open('/hang');
      // Give the queued request time to reach the bulkhead queue (real sockets, nothing to observe).
      await new Promise((r) => setTimeout(r, 50));
      queued.destroy();
      await new Promise((r) => setTimeout(r, 50));
      holder.destroy(); // the slot passes to the departed request, which must hand it back
      await vi.waitFor(() => expect(aborts).toEqual([true]));
      const ok = await supertest(server).get('/ok');
      expect(ok.status).toBe(200);
      expect(runs).toBe(1);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('protect()', () => {
  it('sends a returned value as JSON and leaves alone a handler that answered itself', async () => {
    const bw = make();
    const app = express();
    app.use(bw.middleware);
    app.get(
      '/value',
      bw.protect({ timeout: '1s' }, (req, _res, signal) => ({ id: req.query.id, aborted: signal.aborted })),
    );
    app.get(
      '/self',
      bw.protect({}, (_req, res) => {
        res.status(201).send('made');
      }),
    );
    expect((await supertest(app).get('/value?id=3')).body).toEqual({ id: '3', aborted: false });
    const self = await supertest(app).get('/self');
    expect(self.status).toBe(201);
    expect(self.text).toBe('made');
  });

  it('admits by itself, keyed by route pattern, when the app-level middleware is absent', async () => {
    const keys: string[] = [];
    const key = (req: InboundRequest) => {
      keys.push(req.routeKey ?? '');
      return 'all';
    };
    const bw = make({ http: { bulkhead: { maxConcurrent: 5, key } } });
    const app = express();
    app.get(
      '/orders/:id',
      bw.protect({}, (req) => ({
        correlationId: req.bulwark?.correlationId,
        inContext: getContext() !== undefined,
      })),
    );
    const res = await supertest(app).get('/orders/9').set('x-request-id', 'o-9');
    expect(res.body).toEqual({ correlationId: 'o-9', inContext: true });
    expect(keys).toEqual(['GET /orders/:id']);
  });

  it('forwards async errors to next(err) even when Express drops the returned promise (Express 4)', async () => {
    const bw = make();
    const app = express();
    app.use(express4(bw.middleware));
    app.get(
      '/fail',
      express4(
        bw.protect({}, async () => {
          await Promise.resolve();
          // Shaped like http-errors (status + expose), so the engine keeps its status.
          throw Object.assign(new Error('taken'), { status: 409, expose: true });
        }),
      ),
    );
    app.get(
      '/slow',
      express4(
        bw.protect(
          { timeout: 20 },
          (_req, _res, signal) =>
            new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
        ),
      ),
    );
    app.use(bw.errorHandler);
    const fail = await supertest(app).get('/fail');
    expect(fail.status).toBe(409);
    expect(fail.headers['content-type']).toMatch(/^application\/problem\+json/);
    const slow = await supertest(app).get('/slow');
    expect(slow.status).toBe(504);
    expect(JSON.parse(slow.text).code).toBe('TIMEOUT');
  });
});

describe('errorHandler', () => {
  it('writes a problem even for an error raised before the middleware ran', async () => {
    const bw = make();
    const app = express();
    app.get('/early', () => {
      throw new Error('secret');
    });
    app.use(bw.errorHandler);
    const res = await supertest(app).get('/early').set('accept', 'text/html');
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.text).not.toContain('secret');
    expect(JSON.parse(res.text).instance).toBe('/early');
  });

  it('delegates to next(err) once headers were sent', async () => {
    const bw = make();
    const app = express();
    const after = vi.fn();
    app.use(bw.middleware);
    app.get('/partial', (_req, res, next) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('half');
      next(new Error('late'));
    });
    app.use(bw.errorHandler);
    app.use(((err, _req, res, _next) => {
      after(err);
      res.end();
    }) satisfies express.ErrorRequestHandler);
    const res = await supertest(app).get('/partial');
    expect(res.status).toBe(200);
    expect(after).toHaveBeenCalledWith(expect.objectContaining({ message: 'late' }));
  });
});

describe('error reporting and request IDs', () => {
  it('logs each unknown error once by default, with its stack and correlation ID (console.error)', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const bw = make();
      const app = express();
      app.use(bw.middleware);
      app.get('/boom', () => {
        throw new Error('disk on fire');
      });
      app.get('/gone', (_req, _res, next) =>
        next(Object.assign(new Error('gone'), { status: 410, expose: true })),
      );
      app.use(bw.errorHandler);
      const res = await supertest(app).get('/boom').set('x-request-id', 'log-1');
      expect(res.status).toBe(500);
      expect((await supertest(app).get('/gone')).status).toBe(410);
      expect(logged).toHaveBeenCalledTimes(1);
      const [message, error] = logged.mock.calls[0] as [string, Error];
      expect(message).toContain('log-1');
      expect(message).toContain('GET /boom');
      expect(error.stack).toContain('disk on fire');
    } finally {
      logged.mockRestore();
    }
  });

  it('sets req.id to the correlation ID when absent, and keeps one set before it', async () => {
    const bw = make();
    const app = express();
    app.use('/own', (req, _res, next) => {
      (req as { id?: unknown }).id = 42;
      next();
    });
    app.use(bw.middleware);
    app.get(['/plain', '/own'], (req, res) => {
      res.json({ id: (req as { id?: unknown }).id });
    });
    expect((await supertest(app).get('/plain').set('x-request-id', 'rid-1')).body).toEqual({ id: 'rid-1' });
    expect((await supertest(app).get('/own').set('x-request-id', 'rid-2')).body).toEqual({ id: 42 });
  });
});

describe('route policies in the registry', () => {
  it('defines an inline protect({ retry, circuitBreaker }) policy by name at start-up, readable and forceable', async () => {
    const bw = make();
    const app = express();
    app.use(bw.middleware);
    let calls = 0;
    app.get(
      '/orders/:id',
      bw.protect(
        {
          name: 'orders.get',
          retry: { maxAttempts: 3, initialDelay: 1, jitter: 'none' },
          circuitBreaker: true,
        },
        () => {
          calls++;
          if (calls < 3) throw Object.assign(new Error('flaky'), { status: 503 });
          return { ok: true };
        },
      ),
    );
    app.use(bw.errorHandler);
    // Visible before any request, as an operator would look for it.
    expect(bw.core.names()).toContain('orders.get');
    expect(bw.core.breaker('orders.get').state()).toBe('closed');
    expect((await supertest(app).get('/orders/1')).body).toEqual({ ok: true });
    expect(calls).toBe(3);
    bw.core.breaker('orders.get').forceOpen();
    const open = await supertest(app).get('/orders/1');
    expect(open.status).toBe(503);
    expect(JSON.parse(open.text).code).toBe('CIRCUIT_OPEN');
    expect(calls).toBe(3);
  });

  it('names an unnamed inline policy after the route of its first request', async () => {
    const bw = make();
    const app = express();
    app.get(
      '/carts/:id',
      bw.protect({ circuitBreaker: true }, () => ({ ok: true })),
    );
    expect((await supertest(app).get('/carts/7')).status).toBe(200);
    expect(bw.core.names()).toContain('GET /carts/:id');
    expect(bw.core.breaker('GET /carts/:id').state()).toBe('closed');
  });

  it('rejects an unknown policy name when protect() is called, with a did-you-mean, never at a request', () => {
    const bw = make({ policies: { 'user-db': { timeout: '1s' } } });
    let err: unknown;
    try {
      bw.protect({ policy: 'usr-db' }, () => 1);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'INVALID_CONFIG' });
    expect((err as Error).message, (err as Error).message).toContain("did you mean 'user-db'?");
    expect((err as Error).message).toContain('protection.policy');
    expect(() => bw.protect({ policy: 'user-db', retry: {} }, () => 1)).toThrow(/either `protection.policy`/);
  });

  it('a route rate limit counts the route alone, per client, with its own headers', async () => {
    const bw = make({ http: { rateLimit: { limit: 100 } } });
    const app = express();
    app.use(bw.middleware);
    app.post(
      '/login',
      bw.protect({ rateLimit: { limit: 1, interval: '1m', name: 'login' } }, () => ({ ok: true })),
    );
    app.get('/other', (_req, res) => res.json({ ok: true }));
    app.use(bw.errorHandler);
    const first = await supertest(app).post('/login');
    expect(first.status).toBe(200);
    expect(first.headers.ratelimit).toBe('"login";r=0;t=60');
    const second = await supertest(app).post('/login');
    expect(second.status).toBe(429);
    expect(second.headers['retry-after']).toBe('60');
    expect(JSON.parse(second.text).detail).toBe('Rate limit of 1 per minute exceeded for this client IP.');
    expect((await supertest(app).get('/other')).status).toBe(200);
  });
});

describe('trust proxy', () => {
  it('keys the default rate limit by req.ip: the socket address, or X-Forwarded-For behind a trusted proxy', async () => {
    const run = async (trust: boolean) => {
      const bw = make({ http: { rateLimit: { limit: 1, interval: '1m' } } });
      const app = express();
      if (trust) app.set('trust proxy', 'loopback');
      app.use(bw.middleware);
      app.get('/x', (_req, res) => res.json({ ok: true }));
      const as = (ip: string) => supertest(app).get('/x').set('x-forwarded-for', ip);
      return [(await as('198.51.100.1')).status, (await as('198.51.100.2')).status];
    };
    expect(await run(true)).toEqual([200, 200]); // two clients behind the proxy
    expect(await run(false)).toEqual([200, 429]); // untrusted header: one client, the socket
  });
});
