/**
 * The resilient client: `fetch` run under a named policy. Failure responses (5xx, 408, 429 by
 * default) throw inside the pipeline so retry and breaker see them; Retry-After is honoured; the
 * request's deadline aborts the call and travels downstream minus a margin; a spent budget fails
 * before anything is sent; POST/PATCH are retried only with an Idempotency-Key or an explicit
 * opt-in; a downstream problem+json answer becomes a {@link DownstreamError} naming the hop. The
 * response body stays tied to the caller's signal and the deadline until it is read. The
 * client's own refusals (`CIRCUIT_OPEN`, `BULKHEAD_FULL`, `TIMEOUT`, `DEADLINE_EXCEEDED`) reach
 * the caller as themselves, marked permanent so an outer retry does not repeat them.
 */
import { getContext, type RequestContext } from '../context/context.js';
import { acceptCorrelationId } from '../context/correlation.js';
import { isBulwarkError, isRetryExhaustedError } from '../errors/bulwark-error.js';
import { markPermanent, parseRetryAfter } from '../errors/classify.js';
import { nameHop } from '../errors/problem.js';
import {
  type PropagationOptions,
  planOutgoing,
  type ResolvedPropagation,
  resolvePropagation,
  spentError,
} from '../propagation/headers.js';
import { attachDeadLetterId, deadLetterIdOf } from '../recovery/dead-letter-errors.js';
import type { ExecuteOptions, Policy } from '../types.js';
import { DEFAULT_MAX_ERROR_BODY_BYTES, discardBody, readBounded } from './body.js';
import { callSignal, tieBody } from './call-signal.js';
import { DownstreamError, isDownstreamError } from './downstream-error.js';
import { parseProblem } from './problem-parse.js';

/** Methods RFC 9110 defines as idempotent; the others are retried only with a key or an opt-in. */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/** Longest Retry-After taken from a downstream (1 hour). */
const MAX_RETRY_AFTER_MS = 3_600_000;

/** `init` of the resilient fetch: standard `RequestInit` plus Bulwark's per-call choices. */
export interface BulwarkFetchInit extends RequestInit {
  /**
   * Whether the call is safe to repeat. Default: true for GET, HEAD, OPTIONS, TRACE, PUT and
   * DELETE, and for any method carrying an `Idempotency-Key` header; false otherwise.
   */
  idempotent?: boolean;
  /**
   * Key of the policy's keyed state (breaker, bulkhead, rate limit). Default: the policy name,
   * the key `bulwark.run(name, fn)` uses, so `run` and `fetch` of one policy share one breaker.
   */
  key?: string;
  /**
   * Relay this downstream's own problem members (its suggestion, title, and the services it
   * blames) to this service's callers. Default false: a downstream is a trust boundary, so its
   * failure is relayed only as its code, status and correlation ID. Set it for services you run.
   */
  trustDownstreamProblems?: boolean;
  /**
   * What a policy with `deadLetter` stores when this call still fails (JSON, e.g. the URL and
   * body), for the queue's handler to send it again. Never sent.
   */
  payload?: unknown;
}

/** Options of a resilient fetch (see {@link createResilientFetch}). */
export interface ResilientFetchOptions extends PropagationOptions {
  /** Which responses count as failures for retry and breaker. Default: status ≥ 500, 408 or 429. */
  failureResponse?: (response: Response) => boolean;
  /** @deprecated Use `failureResponse` (the error predicates of the policies are `handles`; this one judges responses). */
  isFailure?: (response: Response) => boolean;
  /** Cap on the failure body read to build the error (default 64 KiB); a larger body gives a generic error. */
  maxErrorBodyBytes?: number;
  /** The fetch to call (default the global `fetch`). */
  fetch?: typeof globalThis.fetch;
  /** Default of {@link BulwarkFetchInit.trustDownstreamProblems} for every call of this client. Default false. */
  trustDownstreamProblems?: boolean;
}

