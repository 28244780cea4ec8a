/**
 * RFC 9457 problem details from any thrown value, decided once here so every adapter agrees.
 * Bulwark errors keep their code, status and suggestion under their own `type`; errors that
 * carry an HTTP status (NestJS `HttpException`, `http-errors` as thrown by Koa's `ctx.throw` and
 * body parsers, Express's router `URIError`, any error with a 4xx `status`/`statusCode`) keep that
 * status under the code `HTTP_ERROR` and type `about:blank`; everything else is a 500
 * `INTERNAL_ERROR` that leaks nothing in production.
 */
import { STATUS_CODES } from 'node:http';
import { codeInfo, isKnownCode } from './app-codes.js';
import { isBulwarkError } from './bulwark-error.js';
import { getRetryAfterMs } from './classify.js';
import { ERROR_CODES } from './codes.js';
import { isHttpStatusError } from './http-status-error.js';
import {
  ABOUT_BLANK,
  type ProblemDetails,
  type ProblemErrorEntry,
  problemInstance,
  problemType,
} from './problem-details.js';

export {
  ABOUT_BLANK,
  DEFAULT_PROBLEM_TYPE_BASE,
  isAbsoluteUri,
  MAX_INSTANCE_LENGTH,
  type ProblemDetails,
  type ProblemErrorEntry,
  problemInstance,
  problemSlug,
  problemType,
} from './problem-details.js';

const HOP = Symbol.for('bulwark.hop');

/**
 * Records that `error` (a client's own refusal: its timeout, open breaker, full bulkhead) was
 * raised while calling the service `hop`, so its problem names that service as `service`, as a
 * `DOWNSTREAM_ERROR` would. Returns `error`.
 */
export function nameHop<E extends object>(error: E, hop: string): E {
  Object.defineProperty(error, HOP, { value: hop, enumerable: false, configurable: true });
  return error;
}

/** The service named by {@link nameHop}, or undefined. */
export function hopOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const hop = (error as Record<symbol, unknown>)[HOP];
  return typeof hop === 'string' ? hop : undefined;
}

/** Code of problems built from an application's own HTTP errors (a status it chose, not an engine failure). */
export const HTTP_ERROR_CODE = 'HTTP_ERROR';

/** Suggestions for {@link HTTP_ERROR_CODE} problems, by status class. */
export const HTTP_ERROR_SUGGESTIONS = {
  client:
    'The request was refused for the reason given in the detail. Fix the request before sending it again.',
  server:
    'The service reported a failure. Retry later; if it persists, report the correlation ID to the service owners.',
} as const;

/** Longest `detail` taken from an application error's message (Bulwark's own messages are not cut). */
const MAX_APP_DETAIL = 1024;
/** Most validation messages copied from a NestJS `BadRequestException` response. */
const MAX_APP_ERRORS = 50;

/** How a problem is rendered. */
export interface ProblemOptions {
  /** Hide the message and stack of unknown errors (and of unexposed HTTP errors). */
  production: boolean;
  /** The request path (or any URI reference); percent-encoded and cut to 1,024 characters as `instance`. */
  instance?: string;
  /** Correlation ID of the request. */
  correlationId?: string;
  /** Prefix of Bulwark's `type` URIs (an absolute URI). Default {@link DEFAULT_PROBLEM_TYPE_BASE}. */
  typeBase?: string;
}

/** An HTTP status an error carries as this service's answer, with whether its message may be shown. */
interface AppHttpError {
  status: number;
  expose: boolean;
  response: unknown;
}

function errorStatus(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 400 && v <= 599 ? v : undefined;
}

/**
 * Errors that say which HTTP answer they are: a `getStatus()` method (NestJS, message shown
 * for 4xx); a `status`/`statusCode` next to a boolean `expose` (http-errors: the message shown
 * only when `expose`); any other `status`/`statusCode` below 500 (Express's router `URIError`,
 * a library's own client error: the status kept, the message hidden). A bare 5xx `status` (an
 * HTTP client's failed downstream call, say) is not this service's answer and stays a 500.
 */
