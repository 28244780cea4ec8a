/**
 * The contract between core's HTTP engine and the framework adapters. An adapter turns its
 * framework's request into an {@link InboundRequest}, calls the engine, and writes the plain
 * {@link OutboundResponse} / headers it gets back. It decides nothing itself.
 */
import type { Criticality, RequestContext } from '../context/context.js';
import type { IncomingHeaders } from '../context/headers.js';
import type { ProblemDetails } from '../errors/problem-details.js';
import type { DrainGate } from '../health/lifecycle.js';
import type { HealthLink, HttpHealthOptions } from '../health/probes.js';
import type { BulkheadOptions } from '../policies/bulkhead.js';
import type { PolicyConfig } from '../registry/config.js';
import type { Records } from '../stores/records.js';
import type { EventStream } from '../telemetry/events.js';
import type { Policy } from '../types.js';
import type { Duration } from '../util/duration.js';
import type { IdempotencyOptions, IdempotencyRecord } from './idempotency.js';
import type { HttpRateLimitOptions } from './limits.js';
import type { OverloadOptions } from './overload.js';
import type { ErrorReport, ErrorReporter } from './report.js';

export type { IncomingHeaders };

/** A plain description of an incoming request. */
export interface InboundRequest {
  /** HTTP method, upper case. */
  method: string;
  /** URL path without the query string. */
  path: string;
  /**
   * Route pattern, only when known (e.g. `GET /users/:id`); keys per-route limits. Leave it out when
   * no pattern is known (never pass the raw path): the default key is then one engine-wide key.
   */
  routeKey?: string;
  /** Request headers. */
  headers: IncomingHeaders;
  /** Client address (untrusted unless the app configures a trusted proxy). */
  remoteAddress?: string;
  /**
   * Optional header writer. When given, the engine sets the degraded header through it the moment
   * the answer is marked degraded (`markDegraded`), as a method of this object (so a class may
   * implement it with `this`). It should do nothing once headers are sent.
   */
  setHeader?: (name: string, value: string) => void;
  /**
   * The one client-gone signal: aborts when the client goes away (the response closed before it
   * finished). The engine reads it only when it needs it (to give up a queue place, or to abort
   * the admission's signal once someone reads that), so an adapter may create it lazily in a
   * getter ({@link AdapterRequest} does). Never required.
   */
  readonly signal?: AbortSignal;
  /**
   * The adapter's own default for reporting an unknown (5xx) error, used when `http.onError` is
   * not configured (Koa emits it on the app's `error` event). Called as a method of this object.
   */
  reportError?(error: unknown, report: ErrorReport): void;
  /**
   * True when the adapter admits before routing but will call `protect` for every route (NestJS):
   * the app-wide rate limit is then taken in `protect`, where a route's `rateLimit` can replace it
   * or opt out of it (`@RateLimit()` / `@SkipRateLimit()`).
   */
  readonly deferRateLimit?: boolean;
}

export type { ProblemDetails, ProblemErrorEntry } from '../errors/problem-details.js';

/** A complete response the adapter must write as is (problem answers, rejections). */
export interface OutboundResponse {
  /** Status code. */
  status: number;
  /** Headers to set (Content-Type included when there is a body). */
  headers: Record<string, string>;
  /** JSON body to serialize: a problem, or a probe's JSON (`/livez`, `/readyz`, `/health`); undefined for no body. HEAD requests get none (the engine omits it). */
  body?: ProblemDetails | { readonly [key: string]: unknown };
}

/** What the engine decided about an incoming request. */
export interface Admission {
  /** The request context; run the rest of the request inside it with {@link HttpEngineLike.run}. */
  readonly context: RequestContext;
  /** Headers to set on every response to this request (correlation ID, RateLimit...), as flat pairs `[name, value, name, value, ...]`; write them with `writeAdmissionHeaders`. */
  readonly headers: readonly string[];
  /** When set, write it and do not call the handler. */
  readonly rejection?: OutboundResponse;
  /** Aborted when the client leaves (the request's `signal`), on the deadline, or on a route timeout. */
  readonly signal: AbortSignal;
  /** Frees what admission holds (bulkhead slot, deadline timer). Call once the response finished or closed; idempotent. */
  release(): void;
}

