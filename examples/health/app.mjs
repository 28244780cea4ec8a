/**
 * Bulwark's health and lifecycle on Express 5, against the real servers of this machine:
 * PostgreSQL (core: orders come from it), Redis (optional: a cache in front of it) and a
 * recommendations service over HTTP (stretch: the home page shows it when it can).
 * `start({ port })` starts the dependencies in levels, listens, and returns `{ url, core, close() }`.
 */
import { once } from 'node:events';
import { getContext, httpCheck, postgresCheck, redisCheck } from '@bulwark/core';
import { bulwark } from '@bulwark/express';
import express from 'express';
import { Redis } from 'ioredis';
import pg from 'pg';
import { startRecommendations } from './recommendations.mjs';

const env = process.env;

/**
 * @param {{ port?: number, host?: string, recommendationsPort?: number, chaosToken?: string,
 *   delay?: string, drainTimeout?: string }} [options]
 */
export async function start({
  port = 3000,
  host = '127.0.0.1',
  recommendationsPort = Number(env.RECOMMENDATIONS_PORT ?? 3001),
  chaosToken = env.CHAOS_TOKEN,
  delay = env.DRAIN_DELAY,
  drainTimeout = '10s',
} = {}) {
  const recs = await startRecommendations({ port: recommendationsPort, host });
  const pool = new pg.Pool({
    host: env.PGHOST ?? '127.0.0.1',
    port: Number(env.PGPORT ?? 5432),
    user: env.PGUSER ?? 'postgres',
    database: env.PGDATABASE ?? 'test',
    max: 10,
    connectionTimeoutMillis: 2000,
  });
  pool.on('error', () => {}); // an idle client's error: the health check reports it
  // No offline queue: while Redis is away a command fails at once instead of waiting.
  const redis = new Redis({
    host: env.REDIS_HOST ?? '127.0.0.1',
    port: Number(env.REDIS_PORT ?? 6379),
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
  });
  redis.on('error', () => {});

  const bw = bulwark({
    // The detailed /health (and /readyz's reasons) need this token in production.
    http: { health: { token: env.HEALTH_TOKEN } },
    health: { interval: '2s', timeout: '1s' },
    lifecycle: { handleSignals: true, drainTimeout, ...(delay === undefined ? {} : { delay }) },
  });
  const core = bw.core;
  // Start-up in levels: the database and the cache first, then what builds on them.
  const startup = await core.lifecycle.start([
    [
      { name: 'postgres', start: () => pool.query('SELECT 1'), retry: { maxAttempts: 5 } },
      { name: 'redis', criticality: 'optional', start: () => redis.connect(), retry: false },
    ],
    [
      {
        name: 'recommendations',
        criticality: 'stretch',
        start: () => fetch(`${recs.url}/healthz`),
        retry: false,
      },
    ],
  ]);

  // Then the background checks (every 2 s), feature switches and self-healing.
  core.health.register('postgres', { criticality: 'core', check: postgresCheck(pool) });
  core.health.register('redis', { criticality: 'optional', check: redisCheck(redis) });
  core.health.register('recommendations', {
    criticality: 'stretch',
    check: httpCheck(`${recs.url}/healthz`),
  });
  core.features.define('recommendations', { dependsOn: ['recommendations'] });
  core.features.define('cart-cache', { dependsOn: ['redis'] });

  // Self-healing: reconnect Redis when it turns down (verified by a fresh PING within 2 s), and
  // warm the cart cache again once it is back.
  const healing = core.health.heal('redis', {
    action: async () => {
      if (redis.status !== 'end') {
        const ended = once(redis, 'end');
        redis.disconnect();
        await ended;
      }
      await redis.connect();
    },
    verifyTimeout: '2s',
    backoff: { initialDelay: '1s', maxDelay: '10s' },
    onRecovered: () =>
      cartFromPostgres().then((cart) => redis.set('example:cart', JSON.stringify(cart), 'EX', 60)),
  });
  const cartFromPostgres = async () => (await pool.query("SELECT 2 AS items, 'EUR 12.00' AS total")).rows[0];

  const app = express();
  app.use(bw.middleware);

  // Core: orders come from PostgreSQL; without it there is no answer (503 from the failure).
  app.get('/orders/:id', async (req, res) => {
    const { rows } = await pool.query("SELECT $1::int AS id, 'paid' AS status", [Number(req.params.id) || 0]);
    res.json(rows[0]);
  });

  // Optional: the cart is cached in Redis; without it, it is read from PostgreSQL (slower). While
  // Redis is down the service is degraded, and every answer says so (bulwark-degraded).
  app.get('/cart', async (_req, res) => {
    if (core.features.isEnabled('cart-cache')) {
      const cached = await redis.get('example:cart').catch(() => null);
      if (cached !== null) return res.json({ ...JSON.parse(cached), from: 'redis' });
    }
    const cart = await cartFromPostgres();
    if (core.features.isEnabled('cart-cache'))
      await redis.set('example:cart', JSON.stringify(cart), 'EX', 60).catch(() => {});
    res.json({ ...cart, from: 'postgres' });
  });

  // Stretch: recommendations when the service is up; an empty list when not.
  app.get('/home', async (_req, res) => {
    let recommendations = [];
    if (core.features.isEnabled('recommendations')) {
      const r = await fetch(`${recs.url}/recommendations`, { signal: getContext()?.signal });
      recommendations = (await r.json()).items;
    }
    res.json({ welcome: true, recommendations });
  });

  // Slow work, to watch a drain: the answer comes 2 s later, even when SIGTERM arrives meanwhile.
  app.get('/slow', async (_req, res) => {
    await new Promise((r) => setTimeout(r, 2000));
    res.json({ done: true });
  });

  // Redis' self-healing so far (attempts, outcomes), for the README.
  app.get('/healing/redis', (_req, res) => {
    res.json(healing.history().map(({ attempt, outcome, undone }) => ({ attempt, outcome, undone })));
  });

  // Chaos: an operator (or a test) fails a dependency for a while; off without CHAOS_TOKEN.
  if (chaosToken) {
    app.post('/chaos/fail/:dependency', (req, res) => {
      if (req.get('authorization') !== `Bearer ${chaosToken}`)
        return res.status(403).json({ error: 'forbidden' });
      const name = req.params.dependency;
      if (!core.health.names().includes(name))
        return res.status(404).json({ error: `no dependency ${name}` });
      const seconds = Math.min(Number(req.query.seconds) || 10, 300);
      core.health.override(name, { status: 'down', reason: 'failed by chaos', forMs: seconds * 1000 });
      res.json({ failed: name, seconds });
    });
    app.post('/chaos/recover/:dependency', (req, res) => {
      if (req.get('authorization') !== `Bearer ${chaosToken}`)
        return res.status(403).json({ error: 'forbidden' });
      if (!core.health.names().includes(req.params.dependency))
        return res.status(404).json({ error: 'no such dependency' });
      core.health.override(req.params.dependency, undefined);
      res.json({ recovered: req.params.dependency });
    });
  }
  app.use(bw.notFound);
  app.use(bw.errorHandler);

  const server = app.listen(port, host);
  await once(server, 'listening');
  core.lifecycle.attach(server);
  // Closed after the drain, last registered first: the recommendations service, Redis, the pool.
  core.lifecycle.onShutdown(() => pool.end(), 'postgres');
  core.lifecycle.onShutdown(() => redis.quit().catch(() => redis.disconnect()), 'redis');
  core.lifecycle.onShutdown(() => recs.close(), 'recommendations');

  const address = server.address();
  return {
    url: `http://${host}:${address.port}`,
    core,
    startup,
    healing,
    /** The graceful shutdown a signal would start; resolves with its report. */
    close: () => core.lifecycle.shutdown({ reason: 'close()', delay: 0 }),
  };
}
