/** The Koa conformance app: every route of spec.ts, routed by method and path (no router dependency). */
import { setTimeout as delay } from 'node:timers/promises';
import { BulkheadFullError, type BulwarkConfig, createBulwark, getContext } from '@bulwark/core';
import { bulwark } from '@bulwark/koa';
import { bodyParser } from '@koa/bodyparser';
import Koa, { type Middleware } from 'koa';
import { type AppFactory, newProbe } from '../spec.js';

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  delay(ms, undefined, { signal }).catch((e: unknown) => {
    throw signal?.aborted ? signal.reason : e;
  });

/** The Koa conformance app on the given Koa (3 by default; koa2.ts passes Koa 2). */
export function koaApp(Framework: typeof Koa): AppFactory {
  return async (config) => {
    const probe = newProbe();
    const core = createBulwark(config as BulwarkConfig);
    const { middleware, protect, idempotency } = bulwark(core);
    const idem = idempotency({ required: true, maxKeyLength: 64 });

    /** Resolves once `signal` aborts. */
    const aborted = (signal: AbortSignal) =>
      new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });

    const boom: Middleware = () => {
      probe.handlerRuns++;
      throw new Error('db password is hunter2');
    };
    const routes: Record<string, Middleware> = {
      'GET /ok': (ctx) => {
        probe.handlerRuns++;
        const context = getContext(); // the AsyncLocalStorage context, through Koa's middleware chain
        const correlationId = context?.correlationId;
        const traceId = context?.trace.traceId;
        probe.seen = { correlationId, traceId, spanId: context?.trace.spanId, deadline: context?.deadline };
        ctx.body = { ok: true, correlationId, traceId };
      },
      'GET /boom': boom,
      'HEAD /boom': boom,
      'GET /bulwark-error': () => {
        probe.handlerRuns++;
        throw new BulkheadFullError({ retryAfterMs: 2000 });
      },
      'GET /slow': async (ctx) => {
        probe.handlerRuns++;
        await sleep(Number(ctx.query.ms ?? 0), ctx.state.bulwark!.signal);
        ctx.body = { ok: true };
      },
      'GET /timeout': protect({ timeout: 100 }, async (_ctx, signal) => {
        probe.handlerRuns++;
        await aborted(signal);
        probe.timeoutAborted = true;
        throw signal.reason;
      }),
      'GET /flaky': protect({ policy: 'flaky' }, () => {
        probe.handlerRuns++;
        if (probe.failFlaky) throw Object.assign(new Error('flaky dependency failed'), { status: 500 });
        return { ok: true };
      }),
      'GET /fallback': protect({ policy: 'degradable' }, () => {
        probe.handlerRuns++;
        throw new Error('degradable dependency failed');
      }),
      'POST /idem': (ctx) =>
        idem(ctx, async () => {
          probe.handlerRuns++;
          const run = probe.handlerRuns;
          await probe.hold;
          if (probe.failFlaky) throw Object.assign(new Error('flaky dependency failed'), { status: 500 });
          ctx.set('Location', `/idem/${run}`);
          ctx.set('Set-Cookie', `sid=${run}`);
          ctx.status = 201;
          ctx.body = { run, body: ctx.request.body };
        }),
      'GET /hang': async (ctx) => {
        probe.handlerRuns++;
        await aborted(ctx.state.bulwark!.signal);
        probe.hangAborted = true;
      },
    };

    const app = new Framework();
    app.silent = true; // 5xx are emitted to the app's error listener; keep test output quiet
    app.use(middleware);
    app.use(bodyParser());
    app.use((ctx, next) => {
      const user = ctx.get('x-user');
      if (user !== '') ctx.state.user = { id: user };
      return next();
    });
    app.use((ctx, next) => {
      const route = routes[`${ctx.method} ${ctx.path}`];
      return route ? route(ctx, next) : next();
    });

    const server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
    return {
      server,
      probe,
      core,
      async close() {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await core.close();
      },
    };
  };
}

/** Builds the Koa 3 conformance app from a Bulwark config. */
export const createKoaApp: AppFactory = koaApp(Koa);

export default createKoaApp;
