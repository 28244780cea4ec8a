/**
 * Validation of the whole declarative config. Every problem is collected (unknown keys with a
 * "did you mean", bad types, bad ranges, contradictory timeouts) and thrown as one
 * {@link InvalidConfigError}.
 */
import { type ConfigIssue, InvalidConfigError } from '../errors/bulwark-error.js';
import { checkCircuitBreakerOptions } from '../policies/breaker/options.js';
import { parseDuration } from '../util/duration.js';
import {
  arrayOf,
  boolean,
  type Check,
  duration,
  falseOr,
  func,
  headerName,
  Issues,
  isPlainObject,
  join,
  nonNegInt,
  numberIn,
  oneOf,
  positiveInt,
  shape,
  text,
  withMethods,
} from './checks.js';
import type { BulwarkConfig, PolicyConfig } from './config.js';

const SECTION_RESERVED = {
  name: 'remove it; the registry names every part after its policy',
  events: 'remove it; set `events` at the top level of the config, every policy shares it',
} as const;

const anything: Check = () => {};

const store = withMethods(
  'a Store (get, set, delete, increment, publish, subscribe, close)',
  ['get', 'set', 'delete', 'increment', 'publish', 'subscribe', 'close'],
  'pass a Store instance from code, e.g. new MemoryStore()',
);
const eventStream = withMethods(
  'an EventStream',
  ['on', 'onAny', 'emit'],
  'pass an EventStream instance from code',
);

const either =
  (isFirst: (v: unknown) => boolean, first: Check, second: Check): Check =>
  (v, p, out) =>
    (isFirst(v) ? first : second)(v, p, out);

const retryFields = {
  maxAttempts: positiveInt,
  backoff: either((v) => typeof v === 'function', func, oneOf(['exponential', 'linear', 'constant'])),
  initialDelay: duration(),
  maxDelay: duration(),
  factor: numberIn(1, Number.POSITIVE_INFINITY, 'a number of at least 1'),
  jitter: oneOf(['none', 'full', 'equal', 'decorrelated']),
  retryOn: func,
  honorRetryAfter: boolean,
  budget: falseOr(
    shape({
      ratio: numberIn(0, 1, 'a ratio from 0 to 1'),
      minPerSecond: numberIn(0, Number.POSITIVE_INFINITY, 'a non-negative number'),
      window: duration(true),
    }),
  ),
  retryNonIdempotent: boolean,
};

const bulkheadFields = {
  maxConcurrent: positiveInt,
  maxQueue: nonNegInt,
  queueTimeout: duration(true),
  maxKeys: positiveInt,
};

const rateLimitFields = { limit: positiveInt, interval: duration(true), maxKeys: positiveInt, store };

const section = (fields: Record<string, Check>, required: string[] = []) =>
  shape(fields, { required, reserved: SECTION_RESERVED });

const staticValue = shape({ value: anything }, { expected: 'a function or { value }' });

const fallbackCheck: Check = (v, p, out) => {
  if (typeof v === 'function') return;
  if (!isPlainObject(v)) return out.add(p, 'a function, { value } or fallback options', v);
  const common = { staleIfError: duration(true), handles: func, maxKeys: positiveInt };
  if (Object.hasOwn(v, 'value')) {
    if (Object.hasOwn(v, 'fallback'))
      out.add(join(p, 'value'), 'either `value` or `fallback`, not both', v.value, 'remove one of them');
    else section({ value: anything, ...common })(v, p, out);
    return;
  }
  section({ fallback: either((f) => typeof f === 'function', func, staticValue), ...common })(v, p, out);
  if (v.fallback === undefined && v.staleIfError === undefined)
    out.add(p, 'a `fallback`, a `value` or `staleIfError`', v, 'say what to answer when the call fails');
};

/** The breaker's own check (policies/breaker/options.ts); `name` and `events` are reserved here. */
const breakerSection: Check = (v, p, out) => {
  if (!isPlainObject(v)) return checkCircuitBreakerOptions(v, p, out);
  const { name, events, ...rest } = v;
  const reserved = Object.fromEntries(Object.entries({ name, events }).filter(([, x]) => x !== undefined));
  shape({}, { reserved: SECTION_RESERVED })(reserved, p, out);
  checkCircuitBreakerOptions(rest, p, out);
};

const breakerCheck = either((v) => typeof v === 'boolean', boolean, breakerSection);

const policyShape = shape(
  {
    fallback: falseOr(fallbackCheck),
    rateLimit: falseOr(section(rateLimitFields, ['limit'])),
    timeout: falseOr(duration(true)),
    retry: falseOr(section(retryFields)),
    circuitBreaker: breakerCheck,
    attemptTimeout: falseOr(duration(true)),
    bulkhead: falseOr(section(bulkheadFields)),
  },
  {
    aliases: {
      breaker: 'circuitBreaker',
      totalTimeout: 'timeout',
      perAttemptTimeout: 'attemptTimeout',
      rateLimiter: 'rateLimit',
    },
    expected:
      'policy options (fallback, rateLimit, timeout, retry, circuitBreaker, attemptTimeout, bulkhead)',
  },
);

