/**
 * The framework-neutral inbound engine: every decision about an incoming request (context,
 * admission, shedding, error answers) is made here; adapters only translate.
 */
import { getContext, type RequestContext, runWithContext } from '../context/context.js';
import { correlationFromHeaders, newCorrelationId } from '../context/correlation.js';
import { formatTraceparent } from '../context/trace.js';
import {
  BulwarkError,
  DeadlineExceededError,
  isBulwarkError,
  RateLimitedError,
} from '../errors/bulwark-error.js';
import { HTTP_ERROR_CODE, toProblem } from '../errors/problem.js';
import type { RateLimitState } from '../policies/options.js';
import type { RateLimitDecision } from '../policies/rate-limit.js';
import { type RateLimitHeaderFormat, rateLimitHeaderFormat } from '../policies/rate-limit.js';
import { type TimeoutPolicy, timeout } from '../policies/timeout.js';
import type { Closeable, ExecuteOptions, Policy } from '../types.js';
import { BoundedMap } from '../util/bounded-map.js';
import { parseDuration } from '../util/duration.js';
import { type AdmissionShared, HttpAdmission } from './admission.js';
import { defaultKey, degradedValue, headerValue, parseCriticality, parseDeadlineHeader } from './inbound.js';
import { type ResolvedHttpOptions, resolveHttpOptions } from './options.js';
import type {
  Admission,
  HttpEngineLike,
  HttpEngineOptions,
  InboundRequest,
  OutboundResponse,
  RouteProtection,
} from './types.js';

/** Media type of every problem answer. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
/** Longest request path echoed as a problem's `instance`. */
const MAX_INSTANCE = 1024;
/** Distinct route timeouts kept as policies. */
const MAX_TIMEOUT_POLICIES = 256;

/**
 * The inbound HTTP engine adapters drive. Build it with {@link createHttpEngine}.
 *
 * Adapter protocol, per request: `admitFast(req)` (or `admit`) → write `admission.headers` →
 * if `admission.rejection`, write it and stop → otherwise `run(admission, next)` → on error
 * write `toResponse(err, req, admission.context)` → on response close call `abort()` if it did
 * not finish, then `release()`.
 */
export class HttpEngine implements HttpEngineLike, Closeable {
  /** Header marking a degraded answer. */
  readonly degradedHeader: string;
  /** Correlation ID response header. */
  readonly correlationHeader: string;
  private readonly o: ResolvedHttpOptions;
  private readonly rlKeyOf: (req: InboundRequest) => string;
  private readonly bhKeyOf: (req: InboundRequest) => string;
  private readonly timeouts = new BoundedMap<number, TimeoutPolicy>(MAX_TIMEOUT_POLICIES);
  /** What every admission of this engine shares. */
  private readonly shared: AdmissionShared;
  /** RateLimit header values, formatted with the policy name validated once. */
  private readonly rlFormat: RateLimitHeaderFormat;

  constructor(options?: HttpEngineOptions) {
    this.o = resolveHttpOptions(options);
    this.degradedHeader = this.o.degradedHeader;
    this.correlationHeader = this.o.correlationHeader;
    this.rlKeyOf = this.o.rateLimitKey === undefined ? routeKeyOf : boundedKey(this.o.rateLimitKey);
    this.bhKeyOf = this.o.bulkheadKey === undefined ? routeKeyOf : boundedKey(this.o.bulkheadKey);
    this.shared = {
      events: this.o.events,
      keyOf: routeKeyOf,
      degradedHeader: this.o.degradedHeader,
      bulkhead: this.o.bulkhead,
    };
    this.rlFormat = rateLimitHeaderFormat(this.o.rateLimitName);
  }

