// What every server under test shares: the route, its body, the requests' headers and
// Bulwark's full inbound stack, tuned so it never rejects or queues (we measure its cost, not
// its shedding).

/** The route every server answers: Bulwark's admission only (middleware, no route protection). */
export const PATH = '/hello';

/**
 * The protected route every server answers: in the Bulwark variant its handler runs under
 * `protect()` (Express, Koa) or `@UsePolicy` (NestJS) with the named policy below, and a route rate
 * limit keyed per client (Express, Koa) on top of the app-wide per-client limit.
 */
export const PROTECTED_PATH = '/orders/42';

/** The named policy of the protected route: total timeout, retry, breaker (never tripping here). */
export const PROTECTED_POLICY = 'orders-api';

/** The protected route's own rate limit: per client, far above what 2 cores serve. */
export const ROUTE_RATE_LIMIT = { limit: 1_000_000_000, interval: '1s', name: 'orders' };

/** The small JSON body every handler returns. */
export const BODY = { hello: 'world' };

/** Headers on every request, so the correlation and trace code paths run. */
export const REQUEST_HEADERS = {
  'x-request-id': 'bench-7f3c2a91-4d5e-4b6f-8a7b-1c2d3e4f5a6b',
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
};

/**
 * Bulwark's inbound stack with the library's defaults: correlation (on by default), trace context
 * (the load still sends `traceparent`), the 30 s default deadline on every request, a rate limit
 * and a bulkhead far above what 2 cores can serve (never rejecting, never queueing). The error
 * handler is mounted by each server.
 */
export const BULWARK_CONFIG = {
  policies: {
    [PROTECTED_POLICY]: { timeout: '5s', retry: { maxAttempts: 2 }, circuitBreaker: true },
  },
  http: {
    production: true,
    // Off by default in Bulwark (echoing `traceresponse` is opt-in), so off here: the bench
    // measures what an app gets out of the box.
    traceResponse: false,
    deadline: { default: '30s', max: '60s' },
    // Keyed per client (the default key: the client address), as express-rate-limit users expect.
    rateLimit: { limit: 1_000_000_000, interval: '1s' },
    bulkhead: { maxConcurrent: 100_000, maxQueue: 0 },
    // To find which part costs what: BENCH_BULWARK_HTTP='{"bulkhead":false}' npm run bench:http
    ...JSON.parse(process.env.BENCH_BULWARK_HTTP || '{}'),
  },
};
