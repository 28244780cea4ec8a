/**
 * The contract every adapter's conformance app implements. The cases in conformance.test.ts run
 * against each app through supertest, so Express, Koa and NestJS can never drift apart.
 *
 * Each case builds a fresh app with its own Bulwark config (`createBulwark(config)` from
 * @bulwark/core), so cases never share rate-limit or breaker state.
 */
import type { Server } from 'node:http';
import type { Bulwark } from '@bulwark/core';

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
  /** POST /idem waits for it before answering, when set (a request still running). */
  hold?: Promise<void>;
  /** Context the last GET /ok saw: correlation ID and trace ids. */
  seen?: { correlationId?: string; traceId?: string; spanId?: string; deadline?: number };
}

/** A running conformance app. */
export interface ConformanceApp {
  /** A listening HTTP server (on 127.0.0.1, port 0). */
  server: Server;
  /** Shared observations. */
  probe: Probe;
  /** The app's Bulwark core (the cases register health dependencies on it). */
  core: Bulwark;
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
 * - POST /idem          → behind the adapter's idempotency middleware (`{ required: true, maxKeyLength: 64 }`),
 *                         after JSON body parsing and a stand-in authentication that makes the
 *                         `x-user` header the user (`{ id }`, where each framework keeps its user);
 *                         awaits `probe.hold` when set; throws a `status: 500` error while
 *                         `probe.failFlaky`; else answers 201 with `Location: /idem/<handlerRuns>`,
 *                         `Set-Cookie: sid=<handlerRuns>` and `{ run: handlerRuns, body }`.
 * Every handler increments `probe.handlerRuns` first. Protected handlers *return* their body and
 * let the adapter send it, so a fallback value is sent the same way.
 */
export type AppFactory = (config: Record<string, unknown>) => Promise<ConformanceApp>;

/** A fresh probe. */
export function newProbe(): Probe {
  return { handlerRuns: 0, timeoutAborted: false, hangAborted: false, failFlaky: false };
}

/** The policies the apps' protected routes name: /flaky's breaker and /fallback's fallback. */
export const POLICIES = {
  // A short resetTimeout keeps the half-open wait (a real one: this is real HTTP) at 200 ms.
  flaky: { circuitBreaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeout: 200 } },
  degradable: { fallback: { value: { ok: true, fallback: true } } },
};

/** Adapter name → its app module (default export, or the module's one exported factory). */
export const APPS: Record<string, string> = {
  express: './apps/express.js',
  express4: './apps/express4.js',
  koa: './apps/koa.js',
  koa2: './apps/koa2.js',
  nest: './apps/nest.js',
  'nest-fastify': './apps/nest-fastify.js',
};

/** Every conformance app whose module exists, by adapter name. */
export async function loadApps(): Promise<{ name: string; factory: AppFactory }[]> {
  const { existsSync } = await import('node:fs');
  const present = Object.entries(APPS).filter(([, path]) =>
    existsSync(new URL(path.replace(/\.js$/, '.ts'), import.meta.url)),
  );
  return Promise.all(
    present.map(async ([name, path]) => {
      const mod = (await import(path)) as Record<string, unknown>;
      const factory = mod.default ?? Object.values(mod).find((v) => typeof v === 'function');
      if (typeof factory !== 'function') throw new Error(`${path} exports no AppFactory`);
      return { name, factory: factory as AppFactory };
    }),
  );
}
