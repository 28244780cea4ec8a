/**
 * The contract between core's HTTP engine and the framework adapters. An adapter turns its
 * framework's request into an {@link InboundRequest}, calls the engine, and writes the plain
 * {@link OutboundResponse} / headers it gets back. It decides nothing itself.
 */
import type { RequestContext } from '../context/context.js';
import type { IncomingHeaders } from '../context/headers.js';
import type { ProblemDetails } from '../errors/problem-details.js';
import type { BulkheadOptions, RateLimitOptions } from '../policies/options.js';
import type { EventStream } from '../telemetry/events.js';
import type { Policy } from '../types.js';
import type { Duration } from '../util/duration.js';

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
   * Optional signal that aborts when the client goes away (e.g. on the request's `close` before
   * the response finished). While the request waits in the engine's bulkhead queue it is the only
   * way to learn of a disconnect (`Admission.abort` cannot be called before `admit` returns), so a
   * request whose client left gives up its queue place at once instead of holding it until its
   * deadline or queue timeout. Adapters should pass it when they can; it is never required.
   */
  signal?: AbortSignal;
  /**
   * True once the client has left. Read instead of `signal` on the fast path, so an adapter can
   * create its signal lazily (only when a request must queue).
   */
  readonly clientGone?: boolean;
}

export type { ProblemDetails, ProblemErrorEntry } from '../errors/problem-details.js';

/** A complete response the adapter must write as is (problem answers, rejections). */
export interface OutboundResponse {
  /** Status code. */
  status: number;
  /** Headers to set (Content-Type included when there is a body). */
  headers: Record<string, string>;
  /** JSON body to serialize; undefined for no body. HEAD requests get none (the engine omits it). */
  body?: ProblemDetails;
}

/** What the engine decided about an incoming request. */
export interface Admission {
  /** The request context; run the rest of the request inside it with {@link HttpEngineLike.run}. */
  readonly context: RequestContext;
  /** Headers to set on the response whatever happens (correlation ID, RateLimit...). */
  readonly headers: Readonly<Record<string, string>>;
  /** The same headers as flat name/value pairs (`[name, value, name, value, ...]`); cheaper to write. */
  readonly headerList?: readonly string[];
  /** When set, write it and do not call the handler. */
  readonly rejection?: OutboundResponse;
  /** Aborted on client disconnect ({@link Admission.abort}), on the deadline, or on a route timeout. */
  readonly signal: AbortSignal;
  /** Adapters call this when the client disconnected before the response finished. */
  abort(reason?: unknown): void;
  /** Frees what admission holds (bulkhead slot, deadline timer). Call once the response finished or closed; idempotent. */
  release(): void;
}

/** Per-route protection: a named policy from the registry, an inline policy, or a route timeout. */
export interface RouteProtection {
  /** Name of a registered policy, or a policy instance. */
  policy?: string | Policy;
  /** Route timeout (ms or duration string); the handler's signal aborts when it fires. */
  timeout?: number | string;
  /**
   * Key of this request's answer for a stale-if-error fallback in the policy (see
   * `ExecuteOptions.cacheKey`). Without it no stale answer is stored or served. Include the user
   * or tenant unless the answer is the same for everyone.
   */
  cacheKey?: (req: InboundRequest | undefined) => string | undefined;
}

/** The engine surface adapters use. */
export interface HttpEngineLike {
  /** Sets up the context and admits or rejects a request. */
  admit(req: InboundRequest): Promise<Admission>;
  /**
   * Same as `admit`, but returns the admission directly when nothing had to wait (no bulkhead,
   * bulkhead slot free or no bulkhead, no rate-limit store), saving a microtask; a promise only when
   * the request must queue: `const a = engine.admitFast(req); const admission = a instanceof Promise ? await a : a;`
   */
  admitFast?(req: InboundRequest): Admission | Promise<Admission>;
  /** Runs `fn` inside the admission's request context (AsyncLocalStorage). */
  run<T>(admission: Admission, fn: () => T): T;
  /** Runs a route handler under route protection; rejects with a BulwarkError on timeout etc. */
  protect<T>(
    admission: Admission,
    protection: RouteProtection,
    handler: (signal: AbortSignal) => Promise<T> | T,
  ): Promise<T>;
  /** Turns any error into a problem response (status, headers, body). */
  toResponse(error: unknown, req: InboundRequest, context?: RequestContext): OutboundResponse;
  /** Name of the header that marks a degraded answer. */
  readonly degradedHeader: string;
  /** Value of the degraded header for `reasons` (header-safe, joined by ', '). */
  degradedValue?(reasons: readonly string[]): string;
  /** Name of the correlation ID response header. */
  readonly correlationHeader: string;
}

/** Options of the HTTP engine (the `http` section of the Bulwark config). */
export interface HttpEngineOptions {
  /** Correlation ID headers. `header` is written on responses and sent downstream (default `x-request-id`); `accept` are read in order (default `['x-request-id', 'x-correlation-id']`). */
  correlation?: { header?: string; accept?: string[] };
  /** Inbound deadline header carrying the remaining budget in ms (default `x-deadline-ms`), the largest accepted (default none), and a default when absent (default none). */
  deadline?: { header?: string; max?: Duration; default?: Duration };
  /** Per-key rate limit applied before the handler; `key` defaults to the route key. */
  rateLimit?: false | (RateLimitOptions & { key?: (req: InboundRequest) => string });
  /** Per-key bulkhead applied before the handler; `key` defaults to the route key. */
  bulkhead?: false | (BulkheadOptions & { key?: (req: InboundRequest) => string });
  /** Hide messages and stacks of unknown errors. Default: true unless `NODE_ENV` is `development` or `test` (unset means production). */
  production?: boolean;
  /** Prefix of problem `type` URIs. Default `tag:bulwark,2026:problems/` (an absolute URI). */
  problemTypeBase?: string;
  /** Header marking a degraded answer. Default `bulwark-degraded`. */
  degradedHeader?: string;
  /** Header carrying the caller's criticality (`critical`, `default`, `sheddable`). Default `bulwark-criticality`. */
  criticalityHeader?: string;
  /** Add a W3C `traceresponse` header (this service's trace id and span id) to every response. Default false. */
  traceResponse?: boolean;
  /** Resolves a registered policy by name (wired by `createBulwark`). */
  resolvePolicy?: (name: string) => Policy;
  /** Event stream. */
  events?: EventStream;
}
