/**
 * The framework-neutral inbound engine: every decision about an incoming request (context,
 * admission, shedding, error answers) is made here; adapters only translate.
 */
import { type Criticality, getContext, type RequestContext, runWithContext } from '../context/context.js';
import { correlationFromHeaders } from '../context/correlation.js';
import { formatTraceparent } from '../context/trace.js';
import { BulwarkError, DeadlineExceededError, isBulwarkError } from '../errors/bulwark-error.js';
import { HTTP_ERROR_CODE, toProblem } from '../errors/problem.js';
import { probeResponse } from '../health/probes.js';
import type { RateLimitDecision } from '../policies/rate-limit.js';
import { timeout } from '../policies/timeout.js';
import type { Closeable, ExecuteOptions, Policy } from '../types.js';
import { type AdmissionShared, HttpAdmission } from './admission.js';
import { IdempotencyGuard, type IdempotencyOptions } from './idempotency.js';
import { defaultKey, degradedValue, headerValue, parseCriticality, parseDeadlineHeader } from './inbound.js';
import { bounded, HttpLimit, refusalHeaders } from './limits.js';
import { type ResolvedHttpOptions, resolveHttpOptions } from './options.js';
import type { OverloadStats } from './overload.js';
import { isReportable, Reporter } from './report.js';
import { Route, type RouteEnv } from './route.js';
import type {
  Admission,
  HttpEngineLike,
  HttpEngineOptions,
  InboundRequest,
  OutboundResponse,
  ProtectedRoute,
  RouteProtection,
} from './types.js';

/** Media type of every problem answer. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
/** Longest request path echoed as a problem's `instance`. */
const MAX_INSTANCE = 1024;

/**
 * The inbound HTTP engine adapters drive. Build it with {@link createHttpEngine}.
 *
 * Adapter protocol: see {@link HttpEngineLike}. At start-up `route(protection)` for each
 * protected handler; per request `admit(req)` → headers → rejection or `run` → `protect` →
 * `toResponse` on error → `release()` when the response closes.
 */
export class HttpEngine implements HttpEngineLike, Closeable {
  /** Header marking a degraded answer. */
  readonly degradedHeader: string;
  /** Correlation ID response header. */
  readonly correlationHeader: string;
  private readonly o: ResolvedHttpOptions;
  private readonly bhKeyOf: (req: InboundRequest) => string;
  /** Reports unknown (5xx) errors once each. */
  private readonly reporter: Reporter;
  /** What routes made by {@link HttpEngine.route} resolve against. */
  private readonly policies: RouteEnv;
  /** What every admission of this engine shares. */
  private readonly shared: AdmissionShared;

  constructor(options?: HttpEngineOptions) {
    this.o = resolveHttpOptions(options);
    this.degradedHeader = this.o.degradedHeader;
    this.correlationHeader = this.o.correlationHeader;
    this.bhKeyOf = this.o.bulkheadKey === undefined ? routeKeyOf : bounded(this.o.bulkheadKey, routeKeyOf);
    this.shared = {
      events: this.o.events,
      keyOf: routeKeyOf,
      degradedHeader: this.o.degradedHeader,
      callerOf: this.o.callerOf,
    };
    this.reporter = new Reporter(this.o.onError);
    const events = this.o.events;
    this.policies = {
      resolvePolicy: this.o.resolvePolicy,
      definePolicy: this.o.definePolicy,
      makeTimeout: (ms) => timeout({ timeout: ms, kind: 'total', name: 'route-timeout', events }),
      makeLimit: (options, name) => new HttpLimit(options, name, events, routeKeyOf),
    };
  }

