/**
 * Ready-made health checks for the common cases, through what the app already has: an HTTP URL
 * (`fetch`), a TCP port (`node:net`), Redis (`PING` on the user's ioredis or node-redis client) and
 * PostgreSQL (`SELECT 1` on the user's pg Pool or Client). No client library is a dependency of
 * Bulwark: each check takes the client by its shape.
 */
import { connect } from 'node:net';
import type { HealthCheck } from './types.js';

/** Options of {@link httpCheck}. */
export interface HttpCheckOptions {
  /** The status (or statuses) that mean healthy. Default: any 2xx. */
  expectStatus?: number | readonly number[];
  /** Method. Default `GET`. */
  method?: 'GET' | 'HEAD';
  /** Headers to send (e.g. an auth token of the dependency's health endpoint). */
  headers?: Record<string, string>;
}

/** The URL without credentials, query or fragment: what an error message may show. */
function shown(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/**
 * A check that fetches `url` (with the check's signal) and is healthy when the status is the
 * expected one (any 2xx by default). The body is not read.
 * @example
 * bulwark.health.register('recommendations', { criticality: 'stretch', check: httpCheck('http://recs:8080/health') });
 */
export function httpCheck(url: string | URL, options: HttpCheckOptions = {}): HealthCheck {
  const target = new URL(url); // a bad URL throws here, at registration, not in every check
  const expected = options.expectStatus;
  if (expected !== undefined) {
    const all = typeof expected === 'number' ? [expected] : expected;
    if (
      !Array.isArray(all) ||
      all.length === 0 ||
      !all.every((s) => Number.isInteger(s) && s >= 100 && s <= 599)
    )
      throw new TypeError(
        `Expected httpCheck's expectStatus to be an HTTP status or a list of them; got ${JSON.stringify(expected)}.`,
      );
  }
  const ok = (s: number) =>
    expected === undefined
      ? s >= 200 && s < 300
      : typeof expected === 'number'
        ? s === expected
        : expected.includes(s);
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { ...options.headers };
  // fetch refuses a URL with credentials (and its error would show them): send them as Basic auth.
  if (target.username !== '' || target.password !== '') {
    const user = decodeURIComponent(target.username);
    const pass = decodeURIComponent(target.password);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'authorization'))
      headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    target.username = '';
    target.password = '';
  }
  return async (signal) => {
    const res = await fetch(target, { method, headers, signal, redirect: 'manual' });
    // The body is not needed: cancel it so the connection is freed at once.
    await res.body?.cancel().catch(() => {});
    if (!ok(res.status)) {
      const want = expected === undefined ? '2xx' : String(expected);
      throw Object.assign(new Error(`${method} ${shown(target)} answered ${res.status}, expected ${want}.`), {
        status: res.status,
      });
    }
  };
}

/**
 * A check that opens a TCP connection to `host:port` and closes it at once: healthy when the
 * connection is accepted.
 * @example
 * bulwark.health.register('smtp', { criticality: 'optional', check: tcpCheck('mail.internal', 25) });
 */
export function tcpCheck(host: string, port: number): HealthCheck {
  if (typeof host !== 'string' || host === '')
    throw new TypeError(
      `Expected tcpCheck's host to be a host name or address; got ${JSON.stringify(host)}.`,
    );
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw new TypeError(
      `Expected tcpCheck's port to be an integer from 1 to 65535; got ${JSON.stringify(port)}.`,
    );
  return (signal) =>
    new Promise<void>((resolve, reject) => {
      const socket = connect({ host, port });
      const onAbort = () =>
        socket.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      const done = (err?: Error) => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        if (err) reject(err);
        else resolve();
      };
      socket.once('connect', () => done());
      socket.once('error', done);
      socket.once('close', () =>
        done(new Error(`The connection to ${host}:${port} closed before it opened.`)),
      );
    });
}

/** What {@link redisCheck} needs of a Redis client: `ping()` (ioredis, node-redis). */
export interface RedisLike {
  ping(): Promise<unknown>;
}

/**
 * A check that sends `PING` through the app's own Redis client (ioredis or node-redis); healthy on
 * `PONG`. A client that queues commands while disconnected (ioredis' offline queue) makes the
 * check time out, which counts as down.
 * @example
 * const redis = new Redis(); // ioredis
 * bulwark.health.register('redis', { criticality: 'optional', check: redisCheck(redis) });
 */
export function redisCheck(client: RedisLike): HealthCheck {
  if (typeof client?.ping !== 'function')
    throw new TypeError('Expected redisCheck to get a Redis client with ping() (ioredis or node-redis).');
  return async () => {
    const reply = await client.ping();
    if (typeof reply === 'string' && reply.toUpperCase() !== 'PONG')
      throw Object.assign(new Error(`Redis answered PING with ${JSON.stringify(reply.slice(0, 40))}.`), {
        code: 'UNEXPECTED_REPLY',
      });
  };
}

/** What {@link postgresCheck} needs of a PostgreSQL client: `query(sql)` (pg's Pool or Client). */
export interface PostgresLike {
  query(sql: string): Promise<unknown>;
}

/**
 * A check that runs `SELECT 1` through the app's own pg `Pool` (or `Client`): healthy when the
 * query answers. With a Pool, a check takes a connection only for the query.
 * @example
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * bulwark.health.register('postgres', { criticality: 'core', check: postgresCheck(pool) });
 */
export function postgresCheck(client: PostgresLike): HealthCheck {
  if (typeof client?.query !== 'function')
    throw new TypeError('Expected postgresCheck to get a pg Pool or Client (an object with query(sql)).');
  return async () => {
    await client.query('SELECT 1');
  };
}
