/**
 * The orders service (Koa 3). `GET /orders/:id/checkout` charges the order through the payments
 * service with the resilient client: the named `payments` policy retries a failed or slow charge
 * once, bounds every attempt, and trips a breaker when payments keeps failing. It keeps 100 ms of
 * the request's budget for itself (the propagation margin), so a call that could not finish in
 * time is not sent at all: the request fails here, fast, with 504 DEADLINE_EXCEEDED.
 */
import { createBulwark, createResilientFetch } from '@bulwark/core';
import { bulwark } from '@bulwark/koa';
import Koa from 'koa';
import { createLogger, HOST, onShutdown, ports, requestLog } from './lib.mjs';

const logger = createLogger('orders');
const port = ports();
const paymentsUrl = process.env.PAYMENTS_URL ?? `http://${HOST}:${port.payments}`;

const core = createBulwark({
  policies: {
    payments: {
      timeout: '2s', // total, both attempts and the wait between them
      retry: { maxAttempts: 2, initialDelay: '50ms', maxDelay: '200ms' },
      circuitBreaker: { errorThresholdPercentage: 50, volumeThreshold: 10, resetTimeout: '5s' },
      attemptTimeout: '800ms',
    },
  },
  http: { deadline: { max: '10s' } },
});
const { middleware } = bulwark(core);
// The resilient client with a 100 ms margin: what orders keeps for itself after payments answers.
// Payments is ours too, so its problem documents may be relayed (trustDownstreamProblems).
const call = createResilientFetch(core, { margin: '100ms', trustDownstreamProblems: true });

const app = new Koa();
// The middleware reports unknown errors (5xx) on 'error'; the request line records their code.
app.on('error', (error, ctx) => {
  if (ctx?.state.log) ctx.state.log.fail(error);
  else logger.error({ err: error }, 'error outside a request');
});
app.use(async (ctx, next) => {
  ctx.state.log = requestLog(logger, { method: ctx.method, path: ctx.path, headers: ctx.headers }, ctx.res);
  await next();
  // Every error the middleware answered is a problem document: the request line records its code.
  if (ctx.status >= 400) {
    let problem = ctx.body;
    if (typeof problem === 'string' || Buffer.isBuffer(problem)) {
      try {
        problem = JSON.parse(String(problem));
      } catch {
        problem = undefined;
      }
    }
    if (typeof problem?.code === 'string') ctx.state.log.fail(problem);
  }
});
app.use(middleware); // correlation ID, trace context, deadline; answers errors as problem+json
app.use(async (ctx, next) => {
  ctx.state.log.bind();
  await next();
});

const CHECKOUT = /^\/orders\/([A-Za-z0-9_-]{1,64})\/checkout$/;

app.use(async (ctx) => {
  const match = ctx.method === 'GET' ? CHECKOUT.exec(ctx.path) : null;
  if (!match) ctx.throw(404, `No route for ${ctx.method} ${ctx.path}.`);
  const id = match[1];
  const query = ctx.querystring === '' ? '' : `?${ctx.querystring}`;
  // A failed, slow or refused call rejects with a DownstreamError naming payments (a spent budget,
  // DEADLINE_EXCEEDED, stays orders' own): the middleware answers it as problem+json.
  const answer = await call('payments', `${paymentsUrl}/payments/${id}${query}`);
  if (!answer.ok) {
    // A 4xx from payments is not a payment: never answer it as "paid".
    await answer.body?.cancel();
    ctx.throw(502, `payments refused the charge (${answer.status}).`);
  }
  const payment = await answer.json();
  ctx.body = { orderId: id, status: 'paid', payment };
});

const server = app.listen(port.orders, HOST, () => {
  logger.info({ port: server.address().port, payments: paymentsUrl }, 'listening');
});
onShutdown(logger, server, () => core.close());