  /**
   * Admits or rejects a request. Returns the admission itself when no step had to wait (the
   * bulkhead had a free slot or none is configured, no rate-limit store), saving a microtask per
   * request; a promise only when the request must wait (a bulkhead queue, a store). Throws only on
   * a bug (never for a request it rejects: that is `admission.rejection`).
   */
  admit(req: InboundRequest): Admission | Promise<Admission> {
    const o = this.o;
    const reqHeaders = req.headers;
    const correlationId = correlationFromHeaders(reqHeaders, o.correlationAccept) ?? o.correlationGenerate();

    let budget = parseDeadlineHeader(headerValue(reqHeaders, o.deadlineHeader)) ?? o.deadlineDefaultMs;
    let spent = false;
    let deadline: number | undefined;
    if (budget !== undefined) {
      if (budget <= 0) spent = true;
      else {
        // Without an explicit max, the default is the cap: a client may shorten the budget, never
        // stretch it past what the service would have given it anyway.
        const cap = o.deadlineMaxMs ?? o.deadlineDefaultMs;
        if (cap !== undefined && budget > cap) budget = cap;
        deadline = Date.now() + budget;
      }
    }

    // Flat name/value pairs: adapters write them with one setHeader each, no Object.entries.
    const headers = [o.correlationHeader, correlationId];
    const a = new HttpAdmission(req, this.shared, headers, correlationId, deadline, this.criticalityOf(req));

    if (o.traceResponse) {
      const t = a.context.trace;
      headers.push('traceresponse', formatTraceparent(t.traceId, t.spanId, t.flags));
    }

    // Probes first: before deadlines, limits and shedding (an orchestrator must always get an answer).
    const probe =
      o.probes === undefined ? undefined : probeResponse(req, o.probes, o.healthLink, o.production);
    if (probe !== undefined) {
      a.rejection = probe;
      return a;
    }
    // While the service is degraded, every answer says so, and the context says which features are off.
    const marks = o.healthLink?.features?.marks;
    if (marks !== undefined) a.markDegraded(marks.reasons, marks.featuresOff, marks.header);
    if (spent) {
      const err = new DeadlineExceededError({
        message: `The request arrived with its deadline already spent (${o.deadlineHeader}: ${budget}).`,
      });
      a.rejection = this.toResponse(err, req, a.context);
      return a;
    }
    // Health and readiness probes are never limited or shed: an orchestrator must reach them.
    if (o.exempt.has(req.path)) return a;
    if (o.drainGate.refusing) {
      a.rejection = this.draining(req, a.context);
      return a;
    }
    // Under pressure, refuse first: the cheapest answer, before a rate-limit store is even asked.
    const ov = o.overload;
    if (ov?.pressure !== undefined) {
      const refused = ov.refuseUnderPressure(a.context.criticality, correlationId);
      if (refused !== undefined) {
        a.rejection = this.toResponse(refused, req, a.context);
        return a;
      }
    }
    const rl = o.rateLimit;
    if (rl !== undefined && req.deferRateLimit !== true) {
      a.limited = true;
      const d = rl.take(req, a.context.correlationId);
      if (d !== undefined) {
        if (d instanceof Promise) return d.then((dd) => this.afterRateLimit(a, rl, dd));
        return this.afterRateLimit(a, rl, d);
      }
    }
    return this.acquire(a);
  }

  /** A trusted header's criticality, else the app's rule's, else `default`. */
  private criticalityOf(req: InboundRequest): Criticality {
    const o = this.o;
    const c = o.trustCriticalityHeader
      ? parseCriticality(headerValue(req.headers, o.criticalityHeader))
      : 'default';
    return c === 'default' && o.criticalityOf !== undefined ? o.criticalityOf(req) : c;
  }

  private afterRateLimit(
    a: HttpAdmission,
    rl: HttpLimit,
    d: RateLimitDecision,
  ): HttpAdmission | Promise<HttpAdmission> {
    if (!d.allowed) {
      a.rejection = this.toResponse(rl.refusal(d), a.req, a.context);
      return a;
    }
    rl.headers(a.headers, d);
    return this.acquire(a);
  }

