/**
 * The HTTP engine's options, copied, defaulted and validated once. Every error is a TypeError
 * naming the key, the value received and what was expected.
 */

import { checkedCorrelationGenerator } from '../context/correlation-generate.js';
import {
  DEFAULT_CORRELATION_ACCEPT,
  DEFAULT_CORRELATION_HEADER,
  DEFAULT_CRITICALITY_HEADER,
  DEFAULT_DEADLINE_HEADER,
  DEFAULT_DEGRADED_HEADER,
} from '../context/headers.js';
import { type InvalidConfigError, isInvalidConfigError } from '../errors/bulwark-error.js';
import { DEFAULT_PROBLEM_TYPE_BASE } from '../errors/problem.js';
import { type BulkheadPolicy, bulkhead } from '../policies/bulkhead.js';
import { type RateLimitPolicy, rateLimit, rateLimitHeaders } from '../policies/rate-limit.js';
import { defaultEvents, EventStream } from '../telemetry/events.js';
import type { Policy } from '../types.js';
import { toMs } from '../util/duration.js';
import type { ErrorReporter } from './report.js';
import type { HttpEngineOptions, InboundRequest } from './types.js';

/** NODE_ENV values that show messages and stacks of unknown errors; anything else (unset too) hides them. */
const DEV_ENVS: ReadonlySet<string> = new Set(['development', 'test']);

export {
  DEFAULT_CORRELATION_ACCEPT,
  DEFAULT_CORRELATION_HEADER,
  DEFAULT_CRITICALITY_HEADER,
  DEFAULT_DEADLINE_HEADER,
  DEFAULT_DEGRADED_HEADER,
};

/** A function of the request giving the key of a keyed limit. */
export type KeyFn = (req: InboundRequest) => string;

/** Options after validation; nothing here is the caller's object. */
export interface ResolvedHttpOptions {
  correlationHeader: string;
  correlationAccept: readonly string[];
  correlationGenerate: () => string;
  deadlineHeader: string;
  deadlineMaxMs: number | undefined;
  deadlineDefaultMs: number | undefined;
  criticalityHeader: string;
  rateLimit: RateLimitPolicy | undefined;
  rateLimitName: string;
  rateLimitKey: KeyFn | undefined;
  bulkhead: BulkheadPolicy | undefined;
  bulkheadKey: KeyFn | undefined;
  production: boolean;
  problemTypeBase: string;
  degradedHeader: string;
  traceResponse: boolean;
  resolvePolicy: ((name: string) => Policy) | undefined;
  onError: ErrorReporter | undefined;
  events: EventStream;
}

// RFC 9110 token, lower case (Node lower-cases incoming header names).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]{1,64}$/;

function fail(key: string, expected: string, value: unknown): never {
  let shown: string;
  try {
    shown = typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value));
  } catch {
    shown = String(value);
  }
  throw new TypeError(`Expected \`http.${key}\` to be ${expected}; got ${shown}.`);
}

function headerName(value: unknown, key: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !TOKEN.test(value.toLowerCase())) {
    fail(key, 'an HTTP header name (1–64 token characters)', value);
  }
  return value.toLowerCase();
}

function object(value: unknown, key: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(key, 'an object', value);
  return value as Record<string, unknown>;
}

function duration(value: unknown, key: string): number | undefined {
  if (value === undefined) return undefined;
  try {
    return toMs(value as string, `http.${key}`);
  } catch (e) {
    throw e instanceof TypeError ? e : new TypeError(String(e));
  }
}

function keyFn(value: unknown, key: string): KeyFn | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') fail(key, 'a function (req) => string', value);
  return value as KeyFn;
}

