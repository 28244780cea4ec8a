/**
 * Bulwark on Koa 3: one route per capability, routed by a small table (no router dependency).
 * `createApp()` builds the app without listening; `start({ port })` listens and returns a `close()`.
 */
import { timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { createBulwark, getContext } from '@bulwark/core';
import { bulwark } from '@bulwark/koa';
import Koa from 'koa';
import { createDownstream } from './downstream.mjs';

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
const sleep = (ms, signal) =>
  delay(ms, undefined, { signal }).catch((e) => {
    throw signal?.aborted ? signal.reason : e;
  });

/** The Bulwark config: named policies for outgoing calls, and the inbound HTTP engine's limits. */
export const config = {
  policies: {
    // Calls to the flaky inventory service: retry transient failures, trip a breaker when most fail.
    inventory: {
      timeout: '2s', // total, across attempts and backoff
      retry: { maxAttempts: 3, initialDelay: '100ms', maxDelay: '400ms' },
      circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 4, window: '10s', resetTimeout: '2s' },
      attemptTimeout: '300ms',
    },
    // Recommendations are optional: when the call fails, answer a static list, marked degraded.
    recommendations: {
      fallback: { value: { items: ['bestseller-1', 'bestseller-2'], source: 'fallback' } },
      timeout: '300ms',
    },
    // Reports are expensive: two at a time, one waiting, the rest shed at once.
    reports: { bulkhead: { maxConcurrent: 2, maxQueue: 1, queueTimeout: '1s' } },
  },
  http: {
    // Per-tenant quota: 10 requests per 10 s per tenant, the tenant taken from a known API key (a
    // header the client could set freely, such as x-tenant-id, would let it rotate past any limit);
    // without a known key, per client address.
    rateLimit: {
      limit: 10,
      interval: '10s',
      key: (req) => {
        const tenant = tenantOf(req.headers['x-api-key']);
        return tenant ? `tenant:${tenant}` : `ip:${req.remoteAddress}`;
      },
    },
    deadline: { max: '30s' }, // callers may send `x-deadline-ms`; never more than 30 s
  },
};

/** The demo's API keys. A real app takes the tenant from its authentication, never from a free header. */
const API_KEYS = new Map([
  ['key-acme', 'acme'],
  ['key-globex', 'globex'],
  ['key-demo', 'demo'],
  ['key-reports', 'reports'],
]);

/** The tenant of a known API key, else undefined. */
export function tenantOf(apiKey) {
  return typeof apiKey === 'string' ? API_KEYS.get(apiKey) : undefined;
}

/** Longest outage the chaos switch accepts (1 minute). */
export const MAX_OUTAGE_MS = 60_000;

