/**
 * The ready-made checks against real peers: the machine's Redis (127.0.0.1:6379) through ioredis,
 * its PostgreSQL (127.0.0.1:5432, db test, user postgres) through pg, a real TCP listener and a
 * real HTTP server; and the same clients pointed at a closed port for the down case.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { createBulwark } from '../registry/bulwark.js';
import { httpCheck, postgresCheck, redisCheck, tcpCheck } from './checks.js';
import type { HealthCheck } from './types.js';

const never = new AbortController().signal;

/** A port nobody listens on: bound once, then closed. */
async function closedPort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

describe('ready-made checks', () => {
  let http: Server;
  let base: string;
  let down: number;
  beforeAll(async () => {
    http = createHttpServer((req, res) => {
      if (req.url === '/hang') return; // never answers
      res.statusCode = req.url === '/ok' ? 200 : req.url === '/teapot' ? 418 : 503;
      res.end('body that is never read');
    }).listen(0, '127.0.0.1');
    await once(http, 'listening');
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    down = await closedPort();
  });
  afterAll(async () => {
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  });

  it('httpCheck: up on 2xx, down with the status on anything else, expectStatus overrides', async () => {
    await expect(httpCheck(`${base}/ok`)(never)).resolves.toBeUndefined();
    await expect(httpCheck(`${base}/unavailable`)(never)).rejects.toMatchObject({
      status: 503,
      message: `GET ${base}/unavailable answered 503, expected 2xx.`,
    });
    await expect(httpCheck(`${base}/teapot`, { expectStatus: 418 })(never)).resolves.toBeUndefined();
    await expect(httpCheck(`${base}/ok`, { expectStatus: [204] })(never)).rejects.toMatchObject({
      status: 200,
    });
    expect(() => httpCheck('not a url')).toThrow(TypeError);
    expect(() => httpCheck(base, { expectStatus: 42 })).toThrow(/expectStatus/);
  });

  it('httpCheck: never shows credentials or the query in its message; the signal aborts the request', async () => {
    const u = new URL(`${base}/unavailable?token=s3cret`);
    u.username = 'admin';
    u.password = 'hunter2';
    const err = (await Promise.resolve(httpCheck(u)(never)).catch((e: unknown) => e)) as Error & {
      status?: number;
    };
    expect(err.status).toBe(503); // reached the server: the credentials went as Basic auth
    expect(err.message).toBe(`GET ${base}/unavailable answered 503, expected 2xx.`);
    const ac = new AbortController();
    const pending = httpCheck(`${base}/hang`)(ac.signal);
    ac.abort(new Error('check timeout'));
    await expect(pending).rejects.toThrow('check timeout');
  });

  it('tcpCheck: up when the port accepts, ECONNREFUSED when nobody listens', async () => {
    const port = (http.address() as AddressInfo).port;
    await expect(tcpCheck('127.0.0.1', port)(never)).resolves.toBeUndefined();
    await expect(tcpCheck('127.0.0.1', down)(never)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(() => tcpCheck('127.0.0.1', 70_000)).toThrow(/port/);
  });

  it('redisCheck: PING through a real ioredis client, and down when Redis cannot be reached', async () => {
    const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
    const gone = new Redis({
      host: '127.0.0.1',
      port: down,
      lazyConnect: true,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    gone.on('error', () => {}); // ioredis reports the refused connection here too
    try {
      await expect(redisCheck(redis)(never)).resolves.toBeUndefined();
      const b = createBulwark();
      b.health.register('redis', { criticality: 'optional', check: redisCheck(gone), timeout: '2s' });
      const r = await b.health.checkNow('redis');
      expect(r.status).toBe('down');
      expect(b.health.status()).toBe('degraded');
      await b.close();
    } finally {
      redis.disconnect();
      gone.disconnect();
    }
  });

  it('postgresCheck: SELECT 1 through a real pg Pool, and ECONNREFUSED when PostgreSQL cannot be reached', async () => {
    const pool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test', max: 1 });
    const gone = new pg.Pool({ host: '127.0.0.1', port: down, user: 'postgres', database: 'test', max: 1 });
    try {
      const b = createBulwark();
      b.health.register('postgres', { check: postgresCheck(pool) });
      b.health.register('replica', { criticality: 'optional', check: postgresCheck(gone) });
      await Promise.all([b.health.checkNow('postgres'), b.health.checkNow('replica')]);
      expect(b.health.status('postgres')).toBe('up');
      expect(b.health.report().dependencies[1]).toMatchObject({
        status: 'down',
        cause: 'ECONNREFUSED',
        code: 'DEPENDENCY_DOWN',
      });
      await b.close();
    } finally {
      await Promise.all([pool.end(), gone.end()]);
    }
  });

  it('each check takes the client by its shape, and refuses something else', () => {
    expectTypeOf(redisCheck).parameter(0).toExtend<{ ping(): Promise<unknown> }>();
    expectTypeOf(postgresCheck(new pg.Pool())).toEqualTypeOf<HealthCheck>();
    expectTypeOf(redisCheck(new Redis({ lazyConnect: true }))).toEqualTypeOf<HealthCheck>();
    expect(() => redisCheck({} as never)).toThrow(/ping/);
    expect(() => postgresCheck({} as never)).toThrow(/query/);
  });
});