/** Validates and defaults engine options; throws a TypeError naming the first bad key. */
export function resolveHttpOptions(input: HttpEngineOptions | undefined): ResolvedHttpOptions {
  const o = object(input, '(options)') ?? {};
  if (o.events !== undefined && !(o.events instanceof EventStream))
    fail('events', 'an EventStream', o.events);

  const corr = object(o.correlation, 'correlation') ?? {};
  const correlationHeader = headerName(corr.header, 'correlation.header', DEFAULT_CORRELATION_HEADER);
  let correlationAccept = DEFAULT_CORRELATION_ACCEPT;
  if (corr.accept !== undefined) {
    if (!Array.isArray(corr.accept) || corr.accept.length > 8) {
      fail('correlation.accept', 'an array of at most 8 header names', corr.accept);
    }
    correlationAccept = corr.accept.map((h, i) => headerName(h, `correlation.accept[${i}]`, ''));
  }
  const correlationGenerate = checkedCorrelationGenerator(corr.generate, 'http.correlation.generate');

  const dl = object(o.deadline, 'deadline') ?? {};
  const deadlineHeader = headerName(dl.header, 'deadline.header', DEFAULT_DEADLINE_HEADER);
  const deadlineMaxMs = duration(dl.max, 'deadline.max');
  const deadlineDefaultMs = duration(dl.default, 'deadline.default');
  if (deadlineMaxMs !== undefined && deadlineMaxMs <= 0) fail('deadline.max', 'a positive duration', dl.max);
  if (deadlineDefaultMs !== undefined && deadlineDefaultMs <= 0) {
    fail('deadline.default', 'a positive duration', dl.default);
  }
  const criticalityHeader = headerName(
    (o as { criticalityHeader?: unknown }).criticalityHeader,
    'criticalityHeader',
    DEFAULT_CRITICALITY_HEADER,
  );

  let rl: RateLimitPolicy | undefined;
  let rateLimitName = 'default';
  let rateLimitKey: KeyFn | undefined;
  if (o.rateLimit !== undefined && o.rateLimit !== false) {
    const r = object(o.rateLimit, 'rateLimit') as Record<string, unknown>;
    rateLimitKey = keyFn(r.key, 'rateLimit.key');
    const { key: _k, ...rest } = r;
    rl = wrap('rateLimit', () => rateLimit({ name: 'http', events: o.events, ...rest } as never));
    rateLimitName = typeof r.name === 'string' ? r.name : 'default';
    wrap('rateLimit.name', () =>
      rateLimitHeaders({ limit: 1, remaining: 1, resetMs: 0, windowMs: 1 }, rateLimitName),
    );
  }

  let bh: BulkheadPolicy | undefined;
  let bulkheadKey: KeyFn | undefined;
  if (o.bulkhead !== undefined && o.bulkhead !== false) {
    const b = object(o.bulkhead, 'bulkhead') as Record<string, unknown>;
    bulkheadKey = keyFn(b.key, 'bulkhead.key');
    const { key: _k, ...rest } = b;
    bh = wrap('bulkhead', () => bulkhead({ name: 'http', events: o.events, ...rest } as never));
  }

  if (o.production !== undefined && typeof o.production !== 'boolean')
    fail('production', 'a boolean', o.production);
  if (
    o.problemTypeBase !== undefined &&
    (typeof o.problemTypeBase !== 'string' || o.problemTypeBase.length > 512)
  ) {
    fail('problemTypeBase', 'a URI prefix string', o.problemTypeBase);
  }
  const traceResponse = (o as { traceResponse?: unknown }).traceResponse;
  if (traceResponse !== undefined && typeof traceResponse !== 'boolean')
    fail('traceResponse', 'a boolean', traceResponse);
  if (o.onError !== undefined && typeof o.onError !== 'function') {
    fail('onError', 'a function (error, report) => void', o.onError);
  }
  if (o.resolvePolicy !== undefined && typeof o.resolvePolicy !== 'function') {
    fail('resolvePolicy', 'a function (name) => Policy', o.resolvePolicy);
  }

  return {
    correlationHeader,
    correlationAccept,
    correlationGenerate,
    deadlineHeader,
    deadlineMaxMs,
    deadlineDefaultMs,
    criticalityHeader,
    rateLimit: rl,
    rateLimitName,
    rateLimitKey,
    bulkhead: bh,
    bulkheadKey,
    // Safe by default: only an explicit development (or test) environment shows messages and stacks.
    production: o.production ?? !DEV_ENVS.has(process.env.NODE_ENV ?? ''),
    problemTypeBase: o.problemTypeBase ?? DEFAULT_PROBLEM_TYPE_BASE,
    degradedHeader: headerName(o.degradedHeader, 'degradedHeader', DEFAULT_DEGRADED_HEADER),
    traceResponse: traceResponse === true,
    resolvePolicy: o.resolvePolicy as ((name: string) => Policy) | undefined,
    onError: o.onError as ErrorReporter | undefined,
    events: o.events ?? defaultEvents,
  };
}

/** Runs a policy factory, prefixing its TypeError with the engine's key. */
function wrap<T>(key: string, make: () => T): T {
  try {
    return make();
  } catch (e) {
    if (e instanceof TypeError) throw new TypeError(`Invalid \`http.${key}\`: ${e.message}`);
    // Policy resolvers throw one InvalidConfigError; name each issue under `http.`.
    if (isInvalidConfigError(e)) {
      const lines = (e as InvalidConfigError).issues.map(
        (i) => `\`http.${i.path}\`: expected ${i.expected}, got ${i.received}`,
      );
      throw new TypeError(`Invalid \`http.${key}\`: ${lines.join('; ')}`);
    }
    throw e;
  }
}