function appHttpError(error: unknown): AppHttpError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as Record<string, unknown>;
  if (typeof e.getStatus === 'function') {
    let status: number | undefined;
    let response: unknown;
    try {
      status = errorStatus((e.getStatus as () => unknown).call(error));
      response =
        typeof e.getResponse === 'function' ? (e.getResponse as () => unknown).call(error) : undefined;
    } catch {
      return undefined;
    }
    return status === undefined ? undefined : { status, expose: status < 500, response };
  }
  const status = errorStatus(e.status) ?? errorStatus(e.statusCode);
  if (status === undefined) return undefined;
  if (typeof e.expose === 'boolean') return { status, expose: e.expose, response: undefined };
  return status < 500 ? { status, expose: false, response: undefined } : undefined;
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  try {
    return String(error);
  } catch {
    return 'Unprintable error';
  }
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

// class-validator's messages start with the (camelCase) property path: "address.city must be a string".
const LEADING_PATH = /^([a-z_$][\w$]*(?:\.[\w$]+)*) (?:must|should|is|are|has|have|contains|does)\b/;

/** A JSON Pointer (RFC 6901) as a URI fragment for a dotted property path. */
function pointerOf(path: string): string {
  const tokens = path.split('.').map((t) => encodeURIComponent(t.replace(/~/g, '~0').replace(/\//g, '~1')));
  return `#/${tokens.join('/')}`;
}

function validationEntry(item: unknown): ProblemErrorEntry | undefined {
  if (typeof item === 'string') {
    const m = LEADING_PATH.exec(item);
    return { detail: clip(item, MAX_APP_DETAIL), pointer: m ? pointerOf(m[1] as string) : '#' };
  }
  if (typeof item !== 'object' || item === null) return undefined;
  const r = item as Record<string, unknown>;
  const detail =
    typeof r.detail === 'string' ? r.detail : typeof r.message === 'string' ? r.message : undefined;
  if (detail === undefined) return undefined;
  let pointer = '#';
  if (typeof r.pointer === 'string' && r.pointer.length <= 256)
    pointer = `#${problemInstance(r.pointer.startsWith('#') ? r.pointer.slice(1) : r.pointer, 256)}`;
  else if (typeof r.property === 'string' && r.property.length <= 256) pointer = pointerOf(r.property);
  return { detail: clip(detail, MAX_APP_DETAIL), pointer };
}

/**
 * Validation failures of a NestJS `BadRequestException` (`{ message: string[] }`, or objects
 * with `detail`/`message` and `pointer`/`property`) as RFC 9457 `errors` entries, bounded.
 */
function validationErrors(response: unknown): ProblemErrorEntry[] | undefined {
  if (typeof response !== 'object' || response === null) return undefined;
  const m = (response as Record<string, unknown>).message;
  if (!Array.isArray(m)) return undefined;
  const out: ProblemErrorEntry[] = [];
  for (const item of m) {
    if (out.length >= MAX_APP_ERRORS) break;
    const entry = validationEntry(item);
    if (entry) out.push(entry);
  }
  return out.length > 0 ? out : undefined;
}

/**
 * Builds the problem document for any thrown value.
 * @example
 * const body = toProblem(err, { production: true, instance: '/orders', correlationId: 'abc' });
 */
export function toProblem(error: unknown, options: ProblemOptions): ProblemDetails {
  // A Bulwark error of an undefined code is a bug: it is answered as an unknown error (below).
  if (isBulwarkError(error) && isKnownCode(error.code)) {
    const info = codeInfo(error.code);
    const type = info.type ?? problemType(error.code, options.typeBase);
    const p = make(options, type, error.code, info.title, error.status, error.message, error.suggestion);
    const retryAfter = error.retryAfter;
    if (retryAfter !== undefined) p.retryAfter = retryAfter;
    if (typeof error.command === 'string') p.command = error.command;
    if (error.code === 'DOWNSTREAM_ERROR') addDownstream(p, error);
    else {
      const hop = hopOf(error);
      if (hop !== undefined) p.service = hop;
    }
    return p;
  }

  const stack = !options.production && error instanceof Error ? error.stack : undefined;
  if (isHttpStatusError(error)) return downstreamStatusProblem(error, options, stack);
  const http = appHttpError(error);
  if (http) {
    const title = STATUS_CODES[http.status] ?? 'HTTP Error';
    // Hidden messages: a 4xx still says what happened (its status phrase); a 5xx says nothing.
    const hidden = http.status < 500 ? title : undefined;
    const detail = http.expose || !options.production ? clip(messageOf(error), MAX_APP_DETAIL) : hidden;
    const suggestion = http.status < 500 ? HTTP_ERROR_SUGGESTIONS.client : HTTP_ERROR_SUGGESTIONS.server;
    const p = make(options, ABOUT_BLANK, HTTP_ERROR_CODE, title, http.status, detail, suggestion);
    const errors = http.expose ? validationErrors(http.response) : undefined;
    if (errors) p.errors = errors;
    if (stack) p.stack = stack;
    return p;
  }

  const def = ERROR_CODES.INTERNAL_ERROR;
  const detail = options.production ? undefined : messageOf(error);
  const type = problemType('INTERNAL_ERROR', options.typeBase);
  const p = make(options, type, 'INTERNAL_ERROR', def.title, def.status, detail, def.suggestion);
  if (stack) p.stack = stack;
  return p;
}

/**
 * A downstream's non-2xx answer (assertOk): this service's answer is a `DOWNSTREAM_ERROR` — 504
 * for a downstream 504/408, 503 for a 429 (the downstream limited us, not our caller), else 502.
 */
function downstreamStatusProblem(
  error: { status: number; service: string | undefined; message: string },
  options: ProblemOptions,
  stack: string | undefined,
): ProblemDetails {
  const def = ERROR_CODES.DOWNSTREAM_ERROR;
  const s = error.status;
  const status = s === 504 || s === 408 ? 504 : s === 429 ? 503 : 502;
  const type = problemType('DOWNSTREAM_ERROR', options.typeBase);
  const p = make(options, type, 'DOWNSTREAM_ERROR', def.title, status, error.message, def.suggestion);
  const retryAfterMs = getRetryAfterMs(error);
  if (retryAfterMs !== undefined) p.retryAfter = Math.min(3600, Math.max(1, Math.ceil(retryAfterMs / 1000)));
  if (error.service !== undefined) p.service = error.service;
  if (stack) p.stack = stack;
  return p;
}

/**
 * A downstream failure names the service that failed first, its code, and the hops in between
 * (members set by the client's DownstreamError, already validated; checked again here).
 */
function addDownstream(p: ProblemDetails, error: object): void {
  const e = error as { service?: unknown; downstreamCode?: unknown; hops?: unknown };
  if (typeof e.service === 'string') p.service = e.service;
  if (typeof e.downstreamCode === 'string') p.downstreamCode = e.downstreamCode;
  if (Array.isArray(e.hops) && e.hops.length > 1 && e.hops.every((h) => typeof h === 'string'))
    p.hops = [...e.hops];
}

// Optional members are added only when present, so the JSON has no `undefined` holes.
function make(
  options: ProblemOptions,
  type: string,
  code: string,
  title: string,
  status: number,
  detail: string | undefined,
  suggestion: string,
): ProblemDetails {
  const p: ProblemDetails = {
    type,
    title,
    status,
    code,
  };
  if (detail !== undefined) p.detail = detail;
  if (options.instance !== undefined) p.instance = problemInstance(options.instance);
  if (options.correlationId !== undefined) p.correlationId = options.correlationId;
  p.suggestion = suggestion;
  return p;
}