/** What the resilient client needs from the registry: a named policy and (optionally) the HTTP config's header names. */
export interface ResilientFetchHost {
  /** The named policy; throws for an unknown name. */
  policy(name: string): Policy;
  /** The registry config; its `http.correlation.header` and `http.deadline.header` name the headers sent. */
  readonly config?: { readonly http?: { correlation?: { header?: string }; deadline?: { header?: string } } };
  /** Whether the named policy trusts its downstream's problem documents (policy config); undefined leaves it to the client. */
  trustsDownstream?(name: string): boolean | undefined;
}

/** A resilient fetch bound to a registry: `(name, input, init?) => Promise<Response>`. */
export type ResilientFetch = (
  name: string,
  input: string | URL | Request,
  init?: BulwarkFetchInit,
) => Promise<Response>;

/** The default failure test: 5xx, 408 (Request Timeout) and 429 (Too Many Requests). */
export function isFailureResponse(response: Response): boolean {
  const s = response.status;
  return s >= 500 || s === 408 || s === 429;
}

interface Resolved {
  propagation: ResolvedPropagation;
  isFailure: (response: Response) => boolean;
  maxBody: number;
  fetch: typeof globalThis.fetch | undefined;
  trust: boolean | undefined;
}

function resolveClient(host: ResilientFetchHost, options: ResilientFetchOptions | undefined): Resolved {
  const o = { ...options };
  const http = host.config?.http;
  const propagation = resolvePropagation({
    ...o,
    correlationHeader: o.correlationHeader ?? http?.correlation?.header,
    deadlineHeader: o.deadlineHeader ?? http?.deadline?.header,
  });
  if (o.failureResponse !== undefined && o.isFailure !== undefined) {
    throw new TypeError(
      'Expected either `failureResponse` or its deprecated alias `isFailure`, not both; remove `isFailure`.',
    );
  }
  const failure = o.failureResponse ?? o.isFailure;
  const key = o.failureResponse === undefined ? 'isFailure' : 'failureResponse';
  if (failure !== undefined && typeof failure !== 'function') {
    throw new TypeError(
      `Expected \`${key}\` to be a function (response) => boolean; got ${String(failure)}.`,
    );
  }
  const maxBody = o.maxErrorBodyBytes ?? DEFAULT_MAX_ERROR_BODY_BYTES;
  if (!Number.isInteger(maxBody) || maxBody < 0) {
    throw new TypeError(
      `Expected \`maxErrorBodyBytes\` to be a non-negative integer; got ${String(maxBody)}.`,
    );
  }
  if (o.fetch !== undefined && typeof o.fetch !== 'function')
    throw new TypeError('Expected `fetch` to be a function.');
  if (o.trustDownstreamProblems !== undefined && typeof o.trustDownstreamProblems !== 'boolean') {
    throw new TypeError(
      `Expected \`trustDownstreamProblems\` to be a boolean; got ${String(o.trustDownstreamProblems)}.`,
    );
  }
  return {
    propagation,
    isFailure: failure ?? isFailureResponse,
    maxBody,
    fetch: o.fetch,
    trust: o.trustDownstreamProblems,
  };
}

/**
 * Creates a resilient fetch bound to `host` (usually a Bulwark registry) with the given options.
 * @example
 * const call = createResilientFetch(bulwark, { failureResponse: (r) => r.status >= 500, margin: '50ms' });
 * const res = await call('payments-api', 'http://payments/charges', { method: 'POST', body, headers: { 'idempotency-key': key } });
 */
export function createResilientFetch(
  host: ResilientFetchHost,
  options?: ResilientFetchOptions,
): ResilientFetch {
  const r = resolveClient(host, options);
  return (name, input, init) => run(host, r, name, input, init);
}