/** The policy parts a route may declare inline (as in `policies.<name>`): defined in the registry under the route's name. */
export type InlinePolicy = Pick<
  PolicyConfig,
  'fallback' | 'retry' | 'circuitBreaker' | 'attemptTimeout' | 'bulkhead'
>;

/**
 * Per-route protection: a named policy from the registry, an inline policy (its parts given here,
 * defined with `bulwark.define(name, parts)` so `names()` and `breaker(name)` reach it), and/or a
 * route timeout and rate limit.
 */
export interface RouteProtection extends InlinePolicy {
  /**
   * Registry name of the inline policy. Default: the route pattern of the first request it serves
   * (`GET /orders/:id`), defined then; give a name to have it defined (and visible) at start-up.
   */
  name?: string;
  /** Name of a registered policy, or a policy instance (not with inline parts). */
  policy?: string | Policy;
  /** Route timeout (ms or duration string); the handler's signal aborts when it fires. */
  timeout?: number | string;
  /**
   * Key of this request's answer for a stale-if-error fallback in the policy (see
   * `ExecuteOptions.cacheKey`). Without it no stale answer is stored or served. Include the user
   * or tenant unless the answer is the same for everyone.
   */
  cacheKey?: (req: InboundRequest | undefined) => string | undefined;
  /**
   * This route's own rate limit (its own buckets; keyed by client IP unless `key` says otherwise),
   * or `false` to leave the route out of the app-wide `http.rateLimit`. Both act fully when the
   * app-wide limit is taken in `protect` (a request admitted with `deferRateLimit`, or by a
   * `protect` used without app-level middleware); after app-level admission the app-wide token is
   * already taken, so `false` cannot give it back and a route limit applies on top of it.
   */
  rateLimit?: HttpRateLimitOptions | false;
  /**
   * The criticality of this route's requests for its policies (a bulkhead refuses sheddable ones
   * first and critical ones last). Admission-time decisions (the engine-wide limit) use
   * `http.criticality`, which runs before routing.
   */
  criticality?: Criticality;
}

/**
 * The engine surface adapters use, per request: `admit(req)` (an admission, or a promise of one
 * only when the request had to wait) → write `admission.headers` → if `admission.rejection`,
 * write it and stop → otherwise `run(admission, next)` → on error write
 * `toResponse(err, req, admission.context)` → when the response closes, abort `req.signal` if it
 * did not finish, then `release()`.
 */
export interface HttpEngineLike {
  /** Sets up the context and admits or rejects a request; a promise only when a step had to wait (a bulkhead queue, a rate-limit store). */
  admit(req: InboundRequest): Admission | Promise<Admission>;
  /** Runs `fn` inside the admission's request context (AsyncLocalStorage). */
  run<T>(admission: Admission, fn: () => T): T;
  /**
   * Validates route protection once, when the adapter wraps a handler (at start-up): an unknown
   * policy name or a bad option throws here, not at the first request.
   */
  route(protection: RouteProtection): ProtectedRoute;
  /** Runs a route handler under a route made by {@link HttpEngineLike.route}; rejects with a BulwarkError on timeout etc. The admission must come from this engine's `admit`. */
  protect<T>(
    admission: Admission,
    route: ProtectedRoute,
    handler: (signal: AbortSignal) => Promise<T> | T,
  ): Promise<T>;
  /** Turns any error into a problem response (status, headers, body); reports an unknown (5xx) error once through `http.onError`. */
  toResponse(error: unknown, req: InboundRequest, context?: RequestContext): OutboundResponse;
}

/** Route protection validated by {@link HttpEngineLike.route}; opaque to adapters. */
export interface ProtectedRoute {
  /** The registry name of the route's policy, if it has one (a named policy, or the inline one once defined). */
  readonly policyName: string | undefined;
}

