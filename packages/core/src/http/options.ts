/**
 * The HTTP engine's options (the `http` section), copied, defaulted and validated once:
 * `checkHttpOptions` collects every problem (the registry calls it for `http`), and
 * `resolveHttpOptions` builds the engine's parts from options that passed it (else one
 * InvalidConfigError listing every problem).
 */

import type { Criticality } from '../context/context.js';
import { checkedCorrelationGenerator } from '../context/correlation-generate.js';
import {
  DEFAULT_CORRELATION_ACCEPT,
  DEFAULT_CORRELATION_HEADER,
  DEFAULT_CRITICALITY_HEADER,
  DEFAULT_DEADLINE_HEADER,
  DEFAULT_DEGRADED_HEADER,
} from '../context/headers.js';
import { DEFAULT_PROBLEM_TYPE_BASE } from '../errors/problem.js';
import { isAbsoluteUri } from '../errors/problem-details.js';
import {
  checkHttpHealthOptions,
  type HealthLink,
  type ResolvedProbes,
  resolveProbes,
} from '../health/probes.js';
import { type BulkheadPolicy, bulkhead, checkBulkheadOptions } from '../policies/bulkhead.js';
import type { Records } from '../stores/records.js';
import { defaultEvents, EventStream } from '../telemetry/events.js';
import type { Policy } from '../types.js';
import {
  anything,
  arrayOf,
  boolean,
  type Check,
  either,
  falseOr,
  func,
  headerName as headerNameCheck,
  Issues,
  isPlainObject,
  oneOf,
  positiveDuration,
  shape,
  throwIfIssues,
} from '../util/checks.js';
import { parseDuration } from '../util/duration.js';
import { clientKey } from './client-key.js';
import { checkIdempotencyOptions, type IdempotencyOptions, type IdempotencyRecord } from './idempotency.js';
import { defaultKey } from './inbound.js';
import { bounded, checkHttpRateLimitOptions, HttpLimit, type HttpRateLimitOptions } from './limits.js';
import { checkOverloadOptions, HttpOverload, resolveOverloadOptions } from './overload.js';
import type { ErrorReporter } from './report.js';
import type { HttpEngineOptions, InboundRequest, InlinePolicy } from './types.js';

/** NODE_ENV values that show messages and stacks of unknown errors; anything else (unset too) hides them. */
const DEV_ENVS: ReadonlySet<string> = new Set(['development', 'test']);

/** True unless `NODE_ENV` is `development` or `test` (unset counts as production): the one place that reads it. */
export function productionByDefault(): boolean {
  return !DEV_ENVS.has(process.env.NODE_ENV ?? '');
}

export {
  DEFAULT_CORRELATION_ACCEPT,
  DEFAULT_CORRELATION_HEADER,
  DEFAULT_CRITICALITY_HEADER,
  DEFAULT_DEADLINE_HEADER,
  DEFAULT_DEGRADED_HEADER,
};

/** A function of the request giving the key of a keyed limit. */
export type KeyFn = (req: InboundRequest) => string;

/** Paths exempt from rate limits and shedding by default: health and readiness probes. */
export const DEFAULT_EXEMPT_PATHS: readonly string[] = ['/livez', '/readyz', '/health'];

/** Options after validation; nothing here is the caller's object. */
export interface ResolvedHttpOptions {
  correlationHeader: string;
  correlationAccept: readonly string[];
  correlationGenerate: () => string;
  deadlineHeader: string;
  deadlineMaxMs: number | undefined;
  deadlineDefaultMs: number | undefined;
  criticalityHeader: string;
  /** Read the criticality header (only when the deployment trusts its callers to set it). */
  trustCriticalityHeader: boolean;
  /** The criticality of a request from the app's own rules (route config), if any. */
  criticalityOf: ((req: InboundRequest) => Criticality) | undefined;
  /** Who is calling, for per-caller fairness. */
  callerOf: KeyFn;
  /** The engine bulkhead has a per-caller share (so admission passes the caller). */
  bulkheadFair: boolean;
  rateLimit: HttpLimit | undefined;
  bulkhead: BulkheadPolicy | undefined;
  bulkheadKey: KeyFn | undefined;
  /** Engine-wide overload protection, when `http.overload` sets a limit. */
  overload: HttpOverload | undefined;
  /** Paths (exact) that skip the rate limit and the bulkhead. */
  exempt: ReadonlySet<string>;
  /** The probe endpoints (`http.health`), undefined when turned off. */
  probes: ResolvedProbes | undefined;
  /** Where the probes and the degraded marking read from (wired by createBulwark). */
  healthLink: HealthLink | undefined;
  production: boolean;
  problemTypeBase: string;
  degradedHeader: string;
  traceResponse: boolean;
  resolvePolicy: ((name: string) => Policy) | undefined;
  definePolicy: ((name: string, config: InlinePolicy) => Policy) | undefined;
  onError: ErrorReporter | undefined;
  idempotency: IdempotencyOptions | undefined;
  idempotencyRecords: (() => Records<IdempotencyRecord>) | undefined;
  events: EventStream;
  /** While `refusing`, admit answers 503 DRAINING. */
  drainGate: { readonly refusing: boolean };
}