/**
 * Runs one `fetch` under the named policy of `host` (what `bulwark.fetch(name, input, init)` does).
 * Resolves with any non-failure response (4xx other than 408/429 included); rejects with a
 * {@link DownstreamError} for failure responses and unreachable services, and with the policy's
 * own errors (`CIRCUIT_OPEN`, `TIMEOUT`, `DEADLINE_EXCEEDED`...) otherwise.
 * @example
 * const res = await resilientFetch(bulwark, 'payments-api', 'http://payments/charges/42');
 */
export function resilientFetch(
  host: ResilientFetchHost,
  name: string,
  input: string | URL | Request,
  init?: BulwarkFetchInit,
  options?: ResilientFetchOptions,
): Promise<Response> {
  try {
    return run(host, resolveClient(host, options), name, input, init);
  } catch (e) {
    return Promise.reject(e);
  }
}

async function run(
  host: ResilientFetchHost,
  r: Resolved,
  name: string,
  input: string | URL | Request,
  init: BulwarkFetchInit | undefined,
): Promise<Response> {
  const policy = host.policy(name);
  const { idempotent: optIn, key, trustDownstreamProblems, payload, ...requestInit } = init ?? {};
  const request = input instanceof Request ? input : undefined;
  const method = (requestInit.method ?? request?.method ?? 'GET').toUpperCase();
  const baseHeaders = new Headers(request?.headers);
  for (const [k, v] of new Headers(requestInit.headers)) baseHeaders.set(k, v);
  // A stream body cannot be sent twice.
  const streamed = requestInit.body instanceof ReadableStream || (request?.body ?? null) !== null;
  const idempotent =
    !streamed && (optIn ?? (IDEMPOTENT_METHODS.has(method) || baseHeaders.has('idempotency-key')));
  const trusted = trustDownstreamProblems ?? host.trustsDownstream?.(name) ?? r.trust ?? false;

  const ctx = getContext();
  if (ctx !== undefined) {
    const plan = planOutgoing(ctx, r.propagation);
    if (plan.spent) throw markPermanent(spentError(r.propagation, plan.budgetMs, name));
  }
  const outer = combine(requestInit.signal ?? undefined, ctx?.signal);
  const options: ExecuteOptions = { idempotent, key: key ?? name };
  if (payload !== undefined) options.payload = payload;
  if (outer) options.signal = outer;
  if (ctx?.deadline !== undefined) options.deadline = ctx.deadline;
  // Lives past the pipeline: the body is read after it returns.
  const call = callSignal(outer, ctx?.deadline, name);
  const a: Attempt = { r, name, input, init: requestInit, baseHeaders, ctx, call: call?.signal, trusted };

  let attempts = 0;
  let response: Response;
  try {
    response = await policy.execute(async (signal, attempt) => {
      attempts = attempt ?? attempts + 1;
      return attempt1(a, signal);
    }, options);
  } catch (error) {
    call?.release?.();
    const final = finalError(error, name, attempts);
    // The error the caller gets keeps the id of the dead letter its policy made (if any).
    const deadLetterId = deadLetterIdOf(error);
    if (deadLetterId !== undefined && final !== error) attachDeadLetterId(final, deadLetterId);
    throw final;
  }
  // Without a deadline the caller's signal already reaches the body (it is part of every
  // attempt's signal); with one, the timer is disarmed once the body is done.
  return call?.release === undefined ? response : tieBody(response, call.release);
}

/** What every attempt of one call shares. */
interface Attempt {
  r: Resolved;
  name: string;
  input: string | URL | Request;
  init: RequestInit;
  baseHeaders: Headers;
  ctx: RequestContext | undefined;
  /** The call's signal (caller and deadline), alive until the body is read. */
  call: AbortSignal | undefined;
  trusted: boolean;
}