const fmt = (ms: number): string => (ms % 1000 === 0 && ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`);
const ms = (v: unknown): number | undefined => (v === false ? undefined : parseDuration(v));
const obj = (v: unknown): Record<string, unknown> | undefined => (isPlainObject(v) ? v : undefined);

/** Cross-checks of the standard preset; only run on values that passed their own checks. */
function crossCheck(cfg: Record<string, unknown>, p: string, out: Issues): void {
  const total = ms(cfg.timeout);
  const attempt = ms(cfg.attemptTimeout);
  if (total !== undefined && attempt !== undefined && attempt > total) {
    out.add(
      join(p, 'attemptTimeout'),
      `at most the total timeout (${fmt(total)})`,
      cfg.attemptTimeout,
      'lower attemptTimeout or raise timeout; a single attempt cannot outlast the whole call',
    );
  }
  const breaker = cfg.circuitBreaker === true ? {} : obj(cfg.circuitBreaker);
  if (breaker && attempt !== undefined) {
    const window = breaker.window === undefined ? 10_000 : ms(breaker.window);
    if (window !== undefined && window < 2 * attempt) {
      out.add(
        join(p, 'circuitBreaker.window'),
        `at least twice the attemptTimeout (${fmt(2 * attempt)})`,
        breaker.window === undefined ? '10s (the default)' : JSON.stringify(breaker.window),
        `set circuitBreaker.window to ${fmt(2 * attempt)} or more, so the window sees several attempts`,
        true,
      );
    }
  }
  const retry = obj(cfg.retry);
  if (!retry) return;
  const initial = retry.initialDelay === undefined ? 100 : ms(retry.initialDelay);
  const max = retry.maxDelay === undefined ? 10_000 : ms(retry.maxDelay);
  if (
    retry.initialDelay !== undefined &&
    retry.maxDelay !== undefined &&
    initial !== undefined &&
    max !== undefined &&
    max < initial
  ) {
    out.add(
      join(p, 'retry.maxDelay'),
      `at least initialDelay (${fmt(initial)})`,
      retry.maxDelay,
      'raise maxDelay or lower initialDelay',
    );
  }
  const attempts = retry.maxAttempts ?? 3;
  if (total === undefined || initial === undefined || max === undefined) return;
  if (typeof attempts !== 'number' || attempts < 2 || typeof retry.backoff === 'function') return;
  const first = Math.min(initial, max);
  const jitter = retry.jitter ?? 'full';
  const shortest = jitter === 'full' ? 0 : jitter === 'equal' ? first / 2 : first;
  if (shortest >= total) {
    out.add(
      join(p, 'retry.initialDelay'),
      `a first delay shorter than the total timeout (${fmt(total)}) so a retry can ever start`,
      `${fmt(shortest)} (the shortest first delay)`,
      'lower retry.initialDelay (or maxDelay), raise timeout, or remove retry',
      true,
    );
  }
}

/** Checks one named policy's config, recording issues under `policies.<name>`. */
function checkPolicy(name: string, cfg: unknown, out: Issues): void {
  const p = `policies.${name}`;
  if (name.trim() === '') out.add(p, 'a non-empty policy name', name, "name it, e.g. 'payments-api'");
  const before = out.list.length;
  policyShape(cfg, p, out);
  if (out.list.length === before && isPlainObject(cfg)) crossCheck(cfg, p, out);
}

const policiesCheck: Check = (v, p, out) => {
  if (!isPlainObject(v))
    return out.add(p, 'an object of named policies', v, "e.g. { 'payments-api': { retry: {} } }");
  for (const [name, cfg] of Object.entries(v)) checkPolicy(name, cfg, out);
};

const httpKeyed = (fields: Record<string, Check>, required: string[] = []) =>
  falseOr(
    shape({ ...fields, name: text, key: func }, { required, reserved: { events: SECTION_RESERVED.events } }),
  );

const httpCheck = shape(
  {
    correlation: shape({
      header: headerName,
      accept: arrayOf(headerName, 'a list of header names'),
      generate: func,
    }),
    deadline: shape({ header: headerName, max: duration(true), default: duration(true) }),
    rateLimit: httpKeyed(rateLimitFields, ['limit']),
    bulkhead: httpKeyed(bulkheadFields),
    production: boolean,
    problemTypeBase: text,
    degradedHeader: headerName,
    criticalityHeader: headerName,
    traceResponse: boolean,
  },
  {
    reserved: {
      resolvePolicy: 'remove it; createBulwark wires it to bulwark.policy(name)',
      events: 'remove it; set `events` at the top level of the config',
    },
  },
);

const rootCheck = shape(
  { policies: policiesCheck, http: httpCheck, store, events: eventStream },
  { expected: 'a config object' },
);

/** Returns every problem in `config` (empty when valid); never throws. */
export function configIssues(config: unknown): ConfigIssue[] {
  const out = new Issues();
  rootCheck(config, '', out);
  for (const issue of out.list) if (issue.path === '') issue.path = 'config';
  return out.list;
}

/**
 * Validates the whole config and returns it typed; throws one {@link InvalidConfigError} listing
 * every problem. The config is read, never changed.
 */
export function validateConfig(config: unknown): BulwarkConfig {
  const issues = configIssues(config ?? {});
  if (issues.length > 0) throw new InvalidConfigError(issues);
  return (config ?? {}) as BulwarkConfig;
}

/** Validates one policy's config as if it were `policies.<name>`; throws {@link InvalidConfigError}. */
export function validatePolicyConfig(name: string, config: unknown): PolicyConfig {
  const out = new Issues();
  checkPolicy(name, config, out);
  if (out.list.length > 0) throw new InvalidConfigError(out.list);
  return config as PolicyConfig;
}