/** The gate of an engine nobody shuts down: never refusing. */
const OPEN_GATE = Object.freeze({ refusing: false });

const keyedBulkhead: Check = (v, p, out) => {
  if (!isPlainObject(v)) return checkBulkheadOptions(v, p, out);
  const { key, ...rest } = v;
  if (key !== undefined) func(key, `${p}.key`, out);
  checkBulkheadOptions(rest, p, out);
};

const problemTypeBase: Check = (v, p, out) => {
  if (!isAbsoluteUri(v))
    out.add(
      p,
      'an absolute URI (a scheme, e.g. https://errors.example.com/problems/ or tag:example.com,2026:)',
      v,
      'give the full URI your problem types live under',
    );
};

const eventsCheck: Check = (v, p, out) => {
  if (!(v instanceof EventStream)) out.add(p, 'an EventStream', v);
};

const httpShape = shape(
  {
    correlation: shape({
      header: headerNameCheck,
      accept: arrayOf(headerNameCheck, 'a list of header names'),
      generate: func,
    }),
    deadline: shape({ header: headerNameCheck, max: positiveDuration, default: positiveDuration }),
    rateLimit: falseOr(checkHttpRateLimitOptions),
    bulkhead: falseOr(keyedBulkhead),
    overload: falseOr(checkOverloadOptions),
    health: checkHttpHealthOptions,
    exempt: arrayOf((v, p, out) => {
      if (typeof v !== 'string' || !v.startsWith('/')) out.add(p, 'a path starting with /', v);
    }, 'a list of paths'),
    production: boolean,
    problemTypeBase,
    degradedHeader: headerNameCheck,
    criticalityHeader: headerNameCheck,
    trustCriticalityHeader: boolean,
    criticality: func,
    caller: either((v) => typeof v === 'function', func, oneOf(['ip'])),
    traceResponse: boolean,
    onError: func,
    idempotency: checkIdempotencyOptions,
  },
  {
    expected: 'HTTP engine options',
    reserved: {
      resolvePolicy: 'remove it; createBulwark wires it to bulwark.policy(name)',
      definePolicy: 'remove it; createBulwark wires it to bulwark.define(name, config)',
      events: 'remove it; set `events` at the top level of the config',
      drainGate: 'remove it; createBulwark wires it to bulwark.lifecycle',
      idempotencyRecords: 'remove it; createBulwark wires it to bulwark.records',
      healthLink: 'remove it; createBulwark wires it to bulwark.health',
    },
  },
);

/** What createBulwark wires into the engine beside the config section. */
const drainGateCheck: Check = (v, p, out) => {
  if (typeof (v as { refusing?: unknown } | null)?.refusing !== 'boolean')
    out.add(p, 'an object { refusing: boolean }', v);
};
const wiring = shape({
  resolvePolicy: func,
  definePolicy: func,
  idempotencyRecords: func,
  events: eventsCheck,
  drainGate: drainGateCheck,
  healthLink: anything,
});

/** Records every problem of the `http` section at `path` (the registry's check for it). */
export function checkHttpOptions(input: unknown, path: string, issues: Issues): void {
  httpShape(input, path, issues);
  if (!isPlainObject(input)) return;
  const accept = isPlainObject(input.correlation) ? input.correlation.accept : undefined;
  if (Array.isArray(accept) && accept.length > 8)
    issues.add(`${path}.correlation.accept`, 'at most 8 header names', accept);
}

