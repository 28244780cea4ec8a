/** The conformance app on Express 5 (routes and handler bodies as listed in ../spec.ts); express4.ts runs it on Express 4. */
import { once } from 'node:events';
import { BulkheadFullError, type BulwarkConfig, getContext } from '@bulwark/core';
import { bulwark } from '@bulwark/express';
import express from 'express';
import { type AppFactory, newProbe } from '../spec.js';

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/** Resolves when `signal` aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) =>
    signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true }),
  );
}

/** The Express conformance app on the given Express (5 by default; express4.ts passes Express 4). */
export function expressApp(framework: typeof express): AppFactory {
  return async (config) => {
    const probe = newProbe();
    const bw = bulwark(config as BulwarkConfig);
    const app = framework();
    app.use(bw.middleware);
    app.use(framework.json());
    app.use((req, _res, next) => {
      const user = req.headers['x-user'];
      if (typeof user === 'string') (req as { user?: unknown }).user = { id: user };
      next();
    });

    app.get('/ok', (_req, res) => {
      probe.handlerRuns++;
      const ctx = getContext();
      probe.seen = {
        correlationId: ctx?.correlationId,
        traceId: ctx?.trace.traceId,
        spanId: ctx?.trace.spanId,
        deadline: ctx?.deadline,
      };
      res.json({ ok: true, correlationId: ctx?.correlationId, traceId: ctx?.trace.traceId });
    });
    app.get('/boom', () => {
      probe.handlerRuns++;
      throw new Error('db password is hunter2');
    });
    app.get('/bulwark-error', () => {
      probe.handlerRuns++;
      throw new BulkheadFullError({ retryAfterMs: 2000 });
    });
    app.get('/slow', async (req, res) => {
      probe.handlerRuns++;
      await wait(Number(req.query.ms ?? 0), req.bulwark!.signal);
      res.json({ ok: true });
    });
    app.get(
      '/timeout',
      bw.protect({ timeout: 100 }, async (_req, _res, signal) => {
        probe.handlerRuns++;
        await aborted(signal);
        probe.timeoutAborted = true;
        throw signal.reason;
      }),
    );
    app.get(
      '/flaky',
      bw.protect({ policy: 'flaky' }, () => {
        probe.handlerRuns++;
        if (probe.failFlaky) throw Object.assign(new Error('flaky dependency failed'), { status: 500 });
        return { ok: true };
      }),
    );
    app.get(
      '/fallback',
      bw.protect({ policy: 'degradable' }, () => {
        probe.handlerRuns++;
        throw Object.assign(new Error('always fails'), { status: 500 });
      }),
    );
    app.get('/hang', async (req) => {
      probe.handlerRuns++;
      await aborted(req.bulwark!.signal);
      probe.hangAborted = true;
    });
    // Express 4 drops a rejected promise: the error goes to next() by hand.
    app.post('/idem', bw.idempotency({ required: true, maxKeyLength: 64 }), (req, res, next) => {
      probe.handlerRuns++;
      const run = probe.handlerRuns;
      Promise.resolve(probe.hold)
        .then(() => {
          if (probe.failFlaky) throw Object.assign(new Error('flaky dependency failed'), { status: 500 });
          res.setHeader('Location', `/idem/${run}`);
          res.setHeader('Set-Cookie', `sid=${run}`);
          res.status(201).json({ run, body: req.body });
        })
        .catch(next);
    });
    app.use(bw.notFound);
    app.use(bw.errorHandler);

    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return {
      server,
      probe,
      core: bw.core,
      async close() {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await bw.core.close();
      },
    };
  };
}

/** Builds the Express 5 conformance app. */
export const createExpressApp: AppFactory = expressApp(express);

export default createExpressApp;