  /** The engine-wide overload slot (`http.overload.maxConcurrent`), then the bulkhead's. */
  private acquire(a: HttpAdmission): HttpAdmission | Promise<HttpAdmission> {
    const ov = this.o.overload;
    if (ov?.limited) {
      const slot = ov.tryEnter(a.context);
      if (slot === undefined) {
        const ctx = a.context;
        return ov.acquire(queueSignal(a), ctx).then(
          (release) => {
            a.overloadSlot = release;
            return this.enterBulkhead(a);
          },
          (err: unknown) => this.reject(a, err),
        );
      }
      a.overloadSlot = slot;
    }
    return this.enterBulkhead(a);
  }

  private enterBulkhead(a: HttpAdmission): HttpAdmission | Promise<HttpAdmission> {
    const bh = this.o.bulkhead;
    if (bh === undefined) return a;
    const key = this.o.bulkheadKey === undefined ? a.key : this.bhKeyOf(a.req);
    // A free slot is taken synchronously, so admit returns the admission itself.
    const ctx = a.context;
    const caller = this.o.bulkheadFair ? ctx.caller : undefined;
    const slot = bh.tryAcquire(key, ctx.criticality, caller);
    if (slot !== undefined) {
      a.slot = slot;
      return a;
    }
    return bh.acquire(key, queueSignal(a), ctx.criticality, caller).then(
      (release) => {
        a.slot = release;
        return a;
      },
      (err: unknown) => this.reject(a, err),
    );
  }

  /** Refuses an admission that could not get a slot: frees what it holds at once (the overload slot). */
  private reject(a: HttpAdmission, err: unknown): HttpAdmission {
    a.freeSlot();
    a.rejection = this.toResponse(err, a.req, a.context);
    return a;
  }

  /** Runs `fn` inside the admission's request context. */
  run<T>(admission: Admission, fn: () => T): T {
    return runWithContext(admission.context, fn);
  }

  /**
   * Validates route protection once, when an adapter wraps a handler (start-up): an unknown policy
   * name (with a did-you-mean), a bad timeout or a bad option throws here, not at the first request.
   */
  route(protection: RouteProtection): ProtectedRoute {
    return new Route(protection, this.policies);
  }

  /**
   * Runs a route handler under its protection. Order, outermost first: route timeout → policy →
   * handler. The handler's signal aborts on client disconnect, deadline and route timeout; when
   * the route timeout fires, the request's own signal aborts too (the request is over).
   */
  protect<T>(
    admission: Admission,
    route: ProtectedRoute,
    handler: (signal: AbortSignal) => Promise<T> | T,
  ): Promise<T> {
    // The protocol: admissions come from this engine's admit, routes from its route().
    const a = admission as HttpAdmission;
    const r = route as Route;
    if (getContext() !== a.context) return runWithContext(a.context, () => this.protect(a, r, handler));
    if (r.criticality !== undefined) a.context.criticality = r.criticality;
    // The route's own limit; else the app-wide one when admission left it to protect (deferRateLimit,
    // or admitted here by protect itself); `false` opts the route out.
    const limit = r.limit === false ? undefined : (r.limit ?? (a.limited ? undefined : this.o.rateLimit));
    if (limit !== undefined && !this.o.exempt.has(a.req.path)) {
      a.limited = true;
      const d = limit.take(a.req, a.context.correlationId);
      if (d instanceof Promise) return d.then((dd) => this.limited(a, r, limit, dd, handler));
      if (d !== undefined) return this.limited(a, r, limit, d, handler);
    }
    return this.guarded(a, r, handler);
  }