/** Validates and defaults engine options; throws one InvalidConfigError listing every problem. */
export function resolveHttpOptions(input: HttpEngineOptions | undefined): ResolvedHttpOptions {
  const issues = new Issues();
  if (isPlainObject(input)) {
    const {
      resolvePolicy,
      definePolicy,
      idempotencyRecords,
      events: ev,
      drainGate,
      healthLink,
      ...section
    } = input as Record<string, unknown>;
    checkHttpOptions(section, 'http', issues);
    wiring(
      { resolvePolicy, definePolicy, idempotencyRecords, events: ev, drainGate, healthLink },
      'http',
      issues,
    );
  } else checkHttpOptions(input ?? {}, 'http', issues);
  throwIfIssues(issues);
  const o = (input ?? {}) as HttpEngineOptions & Record<string, unknown>;
  const events = o.events ?? defaultEvents;
  const corr = o.correlation ?? {};
  const dl = o.deadline ?? {};
  const lower = (h: string | undefined, fallback: string) => (h === undefined ? fallback : h.toLowerCase());
  const routeKeyOf = (req: InboundRequest) => defaultKey(req.routeKey);
  const rl = o.rateLimit;
  const bh = o.bulkhead;
  let bhPolicy: BulkheadPolicy | undefined;
  if (bh !== undefined && bh !== false) {
    const { key: _k, ...rest } = bh;
    bhPolicy = bulkhead({ name: 'http', events, ...rest });
  }
  return {
    correlationHeader: lower(corr.header, DEFAULT_CORRELATION_HEADER),
    correlationAccept: corr.accept?.map((h) => h.toLowerCase()) ?? DEFAULT_CORRELATION_ACCEPT,
    correlationGenerate: checkedCorrelationGenerator(corr.generate, 'http.correlation.generate'),
    deadlineHeader: lower(dl.header, DEFAULT_DEADLINE_HEADER),
    deadlineMaxMs: dl.max === undefined ? undefined : parseDuration(dl.max),
    deadlineDefaultMs: dl.default === undefined ? undefined : parseDuration(dl.default),
    criticalityHeader: lower(o.criticalityHeader as string | undefined, DEFAULT_CRITICALITY_HEADER),
    trustCriticalityHeader: o.trustCriticalityHeader === true,
    criticalityOf: o.criticality === undefined ? undefined : checkedCriticality(o.criticality),
    callerOf:
      typeof o.caller === 'function'
        ? bounded(o.caller, (req) => clientKey(req.remoteAddress))
        : (req) => clientKey(req.remoteAddress),
    bulkheadFair: bh !== undefined && bh !== false && (bh.maxSharePerCaller ?? 1) < 1,
    rateLimit:
      rl === undefined || rl === false
        ? undefined
        : new HttpLimit(rl as HttpRateLimitOptions, 'http', events, routeKeyOf),
    bulkhead: bhPolicy,
    bulkheadKey: bh === undefined || bh === false ? undefined : bh.key,
    overload: makeOverload(o.overload, events),
    exempt: new Set((o.exempt as string[] | undefined) ?? DEFAULT_EXEMPT_PATHS),
    probes: resolveProbes(o.health),
    healthLink: o.healthLink,
    // Safe by default: only an explicit development (or test) environment shows messages and stacks.
    production: o.production ?? productionByDefault(),
    problemTypeBase: o.problemTypeBase ?? DEFAULT_PROBLEM_TYPE_BASE,
    degradedHeader: lower(o.degradedHeader, DEFAULT_DEGRADED_HEADER),
    traceResponse: o.traceResponse === true,
    resolvePolicy: o.resolvePolicy,
    definePolicy: o.definePolicy,
    onError: o.onError,
    idempotency: o.idempotency === undefined ? undefined : { ...o.idempotency },
    idempotencyRecords: o.idempotencyRecords,
    events,
    drainGate: o.drainGate ?? OPEN_GATE,
  };
}

/** The engine's overload protection, or undefined when `http.overload` sets no limit. */
function makeOverload(input: HttpEngineOptions['overload'], events: EventStream): HttpOverload | undefined {
  if (input === undefined || input === false) return undefined;
  const r = resolveOverloadOptions(input);
  const any =
    r.maxConcurrent !== undefined ||
    r.maxEventLoopDelayMs !== undefined ||
    r.maxHeapUsedBytes !== undefined ||
    r.maxRssBytes !== undefined;
  return any ? new HttpOverload(r, events) : undefined;
}

/** The app's criticality function, made safe: anything but a known criticality (or a throw) is `default`. */
function checkedCriticality(
  fn: (req: InboundRequest) => Criticality | undefined,
): (req: InboundRequest) => Criticality {
  return (req) => {
    let c: unknown;
    try {
      c = fn(req);
    } catch {
      return 'default';
    }
    return c === 'critical' || c === 'sheddable' ? c : 'default';
  };
}
