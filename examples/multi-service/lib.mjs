/**
 * What the gateway and orders services share: their ports, their pino logger, and the one log
 * line each writes per request. (Payments, in TypeScript, has its own copy in `src/payments.ts`.)
 */
import { AsyncResource } from 'node:async_hooks';
import { timingSafeEqual } from 'node:crypto';
import { pinoMixin } from '@bulwark/core';
import pino from 'pino';

/** Every service listens on loopback only. */
export const HOST = '127.0.0.1';

function port(value, fallback) {
  const n = value === undefined || value === '' ? fallback : Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new TypeError(`Not a port: ${String(value)}`);
  return n;
}

/**
 * The three ports: `GATEWAY_PORT`, `ORDERS_PORT`, `PAYMENTS_PORT`, else `PORT` (default 3000) and
 * the next two.
 */
export function ports(env = process.env) {
  const base = port(env.PORT, 3000);
  return {
    gateway: port(env.GATEWAY_PORT, base),
    orders: port(env.ORDERS_PORT, base + 1),
    payments: port(env.PAYMENTS_PORT, base + 2),
  };
}

/** A pino logger writing JSON lines to stdout; inside a request, the mixin adds correlationId, traceId, spanId. */
export function createLogger(service) {
  return pino({ base: { service }, mixin: pinoMixin(), timestamp: pino.stdTimeFunctions.isoTime });
}

const TRACEPARENT = /^[\da-f]{2}-[\da-f]{32}-([\da-f]{16})-[\da-f]{2}$/;

/**
 * What the caller sent that the logs should show: the deadline header (the budget this hop got)
 * and the parent id of the inbound `traceparent` (the caller's span). Raw header text is never
 * logged: only values that have the expected shape.
 */
export function inbound(headers) {
  const deadline = headers['x-deadline-ms'];
  const parent = TRACEPARENT.exec(String(headers.traceparent ?? '').toLowerCase())?.[1];
  return {
    inboundDeadlineMs: typeof deadline === 'string' && /^\d{1,10}$/.test(deadline) ? Number(deadline) : null,
    inboundParentId: parent ?? null,
  };
}

/**
 * One log line per request, written when the response closes. `bind()` is called inside the
 * request context (after Bulwark's middleware) and binds the writer to it, so pino's mixin adds
 * the ids; a request Bulwark refused at the door (no context) is still logged, with the
 * correlation ID from the response header.
 */
export function requestLog(logger, { method, path, headers }, response) {
  const started = performance.now();
  const fields = { method, path, ...inbound(headers) };
  let code;
  let write = (extra) =>
    logger.info({ correlationId: response.getHeader('x-request-id'), ...extra }, 'request');
  response.once('close', () => {
    write({
      ...fields,
      status: response.statusCode,
      ms: Math.round(performance.now() - started),
      ...(code === undefined ? {} : { code }),
      ...(response.writableFinished ? {} : { aborted: true }),
    });
  });
  return {
    bind() {
      write = AsyncResource.bind((extra) => logger.info(extra, 'request'));
    },
    /** Records the code of the error the request failed with (e.g. `DOWNSTREAM_ERROR`). */
    fail(error) {
      code = typeof error?.code === 'string' ? error.code : 'INTERNAL_ERROR';
    },
  };
}

/**
 * Closes `server` and then `close()`s the rest on SIGINT/SIGTERM; the process then exits on its
 * own (nothing left to keep it alive), or with code 1 if something still holds it after 5 s.
 */
export function onShutdown(logger, server, closeRest) {
  let closing = false;
  const stop = async (signal) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error('still running 5 s after the signal; exiting');
      process.exit(1);
    }, 5000).unref();
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeIdleConnections();
    const drained = setTimeout(() => server.closeAllConnections(), 2000);
    drained.unref();
    await closed;
    clearTimeout(drained);
    await closeRest();
    logger.info('closed');
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** Whether `authorization` is `Bearer <token>` (constant-time); false when no token is configured. */
export function authorized(authorization, token) {
  if (!token || typeof authorization !== 'string') return false;
  const given = Buffer.from(authorization);
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
