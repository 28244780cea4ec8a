import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countsAsFailure, getRetryAfterMs, isRetryable } from '../errors/classify.js';
import { HttpStatusError, isHttpStatusError } from '../errors/http-status-error.js';
import { toProblem } from '../errors/problem.js';
import { createBulwark } from '../registry/bulwark.js';
import { assertOk } from './assert-ok.js';

let server: http.Server;
let base: string;
const hits = new Map<string, number>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    const n = hits.get(path) ?? 0;
    hits.set(path, n + 1);
    const [, status] = /^\/(\d{3})/.exec(path) ?? [];
    // '/503-then-200' fails once, then answers.
    if (path === '/503-then-200') {
      res.writeHead(n === 0 ? 503 : 200, { 'retry-after': '0' });
      return res.end(n === 0 ? 'down at 10.0.0.5' : '{"ok":true}');
    }
    res.writeHead(Number(status ?? 200), { 'retry-after': '3' });
    res.end('internal details: db at 10.0.0.5');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('assertOk', () => {
  it('returns a 2xx response, throws HttpStatusError otherwise with status and headers', async () => {
    const ok = await fetch(`${base}/200`);
    expect(assertOk(ok)).toBe(ok);
    await ok.text();
    const err = (() => {
      try {
        assertOk(
          new Response('x', {
            status: 503,
            statusText: 'Service Unavailable',
            headers: { 'retry-after': '3' },
          }),
        );
      } catch (e) {
        return e;
      }
    })() as HttpStatusError;
    expect(isHttpStatusError(err)).toBe(true);
    expect(err).toBeInstanceOf(HttpStatusError);
    expect(err.status).toBe(503);
    expect(getRetryAfterMs(err)).toBe(3000);
    expect(err.message).toBe('A downstream service answered 503 Service Unavailable.');
    expect(assertOk(new Response(null, { status: 404 }), { accept: [404] }).status).toBe(404);
  });

  it('classifies: 5xx, 408 and 429 are retried and count; other 4xx are neither', () => {
    for (const s of [500, 502, 503, 408, 429]) {
      const e = new HttpStatusError(s);
      expect(isRetryable(e)).toBe(true);
      expect(countsAsFailure(e)).toBe(true);
    }
    for (const s of [400, 401, 404, 409]) {
      const e = new HttpStatusError(s);
      expect(isRetryable(e)).toBe(false);
      expect(countsAsFailure(e)).toBe(false);
    }
  });

  it("makes a dependency's 5xx a failure under run(): retried, then the answer (issue 8 item 1)", async () => {
    const bw = createBulwark({
      policies: { inventory: { retry: { maxAttempts: 3, initialDelay: 1, jitter: 'none' } } },
    });
    try {
      const res = await bw.run('inventory', (signal) =>
        fetch(`${base}/503-then-200`, { signal }).then(assertOk),
      );
      expect(await res.json()).toEqual({ ok: true });
      expect(hits.get('/503-then-200')).toBe(2);
      hits.set('/404', 0);
      const err = await bw
        .run('inventory', (signal) => fetch(`${base}/404`, { signal }).then((r) => assertOk(r)))
        .catch((e) => e);
      expect(isHttpStatusError(err)).toBe(true);
      expect(hits.get('/404')).toBe(1);
    } finally {
      await bw.close();
    }
  });

  it('renders as DOWNSTREAM_ERROR: never passed on as this service own answer, nothing of the body', () => {
    const p = toProblem(
      new HttpStatusError(503, { headers: new Headers({ 'retry-after': '3' }), service: 'inventory' }),
      {
        production: true,
      },
    );
    expect(p).toMatchObject({ code: 'DOWNSTREAM_ERROR', status: 502, service: 'inventory', retryAfter: 3 });
    expect(toProblem(new HttpStatusError(404), { production: true })).toMatchObject({ status: 502 });
    expect(toProblem(new HttpStatusError(504), { production: true }).status).toBe(504);
    expect(toProblem(new HttpStatusError(429), { production: true }).status).toBe(503);
    expect(
      JSON.stringify(toProblem(new HttpStatusError(500, { url: `${base}/x` }), { production: true })),
    ).not.toContain('127.0.0.1');
  });
});