async function attempt1(a: Attempt, signal: AbortSignal): Promise<Response> {
  const { r, name, ctx } = a;
  const headers = new Headers(a.baseHeaders);
  if (ctx !== undefined) {
    // Planned per attempt, so a retry sends what is left of the budget now.
    const plan = planOutgoing(ctx, r.propagation);
    if (plan.spent) throw spentError(r.propagation, plan.budgetMs, name);
    for (const h in plan.headers) if (!headers.has(h)) headers.set(h, plan.headers[h] as string);
  }
  const attemptSignal = a.call === undefined ? signal : AbortSignal.any([signal, a.call]);
  try {
    const doFetch = r.fetch ?? globalThis.fetch;
    const response = await doFetch(a.input, { ...a.init, headers, signal: attemptSignal });
    if (!r.isFailure(response)) return response;
    throw await toDownstreamError(r, name, response, a.trusted);
  } catch (error) {
    // fetch rejects with the abort reason; make sure it is ours, not a bare AbortError.
    if (attemptSignal.aborted && !signal.aborted && isBulwarkError(attemptSignal.reason))
      throw attemptSignal.reason;
    throw error;
  }
}

async function toDownstreamError(
  r: Resolved,
  name: string,
  response: Response,
  trusted: boolean,
): Promise<DownstreamError> {
  const type = (response.headers.get('content-type') ?? '').toLowerCase();
  const json = type.includes('application/problem+json') || type.includes('application/json');
  let problem: ReturnType<typeof parseProblem>;
  let tooLarge = false;
  if (json) {
    const body = await readBounded(response, r.maxBody);
    tooLarge = body.tooLarge;
    problem = parseProblem(body.text);
  } else discardBody(response);
  const retryHeader = parseRetryAfter(response.headers.get('retry-after') ?? undefined);
  const retryAfterMs =
    retryHeader ?? (problem?.retryAfter === undefined ? undefined : problem.retryAfter * 1000);
  const correlationId =
    problem?.correlationId ?? acceptCorrelationId(response.headers.get(r.propagation.correlationHeader));
  return new DownstreamError({
    hop: name,
    trusted,
    downstreamStatus: response.status,
    ...(problem ? { problem } : {}),
    ...(correlationId ? { correlationId } : {}),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs: Math.min(retryAfterMs, MAX_RETRY_AFTER_MS) }),
    ...(tooLarge
      ? {
          message: `Downstream service '${name}' answered ${response.status} with a body over ${r.maxBody} bytes.`,
        }
      : {}),
  });
}

/** Refusals of this client's own policies: they reach the caller as themselves. */
const OWN_REFUSALS: ReadonlySet<string> = new Set([
  'TIMEOUT',
  'CIRCUIT_OPEN',
  'BULKHEAD_FULL',
  'DEADLINE_EXCEEDED',
]);

/**
 * The error the caller sees. Retries that ran out give their last error. A downstream's failure
 * is a DownstreamError naming the hop. This client's own refusals (its timeout, breaker,
 * bulkhead or the spent deadline) pass through as themselves, marked permanent: the policy
 * already decided, so an outer retry must not wait out a reset timeout and try again.
 */
function finalError(error: unknown, name: string, attempts: number): unknown {
  let e = error;
  if (isRetryExhaustedError(e) && e.cause !== undefined) e = e.cause;
  if (isDownstreamError(e)) {
    if (attempts > 1) Object.defineProperty(e, 'attempts', { value: attempts, enumerable: true });
    return e;
  }
  // The spent deadline is not the hop's fault: it is not named after it.
  if (isBulwarkError(e) && OWN_REFUSALS.has(e.code))
    return markPermanent(e.code === 'DEADLINE_EXCEEDED' ? e : nameHop(e, name));
  if (isBulwarkError(e) || isAbortLike(e)) return error;
  // fetch's network failures: TypeError('fetch failed') with the socket error as cause.
  if (e instanceof TypeError && e.cause !== undefined) {
    return new DownstreamError({ hop: name, cause: e, attempts: Math.max(1, attempts) });
  }
  return error;
}

function isAbortLike(e: unknown): boolean {
  return e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError');
}

function combine(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return AbortSignal.any([a, b]);
}
