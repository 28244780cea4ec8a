/**
 * The contract every adapter's conformance app implements. The cases in conformance.test.ts run
 * against each app through supertest, so Express, Koa and NestJS can never drift apart.
 *
 * Each case builds a fresh app with its own Bulwark config (`createBulwark(config)` from
 * @bulwark/core), so cases never share rate-limit or breaker state.
 */
import type { Server } from 'node:http';

/** Observations the app's handlers record, read by the cases. */
export interface Probe {
  /** How many times any handler body started. */
  handlerRuns: number;
  /** Set by GET /timeout when its signal aborted. */
  timeoutAborted: boolean;
  /** Set by GET /hang when its signal aborted (client disconnect). */
  hangAborted: boolean;
  /** GET /flaky throws a 500-class error while true. */
  failFlaky: boolean;
  /** Context the last GET /ok saw: correlation ID and trace ids. */
  seen?: { correlationId?: string; traceId?: string; spanId?: string; deadline?: number };
}

/** A running conformance app. */
export interface ConformanceApp {
  /** A listening HTTP server (on 127.0.0.1, port 0). */
  server: Server;
  /** Shared observations. */
  probe: Probe;
  /** Stops the server and closes Bulwark. */
  close(): Promise<void>;
}

/**
 * Builds a conformance app from a Bulwark config (the object `createBulwark` takes).
 *
 * Routes every app serves (the handler bodies are the same in every framework):
 * - GET  /ok            → 200 JSON `{ ok: true, correlationId, traceId }` read from the request context;
 *                         records `probe.seen`.
 * - GET  /boom          → throws `new Error('db password is hunter2')` (an unknown error).
 * - HEAD /boom          → same handler (HEAD).
 * - GET  /bulwark-error → throws `new BulkheadFullError({ retryAfterMs: 2000 })`.
 * - GET  /slow?ms=N     → waits N ms (aborting early if its signal aborts), then 200 `{ ok: true }`.
 * - GET  /timeout       → protected with `{ timeout: 100 }`; waits until its signal aborts, sets
 *                         `probe.timeoutAborted = true`, then throws the signal's reason.
 * - GET  /flaky         → protected with `{ policy: 'flaky' }`; throws an error with `status: 500`
 *                         while `probe.failFlaky`, else returns `{ ok: true }`.
 * - GET  /fallback      → protected with `{ policy: 'degradable' }`; always throws; the policy's
 *                         fallback answers.
 * - GET  /hang          → waits until its signal aborts, then sets `probe.hangAborted = true`.
 * Every handler increments `probe.handlerRuns` first. Protected handlers *return* their body and
 * let the adapter send it, so a fallback value is sent the same way.
 */
export type AppFactory = (config: Record<string, unknown>) => Promise<ConformanceApp>;

/** A fresh probe. */
export function newProbe(): Probe {
  return { handlerRuns: 0, timeoutAborted: false, hangAborted: false, failFlaky: false };
}
