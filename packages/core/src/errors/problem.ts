/**
 * RFC 9457 problem details from any thrown value. Bulwark errors keep their code, status and
 * suggestion; errors that deliberately carry an HTTP status (NestJS `HttpException`,
 * `http-errors` as thrown by Koa's `ctx.throw` and body-parser) keep that status under the code
 * `HTTP_ERROR`; everything else is a 500 `INTERNAL_ERROR` that leaks nothing in production.
 */
import { STATUS_CODES } from 'node:http';
import type { ProblemDetails } from '../http/types.js';
import { isBulwarkError } from './bulwark-error.js';
import { ERROR_CODES } from './codes.js';

/** Default prefix of problem `type` URIs. */
export const DEFAULT_PROBLEM_TYPE_BASE = 'https://bulwark.dev/problems/';

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
  /** Hide the message and stack of unknown errors (and of unexposed 5xx HTTP errors). */
  production: boolean;
  /** URI of this occurrence, usually the request path. */
  instance?: string;
  /** Correlation ID of the request. */
  correlationId?: string;
  /** Prefix of the `type` URI. Default {@link DEFAULT_PROBLEM_TYPE_BASE}. */
  typeBase?: string;
}

/** `BULKHEAD_FULL` → `bulkhead-full`. */
export function problemSlug(code: string): string {
  return code.toLowerCase().replace(/_/g, '-');
}

/** An HTTP status the application deliberately attached to an error, with whether its message may be shown. */
interface AppHttpError {
  status: number;
  expose: boolean;
  response: unknown;
}

function errorStatus(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 400 && v <= 599 ? v : undefined;
}

/**
 * Only errors shaped to be HTTP answers count: a `getStatus()` method (NestJS) or a
 * `status`/`statusCode` next to a boolean `expose` (http-errors). A bare `status` (an HTTP
 * client's failed downstream call, say) is not this service's answer and stays a 500.
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
  if (typeof e.expose !== 'boolean') return undefined;
  const status = errorStatus(e.status) ?? errorStatus(e.statusCode);
  return status === undefined ? undefined : { status, expose: e.expose, response: undefined };
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

/** Validation messages of a NestJS `BadRequestException` (`{ message: string[] }`), bounded. */
function validationErrors(response: unknown): string[] | undefined {
  if (typeof response !== 'object' || response === null) return undefined;
  const m = (response as Record<string, unknown>).message;
  if (!Array.isArray(m)) return undefined;
  const out: string[] = [];
  for (const item of m) {
    if (out.length >= MAX_APP_ERRORS) break;
    if (typeof item === 'string') out.push(clip(item, MAX_APP_DETAIL));
  }
  return out.length > 0 ? out : undefined;
}

/**
 * Builds the problem document for any thrown value.
 * @example
 * const body = toProblem(err, { production: true, instance: '/orders', correlationId: 'abc' });
 */
export function toProblem(error: unknown, options: ProblemOptions): ProblemDetails {
  if (isBulwarkError(error)) {
    const title = ERROR_CODES[error.code]?.title ?? error.code;
    const p = make(options, error.code, title, error.status, error.message, error.suggestion);
    const retryAfter = error.retryAfter;
    if (retryAfter !== undefined) p.retryAfter = retryAfter;
    if (error.code === 'DOWNSTREAM_ERROR') addDownstream(p, error);
    return p;
  }

  const stack = !options.production && error instanceof Error ? error.stack : undefined;
  const http = appHttpError(error);
  if (http) {
    const detail = http.expose || !options.production ? clip(messageOf(error), MAX_APP_DETAIL) : undefined;
    const suggestion = http.status < 500 ? HTTP_ERROR_SUGGESTIONS.client : HTTP_ERROR_SUGGESTIONS.server;
    const title = STATUS_CODES[http.status] ?? 'HTTP Error';
    const p = make(options, HTTP_ERROR_CODE, title, http.status, detail, suggestion);
    const errors = http.expose ? validationErrors(http.response) : undefined;
    if (errors) p.errors = errors;
    if (stack) p.stack = stack;
    return p;
  }

  const def = ERROR_CODES.INTERNAL_ERROR;
  const detail = options.production ? undefined : messageOf(error);
  const p = make(options, 'INTERNAL_ERROR', def.title, def.status, detail, def.suggestion);
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
  code: string,
  title: string,
  status: number,
  detail: string | undefined,
  suggestion: string,
): ProblemDetails {
  const p: ProblemDetails = {
    type: (options.typeBase ?? DEFAULT_PROBLEM_TYPE_BASE) + problemSlug(code),
    title,
    status,
    code,
  };
  if (detail !== undefined) p.detail = detail;
  if (options.instance !== undefined) p.instance = options.instance;
  if (options.correlationId !== undefined) p.correlationId = options.correlationId;
  p.suggestion = suggestion;
  return p;
}