  /** After a route-level rate-limit decision: refuse with a 429, or set its headers and go on. */
  private limited<T>(
    a: HttpAdmission,
    r: Route,
    limit: HttpLimit,
    d: RateLimitDecision,
    handler: (signal: AbortSignal) => Promise<T> | T,
  ): Promise<T> {
    if (!d.allowed) return Promise.reject(limit.refusal(d));
    const pairs: string[] = [];
    limit.headers(pairs, d);
    const req = a.req;
    if (req.setHeader !== undefined) {
      for (let i = 0; i < pairs.length; i += 2) {
        try {
          req.setHeader(pairs[i] as string, pairs[i + 1] as string);
        } catch {
          // Headers already sent: nothing to add them to.
        }
      }
    }
    return this.guarded(a, r, handler);
  }

  /** The route timeout and policy around the handler. */
  private guarded<T>(
    a: HttpAdmission,
    r: Route,
    handler: (signal: AbortSignal) => Promise<T> | T,
  ): Promise<T> {
    let policy: Policy | undefined;
    try {
      policy = r.policy(a.req);
    } catch (e) {
      return Promise.reject(e);
    }
    const signal = a.signal;
    const options: ExecuteOptions = {
      signal,
      key: a.key,
      deadline: a.context.deadline,
      cacheKey: r.cacheKey?.(a.req),
    };
    // The bulkhead slot is held until the handler itself settles, even when a route timeout has
    // already answered: a handler that ignores its signal must not let more work in.
    const held = holding(a, handler);
    const timeout = r.timeout;
    if (timeout === undefined) return policy === undefined ? held(signal) : policy.execute(held, options);
    const inner = policy;
    const call =
      inner === undefined ? held : (s: AbortSignal) => inner.execute(held, { ...options, signal: s });
    let routeSignal: AbortSignal | undefined;
    return timeout
      .execute((s) => {
        routeSignal = s;
        return call(s);
      }, options)
      .catch((err: unknown) => {
        // The route timeout (not the request's own abort) ended it: end the request's signal too,
        // so work started from getContext().signal stops as well.
        if (routeSignal?.aborted && routeSignal.reason === err && !signal.aborted && err instanceof Error)
          a.abortWith(err);
        throw err;
      });
  }

  /**
   * An idempotency-key guard (validated now, at start-up): `http.idempotency` overridden by `options`.
   * Adapters call its `begin(req)` per request and capture the response of a request it lets run.
   */
  idempotencyGuard(options?: IdempotencyOptions): IdempotencyGuard {
    const host = { toResponse: this.toResponse.bind(this), reporter: this.reporter, events: this.o.events };
    return new IdempotencyGuard(this.o.idempotency, options, { ...host, records: this.o.idempotencyRecords });
  }

  /** Turns any error into a problem answer for `req`. */
  toResponse(error: unknown, req: InboundRequest, context?: RequestContext): OutboundResponse {
    const o = this.o;
    const ctx = context ?? getContext();
    const correlationId =
      ctx?.correlationId ??
      correlationFromHeaders(req.headers, o.correlationAccept) ??
      o.correlationGenerate();
    const path = typeof req.path === 'string' ? req.path.slice(0, MAX_INSTANCE) : undefined;
    const body = toProblem(error, {
      production: o.production,
      instance: path,
      correlationId,
      typeBase: o.problemTypeBase,
    });
    const headers: Record<string, string> = {
      'Content-Type': PROBLEM_CONTENT_TYPE,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    };
    headers[o.correlationHeader] = correlationId;
    if (body.retryAfter !== undefined) headers['Retry-After'] = String(body.retryAfter);
    // A refusal by one of the engine's limits carries its RateLimit headers (t equal to Retry-After).
    const rl = isBulwarkError(error) ? refusalHeaders(error) : undefined;
    if (rl !== undefined)
      for (let i = 0; i < rl.length; i += 2) headers[rl[i] as string] = rl[i + 1] as string;
    if (body.code === HTTP_ERROR_CODE) copyErrorHeaders(error, headers);
    if (ctx !== undefined && ctx.degraded.length > 0) headers[o.degradedHeader] = degradedValue(ctx.degraded);
    if (isReportable(error, body.status)) {
      this.reporter.report(error, {
        correlationId,
        status: body.status,
        method: req.method,
        path: req.path,
        routeKey: req.routeKey,
        request: req,
      });
    }
    return { status: body.status, headers, body: req.method === 'HEAD' ? undefined : body };
  }

