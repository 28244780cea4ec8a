/**
 * The gateway (Express 5): the public edge. `GET /checkout/:orderId` asks the orders service to
 * check the order out, through the named `orders` policy of the resilient client
 * (`core.fetch`), which sends the correlation ID, a child `traceparent` and the remaining
 * deadline. A failure anywhere behind it comes back as one problem+json naming the service at
 * fault, its code and its suggestion.
 */
import { createBulwark } from '@bulwark/core';
import { bulwark } from '@bulwark/express';
import express from 'express';
import { authorized, createLogger, HOST, onShutdown, ports, requestLog } from './lib.mjs';

const logger = createLogger('gateway');
const port = ports();
const ordersUrl = process.env.ORDERS_URL ?? `http://${HOST}:${port.orders}`;

const core = createBulwark({
  policies: {
    // No retry here: orders already retries payments, and retrying at every layer multiplies
    // the calls (3 × 3 = 9 for one click). The gateway bounds the wait and sheds a broken orders.
    orders: {
      timeout: '3s',
      circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 20, resetTimeout: '5s' },
    },
  },
  http: {
    // Every request gets a budget: the caller's `x-deadline-ms` (at most 10 s), else 5 s.
    deadline: { default: '5s', max: '10s' },
  },
});
const bw = bulwark(core);
const app = express();

app.use((req, res, next) => {
  req.log = requestLog(logger, { method: req.method, path: req.path, headers: req.headers }, res);
  next();
});
app.use(bw.middleware); // correlation ID, trace context, deadline; from here on, in the request context
app.use((req, _res, next) => {
  req.log.bind();
  next();
});

/**
 * The failure switches (see payments): `fail=1`, `slowMs=<ms>`. They travel on only with
 * `Authorization: Bearer $CHAOS_TOKEN`: a public switch would let any client trip the breakers
 * every user shares. Without a configured token they are ignored.
 */
function switches(req) {
  if (!authorized(req.get('authorization'), process.env.CHAOS_TOKEN)) return '';
  const query = req.query;
  const out = new URLSearchParams();
  if (query.fail === '1') out.set('fail', '1');
  if (typeof query.slowMs === 'string' && /^\d{1,5}$/.test(query.slowMs)) out.set('slowMs', query.slowMs);
  const s = out.toString();
  return s === '' ? '' : `?${s}`;
}

app.get('/checkout/:orderId', async (req, res) => {
  const id = encodeURIComponent(req.params.orderId);
  // Orders is ours: its problem documents (suggestion, the service it blames) may be relayed.
  const answer = await core.fetch('orders', `${ordersUrl}/orders/${id}/checkout${switches(req)}`, {
    trustDownstreamProblems: true,
  });
  if (!answer.ok) {
    // A 4xx from orders is not a success: answer it as our own problem, without orders' body
    // (its detail names internal paths).
    await answer.body?.cancel();
    const status = answer.status === 404 ? 404 : 502;
    const message =
      status === 404
        ? `Order ${req.params.orderId} does not exist.`
        : 'The order service refused the checkout.';
    throw Object.assign(new Error(message), { status, expose: true });
  }
  const order = await answer.json();
  res.json({ correlationId: req.bulwark?.correlationId, traceId: req.bulwark?.traceId, order });
});

app.use((error, req, _res, next) => {
  req.log.fail(error); // the request line records the code
  next(error);
});
app.use(bw.errorHandler); // every error, including DownstreamError, as application/problem+json

const server = app.listen(port.gateway, HOST, () => {
  logger.info({ port: server.address().port, orders: ordersUrl }, 'listening');
});
onShutdown(logger, server, () => core.close());
