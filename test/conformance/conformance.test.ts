/**
 * One behavioural suite, every adapter: the same cases run against each conformance app in
 * ./apps (see ./spec.ts for the routes). Adding an adapter is one line in APPS.
 */
import { request as httpRequest, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { type AddressInfo, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Bulwark, ERROR_CODES, memoryStore } from '@bulwark/core';
import type { InboundRequest } from '@bulwark/core/adapter';
import supertest from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ConformanceApp, loadApps, POLICIES } from './spec.js';

const factories = await loadApps();

const ID = /^[A-Za-z0-9\-_.:/+=@]{1,128}$/;
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

/** Unknown errors are reported through onError; the cases that throw them on purpose stay quiet (case 13 checks it). */
const quiet = () => {};
const config = (http: Record<string, unknown> = {}) => ({
  policies: POLICIES,
  http: { production: true, onError: quiet, ...http },
});

interface Raw {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** Sends bytes a well-behaved client refuses to send (CR, control bytes) over a raw socket. */
function raw(server: Server, headerLines: string[]): Promise<Raw> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', ...lines] = (text.split('\r\n\r\n')[0] ?? '').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: Number(head.split(' ')[1]), headers, text });
    });
    const request = ['GET /ok HTTP/1.1', 'Host: localhost', ...headerLines, 'Connection: close'];
    socket.end(`${request.join('\r\n')}\r\n\r\n`, 'latin1');
  });
}

interface Res {
  status: number;
  text: string;
  headers: Record<string, string | undefined>;
}

/** Checks a problem answer: status, content type, valid JSON, code, correlation ID; returns the body. */
function problem(res: Res, status: number, code?: string): Record<string, unknown> {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(res.text) as Record<string, unknown>;
  expect(body.status).toBe(status);
  if (code) expect(body.code).toBe(code);
  expect(body.correlationId).toBe(res.headers['x-request-id']);
  return body;
}