/** Options of the HTTP engine (the `http` section of the Bulwark config). */
export interface HttpEngineOptions {
  /** Correlation ID headers. `header` is written on responses and sent downstream (default `x-request-id`); `accept` are read in order (default `['x-request-id', 'x-correlation-id']`); `generate` makes the ID of a request that brought none (default a random UUID; its IDs are validated too). */
  correlation?: { header?: string; accept?: string[]; generate?: () => string };
  /** Inbound deadline header carrying the remaining budget in ms (default `x-deadline-ms`), the largest accepted (default none), and a default when absent (default none). */
  deadline?: { header?: string; max?: Duration; default?: Duration };
  /**
   * Rate limit applied at admission, one bucket per client by default (`key: 'ip'`: the address
   * the adapter passes, honouring the framework's trust-proxy setting; IPv6 grouped by /56), with
   * RateLimit headers (`headers`: `'draft-8'` default, `'draft-6'`, `false`), `skip(req)`, and the
   * paths in `exempt` left out.
   */
  rateLimit?: false | HttpRateLimitOptions;
  /** Per-key bulkhead applied before the handler; `key` defaults to the route key. */
  bulkhead?: false | (BulkheadOptions & { key?: (req: InboundRequest) => string });
  /**
   * Overload protection for every route, before routing: an engine-wide concurrency limit (with a
   * small queue) and shedding while the event loop lags (or heap / RSS is high), answered with 503
   * `OVERLOADED` and Retry-After. The `exempt` paths are never refused. Default: off.
   */
  overload?: false | OverloadOptions;
  /** Paths (exact) exempt from the rate limit, the bulkhead and overload protection: health and readiness probes. Default `['/livez', '/readyz', '/health']`. */
  exempt?: string[];
  /**
   * The probe endpoints, answered by the engine before any limit: `live` (default `/livez`), `ready`
   * (`/readyz`), `report` (`/health`), each a path or `false`; `token` unlocks the detailed report
   * (`Authorization: Bearer`). `false` turns all three off. See docs/health.md.
   */
  health?: false | HttpHealthOptions;
  /** Hide messages and stacks of unknown errors. Default: true unless `NODE_ENV` is `development` or `test` (unset means production). */
  production?: boolean;
  /** Prefix of problem `type` URIs. Default `tag:bulwark,2026:problems/` (an absolute URI). */
  problemTypeBase?: string;
  /** Header marking a degraded answer. Default `bulwark-degraded`. */
  degradedHeader?: string;
  /** Header carrying the caller's criticality (`critical`, `default`, `sheddable`). Default `bulwark-criticality`. */
  criticalityHeader?: string;
  /**
   * Believe the criticality header. Default false: any client could mark its requests critical, so
   * the header is read only where every caller is trusted (behind a gateway that sets or strips it).
   */
  trustCriticalityHeader?: boolean;
  /**
   * The criticality of a request from the app's own rules, at admission (before routing), e.g.
   * `(req) => (req.path.startsWith('/reports') ? 'sheddable' : 'default')`. A trusted header wins;
   * anything but `critical` / `sheddable` (or a throw) is `default`. A route's `criticality` applies
   * to the policies of that route.
   */
  criticality?: (req: InboundRequest) => Criticality | undefined;
  /**
   * Who is calling, for per-caller fairness (`maxSharePerCaller` of a bulkhead): `'ip'` (the client
   * address, IPv6 by /56; the default) or a function (a tenant, an API key). Its result is bounded;
   * a throw falls back to the address. The request context's `caller`.
   */
  caller?: 'ip' | ((req: InboundRequest) => string);
  /** Add a W3C `traceresponse` header (this service's trace id and span id) to every response. Default false. */
  traceResponse?: boolean;
  /**
   * Called once for each unknown error the engine answers with a 5xx (not for Bulwark's own
   * outcomes such as a shed request or an open breaker), with the correlation ID the client was
   * given. Default: the adapter's default (Koa: `app.emit('error')`), else `console.error` with the
   * stack and correlation ID. Must not throw.
   */
  onError?: ErrorReporter;
  /** Defines a named policy from config (wired by `createBulwark` to `bulwark.define`); inline route policies need it. */
  definePolicy?: (name: string, config: InlinePolicy) => Policy;
  /** Resolves a registered policy by name (wired by `createBulwark`). */
  resolvePolicy?: (name: string) => Policy;
  /** Defaults of every idempotency-key middleware (`idempotency()` in the adapters); each route may override them. */
  idempotency?: IdempotencyOptions;
  /** The records idempotency keys use unless a route gives its own (wired by `createBulwark` to `bulwark.records`). */
  idempotencyRecords?: () => Records<IdempotencyRecord>;
  /** Event stream. */
  events?: EventStream;
  /** The shutdown switch (wired by `createBulwark` to `bulwark.lifecycle`): while `refusing`, requests get 503 `DRAINING`. */
  drainGate?: DrainGate;
  /** Where the probes and the degraded marking read from (wired by `createBulwark` to `bulwark.health`). */
  healthLink?: HealthLink;
}