  /** The answer to a request that arrives while the process shuts down: 503 DRAINING, and the connection closes after it. */
  private draining(req: InboundRequest, context: RequestContext): OutboundResponse {
    const err = new BulwarkError('DRAINING', {
      message: 'This instance is shutting down and takes no new requests.',
      retryAfterMs: 1000,
    });
    const out = this.toResponse(err, req, context);
    out.headers.Connection = 'close';
    return out;
  }

  /** Occupancy and pressure of the engine-wide overload protection (undefined without `http.overload`). */
  overloadStats(): OverloadStats | undefined {
    return this.o.overload?.stats();
  }

  /** Closes the engine's bulkhead and overload limit (rejecting queued requests), its pressure sampler and rate limiter. */
  close(): void {
    this.o.overload?.close();
    this.o.bulkhead?.close();
    this.o.rateLimit?.close();
  }
}

/**
 * The signal a queued admission gives up its place on: the client leaving (req.signal, read only
 * now) or the deadline (the admission's signal, created only when there is a deadline: nobody can
 * read it before admit returns).
 */
function queueSignal(a: HttpAdmission): AbortSignal | undefined {
  const client = a.req.signal;
  const deadlineSignal = a.context.deadline === undefined ? undefined : a.signal;
  if (client === undefined) return deadlineSignal;
  return deadlineSignal === undefined ? client : AbortSignal.any([client, deadlineSignal]);
}

/** The default key: the route pattern when the adapter knows one, else one engine-wide key (never the raw path). */
function routeKeyOf(req: InboundRequest): string {
  return defaultKey(req.routeKey);
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;
const SAFE_VALUE = /^[\t\x20-\x7e]{0,1024}$/;
const OWN_HEADERS = new Set([
  'content-type',
  'content-length',
  'cache-control',
  'retry-after',
  'ratelimit',
  'ratelimit-policy',
]);

/**
 * An app's HTTP error may carry headers for its answer (http-errors' `headers`, e.g.
 * `WWW-Authenticate` on a 401, `Allow` on a 405): copy the well-formed ones (at most 20), never
 * overriding the problem's own headers.
 */
function copyErrorHeaders(error: unknown, into: Record<string, string>): void {
  const given =
    typeof error === 'object' && error !== null ? (error as { headers?: unknown }).headers : undefined;
  if (typeof given !== 'object' || given === null) return;
  let n = 0;
  for (const [name, value] of Object.entries(given)) {
    if (n === 20) return;
    if (typeof value !== 'string' || !TOKEN.test(name) || !SAFE_VALUE.test(value)) continue;
    const lower = name.toLowerCase();
    if (OWN_HEADERS.has(lower) || lower in into) continue;
    into[name] = value;
    n++;
  }
}

function holding<T>(
  a: HttpAdmission,
  handler: (signal: AbortSignal) => Promise<T> | T,
): (signal: AbortSignal) => Promise<T> {
  return (signal) => {
    a.hold();
    let p: Promise<T>;
    try {
      p = Promise.resolve(handler(signal));
    } catch (e) {
      a.unhold();
      return Promise.reject(e);
    }
    const done = () => a.unhold();
    p.then(done, done);
    return p;
  };
}

/**
 * Creates the inbound HTTP engine (validating `options` once; a TypeError names a bad key).
 * @example
 * const engine = createHttpEngine({ bulkhead: { maxConcurrent: 100 }, deadline: { max: '30s' } });
 * const admission = await engine.admit({ method: 'GET', path: '/x', headers: req.headers });
 */
export function createHttpEngine(options?: HttpEngineOptions): HttpEngine {
  return new HttpEngine(options);
}
