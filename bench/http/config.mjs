// What every server under test shares: the route, its body, the requests' headers and
// Bulwark's full inbound stack, tuned so it never rejects or queues (we measure its cost, not
// its shedding).

/** The route every server answers. */
export const PATH = '/hello';

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
  http: {
    production: true,
    // Off by default in Bulwark (echoing `traceresponse` is opt-in), so off here: the bench
    // measures what an app gets out of the box.
    traceResponse: false,
    deadline: { default: '30s', max: '60s' },
    rateLimit: { limit: 1_000_000_000, interval: '1s' },
    bulkhead: { maxConcurrent: 100_000, maxQueue: 0 },
    // To find which part costs what: BENCH_BULWARK_HTTP='{"bulkhead":false}' npm run bench:http
    ...JSON.parse(process.env.BENCH_BULWARK_HTTP || '{}'),
  },
};