/** Whether `authorization` carries `Bearer <token>` (compared in constant time). */
function authorized(authorization, token) {
  if (!token || typeof authorization !== 'string') return false;
  const given = Buffer.from(authorization);
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Builds the Koa app, its Bulwark core and its flaky downstream.
 * @param {{ failureRate?: number, chaosToken?: string }} [options] failure rate of the downstream
 *   outside outages; the token the chaos switch requires (`CHAOS_TOKEN`; without one it is off)
 */
export function createApp({
  failureRate = Number(process.env.FLAKY_FAILURE_RATE ?? 0.2),
  chaosToken = process.env.CHAOS_TOKEN,
} = {}) {
  const core = createBulwark(config);
  const { middleware, protect } = bulwark(core);
  const downstream = createDownstream({ name: 'inventory', failureRate });

  /** `METHOD /path` → Koa middleware. */
  const routes = {
    // Correlation: the ID (the caller's `x-request-id`, or a fresh one) is in the context everywhere.
    'GET /hello': (ctx) => {
      const context = getContext();
      ctx.body = {
        hello: tenantOf(ctx.get('x-api-key')) ?? 'anonymous',
        correlationId: ctx.state.bulwark.correlationId,
        traceId: context?.trace.traceId,
        deadline: context?.deadline === undefined ? null : new Date(context.deadline).toISOString(),
      };
    },

    // Bulkhead: a slow report under the `reports` policy (2 running, 1 queued, the rest get 503).
    'GET /report': protect({ policy: 'reports' }, async (_ctx, signal) => {
      await sleep(800, signal);
      return { report: 'quarterly', rows: 42 };
    }),

    // Route timeout: the export takes 2 s, the route allows 500 ms → 504, and the work is aborted.
    'GET /export': protect({ timeout: '500ms' }, async (_ctx, signal) => {
      await sleep(2000, signal);
      return { export: 'done' };
    }),

    // Breaker + retry: the flaky inventory service through the named `inventory` policy.
    'GET /inventory': protect({ policy: 'inventory' }, (ctx, signal) =>
      downstream.call(() => ({ sku: String(ctx.query.sku ?? 'widget'), inStock: 7 }), signal),
    ),

    // Fallback: recommendations from the same flaky service; when it fails, a degraded static answer.
    'GET /recommendations': protect({ policy: 'recommendations' }, (_ctx, signal) =>
      downstream.call(() => ({ items: ['for-you-1', 'for-you-2', 'for-you-3'], source: 'live' }), signal),
    ),

    // Chaos switch for trying it by hand: `POST /chaos/outage?ms=5000` with `Authorization: Bearer
    // <CHAOS_TOKEN>` makes the downstream fail for 5 s (at most a minute). Without a token configured
    // the route does not exist; a wrong token is a 403.
    'POST /chaos/outage': (ctx, next) => {
      if (!chaosToken) return next();
      if (!authorized(ctx.get('authorization'), chaosToken))
        ctx.throw(403, 'The chaos switch needs its token.');
      const ms = Number(ctx.query.ms ?? 5000);
      if (!Number.isInteger(ms) || ms < 0 || ms > MAX_OUTAGE_MS) {
        ctx.throw(400, `ms must be a whole number from 0 to ${MAX_OUTAGE_MS}.`);
      }
      downstream.outage(ms);
      ctx.body = { downstream: downstream.name, outageMs: ms };
    },
  };

  const app = new Koa();
  app.silent = true; // 5xx errors are still emitted on 'error'; keep the console for the example's own lines
  app.use(middleware); // first: correlation ID, trace context, deadline, rate limit, problem+json errors
  app.use((ctx, next) => {
    // A problem+json error of the app's own: unknown orders are a 404 problem with a suggestion.
    const order = /^\/orders\/([^/]+)$/.exec(ctx.path);
    if (ctx.method === 'GET' && order) {
      if (order[1] !== '42') ctx.throw(404, `Order ${order[1]} does not exist.`);
      ctx.body = { id: '42', status: 'shipped' };
      return;
    }
    const route = routes[`${ctx.method} ${ctx.path}`];
    return route ? route(ctx, next) : next();
  });

  return { app, core, downstream };
}

/**
 * Starts the app on `port` (0 = any free port) and returns its URL and a `close()` that drains:
 * it stops accepting connections, lets in-flight requests finish (at most `graceMs`), then closes
 * the Bulwark core.
 * @param {{ port?: number, host?: string, failureRate?: number, chaosToken?: string }} [options]
 */
export async function start({ port = 3000, host = '127.0.0.1', failureRate, chaosToken } = {}) {
  const { app, core, downstream } = createApp({ failureRate, chaosToken });
  const server = app.listen(port, host);
  await once(server, 'listening');
  const address = server.address();
  const url = `http://${host}:${typeof address === 'object' && address ? address.port : port}`;
  return {
    url,
    server,
    core,
    downstream,
    async close({ graceMs = 10_000 } = {}) {
      // Stop accepting; idle keep-alive sockets close now, busy ones once their response is sent.
      const closed = new Promise((resolve) => server.close(() => resolve(undefined)));
      server.closeIdleConnections();
      // A request still running after the grace period is cut, so shutdown always ends.
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
      await core.close(); // last: in-flight requests still needed their policies
    },
  };
}