  /** Admits or rejects a request; always a promise (see {@link HttpEngine.admitFast} for the fast path). */
  admit(req: InboundRequest): Promise<Admission> {
    try {
      const a = this.admitFast(req);
      return a instanceof Promise ? a : Promise.resolve(a);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Like {@link HttpEngine.admit}, but returns the admission itself when no step had to wait
   * (the bulkhead had a free slot or none is configured, no rate-limit store), saving a
   * microtask per request; it is a promise only when the request must queue for a slot. Adapters:
   * `const a = engine.admitFast(req); const admission = a instanceof Promise ? await a : a;`
   */
  admitFast(req: InboundRequest): Admission | Promise<Admission> {
    const o = this.o;
    const reqHeaders = req.headers;
    const correlationId = correlationFromHeaders(reqHeaders, o.correlationAccept) ?? newCorrelationId();

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
    const headerList = [o.correlationHeader, correlationId];
    const a = new HttpAdmission(
      req,
      this.shared,
      headerList,
      correlationId,
      deadline,
      parseCriticality(headerValue(reqHeaders, o.criticalityHeader)),
    );

    if (o.traceResponse) {
      const t = a.context.trace;
      headerList.push('traceresponse', formatTraceparent(t.traceId, t.spanId, t.flags));
    }

    if (spent) {
      const err = new DeadlineExceededError({
        message: `The request arrived with its deadline already spent (${o.deadlineHeader}: ${budget}).`,
      });
      a.rejection = this.toResponse(err, req, a.context);
      return a;
    }
    const rl = o.rateLimit;
    if (rl !== undefined) {
      const key = o.rateLimitKey === undefined ? a.key : this.rlKeyOf(req);
      const id = a.context.correlationId; // the request's context is not entered yet: pass its ID for the event
      const d = rl.takeSync(key, 1, id);
      if (d === undefined) return rl.take(key, 1, id).then((dd) => this.afterRateLimit(a, key, dd));
      return this.afterRateLimit(a, key, d);
    }
    return this.acquire(a);
  }

  private afterRateLimit(
    a: HttpAdmission,
    key: string,
    d: RateLimitDecision,
  ): HttpAdmission | Promise<HttpAdmission> {
    const f = this.rlFormat;
    a.headerList.push(
      'RateLimit-Policy',
      f.policy(d.limit, d.windowMs),
      'RateLimit',
      f.value(d.remaining, d.resetMs),
    );
    if (!d.allowed) {
      const err = new RateLimitedError({
        message: `Rate limit of ${d.limit} per ${d.windowMs} ms exceeded for key "${key}".`,
        policy: this.o.rateLimit?.name,
        retryAfterMs: d.retryAfterMs ?? d.resetMs,
        rateLimit: { limit: d.limit, remaining: d.remaining, resetMs: d.resetMs, windowMs: d.windowMs },
      });
      a.rejection = this.toResponse(err, a.req, a.context);
      return a;
    }
    return this.acquire(a);
  }

  private acquire(a: HttpAdmission): HttpAdmission | Promise<HttpAdmission> {
    const bh = this.o.bulkhead;
    if (bh === undefined) return a;
    const key = this.o.bulkheadKey === undefined ? a.key : this.bhKeyOf(a.req);
    const req = a.req;
    // clientGone spares a lazily created signal on the fast path; plain descriptions use the signal.
    if ((req.clientGone ?? req.signal?.aborted) !== true) {
      // Fast path: a free slot is taken synchronously (no release closure), so admitFast returns
      // the admission itself; release() hands the compartment back.
      const c = bh.tryEnter(key);
      if (c !== undefined) {
        a.compartment = c;
        a.enteredAt = Date.now();
        return a;
      }
    }
    // It must queue (or be rejected). The queue place is given up when the client leaves
    // (req.signal) or the deadline fires (the admission's signal, created only when there is a
    // deadline: nobody can call abort() before admit returns).
    const client = req.signal;
    const deadlineSignal = a.context.deadline === undefined ? undefined : a.signal;
    const signal =
      client === undefined
        ? deadlineSignal
        : deadlineSignal === undefined
          ? client
          : AbortSignal.any([client, deadlineSignal]);
    return bh.acquire(key, signal).then(
      (release) => {
        a.slot = release;
        return a;
      },
      (err: unknown) => {
        a.rejection = this.toResponse(err, a.req, a.context);
        return a;
      },
    );
  }

  /** Runs `fn` inside the admission's request context. */
  run<T>(admission: Admission, fn: () => T): T {
    return runWithContext(admission.context, fn);
  }

  /**
   * Runs a route handler under its protection. Order, outermost first: route timeout → policy →
   * handler. The handler's signal aborts on client disconnect, deadline and route timeout; when
   * the route timeout fires, the request's own signal aborts too (the request is over).
   */
  protect<T>(
    admission: Admission,
    protection: RouteProtection,
    handler: (signal: AbortSignal) => Promise<T> | T,
  ): Promise<T> {
    if (getContext() !== admission.context) {
      return runWithContext(admission.context, () => this.protect(admission, protection, handler));
    }
    let policy: Policy | undefined;
    let route: TimeoutPolicy | undefined;
    try {
      policy = this.policyOf(protection?.policy);
      route = protection?.timeout === undefined ? undefined : this.timeoutOf(protection.timeout);
    } catch (e) {
      return Promise.reject(e);
    }
    const signal = admission.signal;
    const options: ExecuteOptions = {
      signal,
      key: admission instanceof HttpAdmission ? admission.key : undefined,
      deadline: admission.context.deadline,
      cacheKey: protection.cacheKey?.(admission instanceof HttpAdmission ? admission.req : undefined),
    };
    // The bulkhead slot is held until the handler itself settles, even when a route timeout has
    // already answered: a handler that ignores its signal must not let more work in.
    if (admission instanceof HttpAdmission) handler = holding(admission, handler);
    const inner = policy;
    const call =
      inner === undefined ? handler : (s: AbortSignal) => inner.execute(handler, { ...options, signal: s });
    if (route === undefined) {
      if (inner === undefined) return invoke(handler, signal);
      return inner.execute(handler, options);
    }
    let routeSignal: AbortSignal | undefined;
    return route
      .execute((s) => {
        routeSignal = s;
        return call(s);
      }, options)
      .catch((err: unknown) => {
        // The route timeout (not the request's own abort) ended it: end the request's signal too,
        // so work started from getContext().signal stops as well.
        if (routeSignal?.aborted && routeSignal.reason === err && !signal.aborted)
          abortAdmission(admission, err);
        throw err;
      });
  }

  /** Turns any error into a problem answer for `req`. */
  toResponse(error: unknown, req: InboundRequest, context?: RequestContext): OutboundResponse {
    const o = this.o;
    const ctx = context ?? getContext();
    const correlationId =
      ctx?.correlationId ?? correlationFromHeaders(req.headers, o.correlationAccept) ?? newCorrelationId();
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
    const state = isBulwarkError(error) ? (error as { rateLimit?: RateLimitState }).rateLimit : undefined;
    if (state !== undefined) {
      headers['RateLimit-Policy'] = this.rlFormat.policy(state.limit, state.windowMs);
      headers.RateLimit = this.rlFormat.value(state.remaining, state.resetMs);
    }
    if (body.code === HTTP_ERROR_CODE) copyErrorHeaders(error, headers);
    if (ctx !== undefined && ctx.degraded.length > 0) headers[o.degradedHeader] = degradedValue(ctx.degraded);
    return { status: body.status, headers, body: req.method === 'HEAD' ? undefined : body };
  }

  /** The degraded header's value for `reasons` (header-safe, joined by ', '). */
  degradedValue(reasons: readonly string[]): string {
    return degradedValue(reasons);
  }

  /** Closes the engine's bulkhead (rejecting queued requests) and rate limiter. */
  close(): void {
    this.o.bulkhead?.close();
    this.o.rateLimit?.close();
  }

  private policyOf(p: RouteProtection['policy']): Policy | undefined {
    if (p === undefined) return undefined;
    if (typeof p !== 'string') {
      if (typeof p === 'object' && p !== null && typeof p.execute === 'function') return p;
      throw new TypeError(
        `Expected \`protection.policy\` to be a policy name or a Policy; got ${String(p)}.`,
      );
    }
    const resolve = this.o.resolvePolicy;
    if (resolve === undefined) {
      throw new BulwarkError('UNKNOWN_POLICY', {
        message: `Cannot resolve policy "${p}": this engine has no registry (pass resolvePolicy, or use createBulwark).`,
        policy: p,
      });
    }
    let found: Policy | undefined;
    try {
      found = resolve(p);
    } catch (e) {
      if (isBulwarkError(e)) throw e;
      throw new BulwarkError('UNKNOWN_POLICY', { message: `No policy named "${p}".`, policy: p, cause: e });
    }
    if (found === undefined || found === null || typeof found.execute !== 'function') {
      throw new BulwarkError('UNKNOWN_POLICY', { message: `No policy named "${p}".`, policy: p });
    }
    return found;
  }

  private timeoutOf(value: number | string): TimeoutPolicy {
    const ms = parseDuration(value);
    if (ms === undefined || ms <= 0) {
      throw new TypeError(
        `Expected \`protection.timeout\` to be a positive number of ms or a duration like '2s'; got ${JSON.stringify(value)}.`,
      );
    }
    let t = this.timeouts.get(ms);
    if (t === undefined) {
      t = timeout({ timeout: ms, kind: 'total', name: 'route-timeout', events: this.o.events });
      this.timeouts.set(ms, t);
    }
    return t;
  }
}

/** The default key: the route pattern when the adapter knows one, else one engine-wide key (never the raw path). */
function routeKeyOf(req: InboundRequest): string {
  return defaultKey(req.routeKey);
}

/**
 * Wraps a user key function: its result is bounded, and a non-string result or a throw falls back to
 * the route key, so a buggy key function still limits (by route) instead of failing every request.
 */
function boundedKey(fn: (req: InboundRequest) => string): (req: InboundRequest) => string {
  return (req) => {
    let k: unknown;
    try {
      k = fn(req);
    } catch {
      return routeKeyOf(req);
    }
    if (typeof k !== 'string') return routeKeyOf(req);
    return defaultKey(k);
  };
}

function abortAdmission(admission: Admission, err: unknown): void {
  if (admission instanceof HttpAdmission && err instanceof Error) admission.abortWith(err);
  else admission.abort(err);
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

function invoke<T>(handler: (signal: AbortSignal) => Promise<T> | T, signal: AbortSignal): Promise<T> {
  try {
    return Promise.resolve(handler(signal));
  } catch (e) {
    return Promise.reject(e);
  }
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