describe.each(factories)('conformance: $name', ({ factory }) => {
  const running: ConformanceApp[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((app) => app.close()));
  });
  async function start(cfg: Record<string, unknown> = config()) {
    const app = await factory(cfg);
    running.push(app);
    return { app, http: supertest(app.server), probe: app.probe, core: app.core };
  }

  describe('1. correlation ID', () => {
    it('issues a fresh ID when none came, in the header and in problem bodies', async () => {
      const { http, probe } = await start();
      const ok = await http.get('/ok');
      expect(ok.headers['x-request-id']).toMatch(ID);
      expect(probe.seen?.correlationId).toBe(ok.headers['x-request-id']);
      const boom = await http.get('/boom');
      expect(problem(boom, 500).correlationId).toMatch(ID);
      expect(boom.headers['x-request-id']).not.toBe(ok.headers['x-request-id']);
    });

    it('echoes a valid ID unchanged', async () => {
      const { http, probe } = await start();
      const res = await http.get('/ok').set('x-request-id', 'order-42:abc_DEF.1');
      expect(res.headers['x-request-id']).toBe('order-42:abc_DEF.1');
      expect(probe.seen?.correlationId).toBe('order-42:abc_DEF.1');
      const boom = await http.get('/boom').set('x-request-id', 'order-43');
      expect(problem(boom, 500).correlationId).toBe('order-43');
    });

    it.each([
      ['non-ASCII', 'caf\u00e9'],
      ['129 characters', 'a'.repeat(129)],
      ['empty', ''],
      ['a space', 'a b'],
    ])('replaces an invalid ID (%s)', async (_label, id) => {
      const { http, probe } = await start();
      const res = await http.get('/ok').set('x-request-id', id);
      expect(res.status).toBe(200);
      expect(res.headers['x-request-id']).toMatch(ID);
      expect(res.headers['x-request-id']).not.toBe(id);
      expect(probe.seen?.correlationId).toBe(res.headers['x-request-id']);
    });

    it.each([
      ['a tab', 'a\tb'],
      ['NUL', 'abc\u0000d'],
      ['SOH', '\u0001abc'],
      ['DEL', 'abc\u007f'],
      ['CRLF folding', 'abc\r\n X-Injected: 1'],
    ])('replaces an ID with control bytes (%s), never echoing them', async (_label, id) => {
      const { app } = await start();
      // Node's strict parser answers 400 itself for most control bytes; a lenient parser (as
      // behind a lax proxy) lets them reach the app, which is what this case is about.
      (app.server as Server & { insecureHTTPParser?: boolean }).insecureHTTPParser = true;
      const res = await raw(app.server, [`X-Request-Id: ${id}`]);
      expect(res.status).toBe(200);
      expect(res.headers['x-request-id']).toMatch(ID);
      expect(res.headers['x-injected']).toBeUndefined();
      expect(res.text).not.toContain(id.trim());
    });

    it('never reflects a CR-injected header', async () => {
      const { app } = await start();
      const res = await raw(app.server, ['X-Request-Id: abc\rX-Injected: 1']);
      // Node rejects a bare CR (400) before any adapter runs; if a parser ever lets it through,
      // the ID must still be replaced.
      if (res.status !== 400) expect(res.headers['x-request-id']).toMatch(ID);
      expect(res.headers['x-injected']).toBeUndefined();
    });
  });

  describe('2. trace context', () => {
    it('continues a valid traceparent with a new parent id', async () => {
      const { http, probe } = await start();
      const res = await http.get('/ok').set('traceparent', `00-${TRACE}-${PARENT}-01`);
      expect(res.body.traceId).toBe(TRACE);
      expect(probe.seen?.traceId).toBe(TRACE);
      expect(probe.seen?.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(probe.seen?.spanId).not.toBe(PARENT);
    });

    it.each(['garbage', `00-${'0'.repeat(32)}-${PARENT}-01`, `00-${TRACE.toUpperCase()}-${PARENT}-01`])(
      'starts a new trace for a malformed traceparent (%s)',
      async (traceparent) => {
        const { http, probe } = await start();
        await http.get('/ok').set('traceparent', traceparent);
        expect(probe.seen?.traceId).toMatch(/^[0-9a-f]{32}$/);
        expect(probe.seen?.traceId).not.toBe(TRACE);
        expect(probe.seen?.traceId).not.toBe('0'.repeat(32));
      },
    );
  });

  describe('3. unknown errors', () => {
    it('hide message and stack in production', async () => {
      const { http } = await start(config({ production: true }));
      const res = await http.get('/boom');
      const body = problem(res, 500);
      expect(res.text).not.toContain('hunter2');
      expect(body.stack).toBeUndefined();
    });

    it('keep message and stack in development', async () => {
      const { http } = await start(config({ production: false }));
      const body = problem(await http.get('/boom'), 500);
      expect(body.detail).toContain('hunter2');
      expect(body.stack).toEqual(expect.stringContaining('hunter2'));
    });
  });

  it('4. a BulwarkError keeps its status, code, suggestion and Retry-After', async () => {
    const { http } = await start();
    const res = await http.get('/bulwark-error');
    const body = problem(res, 503, 'BULKHEAD_FULL');
    expect(body.suggestion).toBe(ERROR_CODES.BULKHEAD_FULL.suggestion);
    expect(body.retryAfter).toBe(2);
    expect(res.headers['retry-after']).toBe('2');
  });

  describe('5. bulkhead', () => {
    it('sheds at once when full, and serves the queued request when the slot frees', async () => {
      let arrivals = 0;
      const key = (req: InboundRequest) => {
        arrivals++;
        return req.path;
      };
      const { http, probe } = await start(
        config({ bulkhead: { maxConcurrent: 1, maxQueue: 1, queueTimeout: '5s', key } }),
      );
      const first = http.get('/slow?ms=300').then((r) => r);
      await vi.waitFor(() => expect(probe.handlerRuns).toBe(1));
      const queued = http.get('/slow?ms=1').then((r) => r);
      await vi.waitFor(() => expect(arrivals).toBe(2));
      const shed = await http.get('/slow?ms=1');
      expect(problem(shed, 503, 'BULKHEAD_FULL')).toBeDefined();
      expect(shed.headers['retry-after']).toMatch(/^[1-9]\d*$/);
      expect(probe.handlerRuns).toBe(1);
      expect((await first).status).toBe(200);
      expect((await queued).status).toBe(200);
      expect(probe.handlerRuns).toBe(2);
    });

    it('answers 503 when a request waits in the queue past queueTimeout', async () => {
      const { http, probe } = await start(
        config({ bulkhead: { maxConcurrent: 1, maxQueue: 1, queueTimeout: 50 } }),
      );
      const first = http.get('/slow?ms=400').then((r) => r);
      await vi.waitFor(() => expect(probe.handlerRuns).toBe(1));
      const res = await http.get('/slow?ms=1');
      problem(res, 503, 'QUEUE_TIMEOUT');
      expect(probe.handlerRuns).toBe(1);
      expect((await first).status).toBe(200);
    });

    it('frees the queue place of a client that leaves while queued at once, and never runs its handler', async () => {
      let arrivals = 0;
      const key = () => {
        arrivals++;
        return 'all';
      };
      const { app, http, probe } = await start(
        config({ bulkhead: { maxConcurrent: 1, maxQueue: 1, queueTimeout: '10s', key } }),
      );
      const first = http.get('/slow?ms=800').then((r) => r);
      await vi.waitFor(() => expect(probe.handlerRuns).toBe(1));
      // B queues behind the held slot, then its client goes away.
      const { port } = app.server.address() as AddressInfo;
      const leaving = httpRequest({ host: '127.0.0.1', port, path: '/ok' });
      leaving.on('error', () => {}); // the destroyed socket reports ECONNRESET; expected
      leaving.end();
      await vi.waitFor(() => expect(arrivals).toBe(2));
      leaving.destroy();
      await sleep(150);
      // B's place is free (long before queueTimeout): C queues instead of being shed.
      const queued = await http.get('/slow?ms=1');
      expect(queued.status).toBe(200);
      expect((await first).status).toBe(200);
      expect(probe.handlerRuns).toBe(2); // A and C; B never ran
    });
  });

  it('5b. a client that leaves while admission waits (a rate-limit store) never runs its handler', async () => {
    let arrivals = 0;
    const backing = memoryStore();
    const store = Object.assign(Object.create(backing) as typeof backing, {
      async increment(k: string, by?: number, ttlMs?: number) {
        arrivals++;
        await sleep(300);
        return backing.increment(k, by, ttlMs);
      },
    });
    const { app, http, probe } = await start(config({ rateLimit: { limit: 100, store } }));
    const { port } = app.server.address() as AddressInfo;
    const leaving = httpRequest({ host: '127.0.0.1', port, path: '/ok' });
    leaving.on('error', () => {}); // the destroyed socket reports ECONNRESET; expected
    leaving.end();
    await vi.waitFor(() => expect(arrivals).toBe(1));
    leaving.destroy();
    await sleep(500); // the store answers (allowed) long after the client left
    expect(probe.handlerRuns).toBe(0);
    expect((await http.get('/ok')).status).toBe(200);
    expect(probe.handlerRuns).toBe(1);
    await backing.close();
  });

  it('6. rate limit answers 429 with RateLimit headers, counted per key', async () => {
    const key = (req: InboundRequest) => String(req.headers['x-tenant'] ?? 'anonymous');
    const { http, probe } = await start(config({ rateLimit: { limit: 2, interval: '1m', key } }));
    for (let i = 0; i < 2; i++) expect((await http.get('/ok').set('x-tenant', 'a')).status).toBe(200);
    const limited = await http.get('/ok').set('x-tenant', 'a');
    problem(limited, 429, 'RATE_LIMITED');
    expect(limited.headers.ratelimit).toBeDefined();
    expect(limited.headers['ratelimit-policy']).toBeDefined();
    expect(limited.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    const other = await http.get('/ok').set('x-tenant', 'b');
    expect(other.status).toBe(200);
    expect(other.headers.ratelimit).toBeDefined();
    expect(probe.handlerRuns).toBe(3);
  });

  it('7. a route timeout answers 504 and aborts the handler signal', async () => {
    const { http, probe } = await start();
    const res = await http.get('/timeout');
    problem(res, 504, 'TIMEOUT');
    await vi.waitFor(() => expect(probe.timeoutAborted).toBe(true), { timeout: 1000 });
  });

  describe('8. inbound deadline', () => {
    it('answers 504 without running the handler when the deadline is already spent', async () => {
      const { http, probe } = await start();
      problem(await http.get('/ok').set('x-deadline-ms', '0'), 504, 'DEADLINE_EXCEEDED');
      expect(probe.handlerRuns).toBe(0);
    });

    it('puts a remaining deadline in the context', async () => {
      const { http, probe } = await start();
      const before = Date.now();
      expect((await http.get('/ok').set('x-deadline-ms', '5000')).status).toBe(200);
      expect(probe.seen?.deadline).toBeGreaterThanOrEqual(before + 4000);
      expect(probe.seen?.deadline).toBeLessThanOrEqual(Date.now() + 5000);
    });
  });

  it('9. a breaker opens, probes half-open after resetTimeout, and closes on success', async () => {
    const { http, probe } = await start();
    probe.failFlaky = true;
    problem(await http.get('/flaky'), 500);
    problem(await http.get('/flaky'), 500);
    const open = await http.get('/flaky');
    const body = problem(open, 503, 'CIRCUIT_OPEN');
    expect(body.suggestion).toBe(ERROR_CODES.CIRCUIT_OPEN.suggestion);
    expect(probe.handlerRuns).toBe(2);
    probe.failFlaky = false;
    // Real wait: the breaker's clock is the server's, across real sockets; 200 ms resetTimeout.
    await sleep(260);
    expect((await http.get('/flaky')).status).toBe(200);
    expect((await http.get('/flaky')).status).toBe(200);
    expect(probe.handlerRuns).toBe(4);
  });

  it('10. a fallback answers 200 with the degraded header', async () => {
    const { http, probe } = await start();
    const res = await http.get('/fallback');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({ ok: true, fallback: true });
    expect(res.headers['bulwark-degraded']).toBeTruthy();
    expect(probe.handlerRuns).toBe(1);
  });

  it('11. a client disconnect aborts the handler signal', async () => {
    const { app, probe } = await start();
    const { port } = app.server.address() as AddressInfo;
    const req = httpRequest({ host: '127.0.0.1', port, path: '/hang' });
    req.on('error', () => {}); // the destroyed socket reports ECONNRESET; expected
    req.end();
    await vi.waitFor(() => expect(probe.handlerRuns).toBe(1), { timeout: 2000 });
    expect(probe.hangAborted).toBe(false);
    req.destroy();
    await vi.waitFor(() => expect(probe.hangAborted).toBe(true), { timeout: 2000 });
  });

  describe('12. problem bodies', () => {
    it.each([
      ['an unknown error', '/boom', {}, 500],
      ['a BulwarkError', '/bulwark-error', {}, 503],
      ['a rejection', '/ok', { 'x-deadline-ms': '0' }, 504],
    ] as const)('are problem+json whatever the Accept header (%s)', async (_label, path, headers, status) => {
      const { http } = await start();
      const res = await http.get(path).set({ accept: 'text/html', ...headers });
      problem(res, status);
    });

    it.each([
      ['an unknown error', {}, '/boom', 500],
      ['a rejection', { 'x-deadline-ms': '0' }, '/ok', 504],
    ] as const)('are left out for HEAD, headers kept (%s)', async (_label, headers, path, status) => {
      const { http } = await start();
      const res = await http.head(path).set(headers);
      expect(res.status).toBe(status);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['x-request-id']).toMatch(ID);
      expect(res.text ?? '').toBe('');
    });
  });

  it('13. each unknown 5xx error is reported once through onError, with its correlation ID; Bulwark outcomes and 4xx are not', async () => {
    const reports: { error: unknown; correlationId: string; status: number }[] = [];
    const onError = (error: unknown, r: { correlationId: string; status: number }) =>
      reports.push({ error, correlationId: r.correlationId, status: r.status });
    const { http } = await start(config({ onError }));
    const boom = await http.get('/boom').set('x-request-id', 'report-1');
    problem(boom, 500);
    expect(reports).toHaveLength(1);
    expect(reports[0]?.error).toMatchObject({ message: 'db password is hunter2' });
    expect(reports[0]?.error).toBeInstanceOf(Error);
    expect(reports[0]).toMatchObject({ correlationId: 'report-1', status: 500 });
    problem(await http.get('/bulwark-error'), 503, 'BULKHEAD_FULL');
    expect((await http.get('/ok')).status).toBe(200);
    expect((await http.get('/no-such-route')).status).toBe(404);
    expect(reports).toHaveLength(1);
  });

  it('15. the default rate limit is per client, exempts health probes, names the key kind only, and t equals Retry-After', async () => {
    const { http, probe } = await start(config({ rateLimit: { limit: 2, interval: '1m' } }));
    const first = await http.get('/ok');
    expect(first.headers.ratelimit).toBe('"default";r=1;t=0');
    expect(first.headers['ratelimit-policy']).toBe('"default";q=2;w=60');
    await http.get('/ok');
    const limited = await http.get('/ok');
    const body = problem(limited, 429, 'RATE_LIMITED');
    expect(body.detail).toBe('Rate limit of 2 per minute exceeded for this client IP.');
    expect(limited.text).not.toContain('127.0.0.1');
    expect(limited.headers.ratelimit).toBe(`"default";r=0;t=${limited.headers['retry-after']}`);
    // Probes are never limited (nor shed): the engine answers them itself, 200, never 429.
    for (const path of ['/health', '/livez', '/readyz']) expect((await http.get(path)).status).toBe(200);
    expect(probe.handlerRuns).toBe(2);
  });

  it('16. overload protection refuses any route over the engine-wide limit with 503 OVERLOADED, never the probes', async () => {
    const { http, probe } = await start(config({ overload: { maxConcurrent: 1 } }));
    const first = http.get('/slow?ms=300').then((r) => r);
    await vi.waitFor(() => expect(probe.handlerRuns).toBe(1));
    const refused = await http.get('/ok');
    const body = problem(refused, 503, 'OVERLOADED');
    expect(body.suggestion).toBe(ERROR_CODES.OVERLOADED.suggestion);
    expect(refused.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    // Probes pass: the engine answers them itself (200, not 503).
    for (const path of ['/health', '/livez', '/readyz']) expect((await http.get(path)).status).toBe(200);
    expect(probe.handlerRuns).toBe(1);
    expect((await first).status).toBe(200);
    expect((await http.get('/ok')).status).toBe(200);
  });

  it('17. a shared bulkhead caps what one caller holds (maxSharePerCaller): the others still get in', async () => {
    const tenant = (req: InboundRequest) => String(req.headers['x-tenant'] ?? 'none');
    const { http, probe } = await start(
      config({ caller: tenant, bulkhead: { maxConcurrent: 2, maxSharePerCaller: 0.5, key: () => 'shared' } }),
    );
    const first = http
      .get('/slow?ms=300')
      .set('x-tenant', 'heavy')
      .then((r) => r);
    await vi.waitFor(() => expect(probe.handlerRuns).toBe(1));
    const refused = await http.get('/ok').set('x-tenant', 'heavy');
    expect(problem(refused, 503, 'BULKHEAD_FULL').detail).toContain('this caller already holds its share');
    expect((await http.get('/ok').set('x-tenant', 'other')).status).toBe(200);
    expect((await first).status).toBe(200);
  });

  it('18. sheddable requests are refused first: they fill only their share of the engine-wide limit', async () => {
    const { http, probe } = await start(
      config({
        criticality: (req: InboundRequest) => (req.path === '/slow' ? 'sheddable' : undefined),
        overload: { maxConcurrent: 2 },
      }),
    );
    const first = http.get('/slow?ms=300').then((r) => r);
    await vi.waitFor(() => expect(probe.handlerRuns).toBe(1));
    problem(await http.get('/slow?ms=1'), 503, 'OVERLOADED');
    // An untrusted criticality header changes nothing.
    problem(await http.get('/slow?ms=1').set('bulwark-criticality', 'critical'), 503, 'OVERLOADED');
    expect((await http.get('/ok')).status).toBe(200);
    expect((await first).status).toBe(200);
  });

  describe('19. health endpoints', () => {
    const TOKEN = 'conformance-token-0123456789abcdef';
    /** A core and an optional dependency; `state` switches their checks. */
    async function withHealth(core: Bulwark) {
      const state = { db: true, cache: true };
      core.health.register('db', {
        check: async () => {
          if (!state.db) throw new Error('connect ECONNREFUSED postgres://app:hunter2@db');
        },
      });
      core.health.register('cache', {
        criticality: 'optional',
        check: async () => {
          if (!state.cache) throw Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
        },
      });
      core.features.define('recommendations', { dependsOn: ['cache'] });
      const refresh = () => Promise.all([core.health.checkNow('db'), core.health.checkNow('cache')]);
      await refresh();
      return { state, refresh };
    }

    it('answers /livez, /readyz and /health as JSON without reaching a handler', async () => {
      const { http, probe, core } = await start(config({ health: { token: TOKEN } }));
      const { state, refresh } = await withHealth(core);
      const live = await http.get('/livez');
      expect(live.status).toBe(200);
      expect(live.headers['content-type']).toMatch(/^application\/json/);
      expect(live.headers['cache-control']).toBe('no-store');
      expect(live.headers['x-request-id']).toMatch(ID);
      expect(JSON.parse(live.text)).toEqual({ status: 'alive' });
      expect((await http.head('/livez')).status).toBe(200);
      expect(JSON.parse((await http.get('/readyz')).text)).toEqual({ status: 'ready' });
      expect(JSON.parse((await http.get('/health')).text)).toEqual({ status: 'up' });

      state.db = false;
      await refresh();
      expect((await http.get('/livez')).status).toBe(200);
      const notReady = await http.get('/readyz');
      expect(notReady.status).toBe(503);
      expect(JSON.parse(notReady.text)).toEqual({ status: 'not-ready' });
      const down = await http.get('/health');
      expect(down.status).toBe(503);
      expect(JSON.parse(down.text)).toEqual({ status: 'down' });
      const detailed = await http.get('/health').set('authorization', `Bearer ${TOKEN}`);
      expect(detailed.status).toBe(503);
      const report = JSON.parse(detailed.text) as { dependencies: Record<string, unknown>[] };
      expect(report.dependencies[0]).toMatchObject({ name: 'db', status: 'down', code: 'DEPENDENCY_DOWN' });
      expect(detailed.text).not.toContain('hunter2');
      expect(probe.handlerRuns).toBe(0);
    });

    it('marks answers degraded while an optional dependency is down', async () => {
      const { http, core } = await start();
      const { state, refresh } = await withHealth(core);
      expect((await http.get('/ok')).headers['bulwark-degraded']).toBeUndefined();
      state.cache = false;
      await refresh();
      const res = await http.get('/ok');
      expect(res.status).toBe(200);
      expect(res.headers['bulwark-degraded']).toBe('feature:recommendations');
      expect(JSON.parse((await http.get('/health')).text)).toEqual({ status: 'degraded' });
    });

    it('leaves the paths to the app when http.health is false', async () => {
      const { http } = await start(config({ health: false }));
      expect((await http.get('/livez')).status).toBe(404);
    });
  });

  it('14. an unknown route answers 404 as problem+json', async () => {
    const { http, probe } = await start();
    const res = await http.get('/no-such-route').set('accept', 'text/html');
    const body = problem(res, 404);
    expect(body.instance).toBe('/no-such-route');
    expect(probe.handlerRuns).toBe(0);
  });
});

it('runs the older majors for real: Express 4 and Koa 2 are the installed aliases', () => {
  const require = createRequire(import.meta.url);
  expect((require('express4/package.json') as { version: string }).version).toMatch(/^4\./);
  expect((require('koa2/package.json') as { version: string }).version).toMatch(/^2\./);
  expect(factories.map((f) => f.name)).toEqual(expect.arrayContaining(['express4', 'koa2']));
});

it('finds at least the Express conformance app', () => {
  expect(factories.map((f) => f.name)).toContain('express');
});
