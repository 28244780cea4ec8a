/**
 * Validation of the whole declarative config. Every problem is collected (unknown keys with a
 * "did you mean", bad types, bad ranges, contradictory timeouts) and thrown as one
 * {@link InvalidConfigError}.
 */
import { type ConfigIssue, InvalidConfigError } from '../errors/bulwark-error.js';
import { checkBulkheadOptions } from '../policies/bulkhead.js';
import { checkChaosOptions } from '../policies/chaos.js';
import { checkFallbackOptions } from '../policies/fallback.js';
import { checkRetryOptions } from '../policies/retry.js';
import { checkTimeoutOptions } from '../policies/timeout.js';
import { checkDeadLetterPolicyConfig } from '../recovery/dead-letter-policy.js';
import {
  boolean,
  type Check,
  either,
  eventStream,
  falseOr,
  Issues,
  isPlainObject,
  join,
  recordStore,
  shape,
  store,
} from '../util/checks.js';
import { parseDuration } from '../util/duration.js';
import type { BulwarkConfig, PolicyConfig } from './config.js';
import { deepMerge, findPath } from './merge.js';
import {
  checkBreakerSection,
  checkHealthSection,
  checkHttpSection,
  checkLifecycleSection,
  checkRateLimitSection,
  checkRecoverySection,
  type SectionCheck,
} from './sections.js';

const SECTION_RESERVED = {
  name: 'remove it; the registry names every part after its policy',
  events: 'remove it; set `events` at the top level of the config, every policy shares it',
} as const;

/**
 * A policy part as config holds it: `name` and `events` are the registry's (reported with a fix),
 * everything else is the part's own check.
 */
function part(check: SectionCheck): Check {
  return (v, p, out) => {
    if (!isPlainObject(v)) return check(v, p, out);
    let rest: Record<string, unknown> | undefined;
    for (const key of Object.keys(SECTION_RESERVED) as (keyof typeof SECTION_RESERVED)[]) {
      if (!Object.hasOwn(v, key)) continue;
      out.add(join(p, key), 'no such key here', `key "${key}"`, SECTION_RESERVED[key], true);
      rest ??= { ...v };
      delete rest[key];
    }
    check(rest ?? v, p, out);
  };
}

const breakerCheck = either((v) => typeof v === 'boolean', boolean, part(checkBreakerSection));

/** The parts of one policy, in composition order, each delegated to its owner's check. */
const policyShape = shape(
  {
    deadLetter: falseOr(checkDeadLetterPolicyConfig),
    fallback: falseOr(part(checkFallbackOptions)),
    rateLimit: falseOr(part(checkRateLimitSection)),
    timeout: falseOr(checkTimeoutOptions),
    retry: falseOr(part(checkRetryOptions)),
    circuitBreaker: breakerCheck,
    attemptTimeout: falseOr(checkTimeoutOptions),
    bulkhead: falseOr(part(checkBulkheadOptions)),
    chaos: falseOr(part(checkChaosOptions)),
    trustDownstreamProblems: boolean,
  },
  {
    aliases: {
      breaker: 'circuitBreaker',
      totalTimeout: 'timeout',
      perAttemptTimeout: 'attemptTimeout',
      rateLimiter: 'rateLimit',
    },
    expected:
      'policy options (deadLetter, fallback, rateLimit, timeout, retry, circuitBreaker, attemptTimeout, bulkhead, chaos, trustDownstreamProblems)',
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
  const attempts = retry.maxAttempts ?? 3;
  if (total === undefined || initial === undefined || max === undefined) return;
  if (typeof attempts !== 'number' || attempts < 2 || typeof retry.backoff === 'function') return;
  const first = Math.min(initial, max);
  const jitter = retry.jitter === true || retry.jitter === undefined ? 'full' : retry.jitter;
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

/**
 * Checks one named policy's config, recording issues under `policies.<name>`. With `defaults` (a
 * valid `defaults` section), the policy is checked as it runs: deep-merged over the defaults, and
 * an issue about a value the policy inherits says so.
 */
function checkPolicy(name: string, cfg: unknown, out: Issues, defaults?: unknown): void {
  const p = `policies.${name}`;
  if (name.trim() === '') out.add(p, 'a non-empty policy name', name, "name it, e.g. 'payments-api'");
  const effective =
    isPlainObject(defaults) && isPlainObject(cfg) ? deepMerge<Record<string, unknown>>(defaults, cfg) : cfg;
  const before = out.list.length;
  policyShape(effective, p, out);
  if (out.list.length === before && isPlainObject(effective)) crossCheck(effective, p, out);
  if (!isPlainObject(defaults)) return;
  for (const issue of out.list.slice(before)) {
    const rest = issue.path.slice(p.length + 1);
    if (rest && findPath(defaults, rest) && !findPath(cfg, rest))
      issue.received += ' (inherited from defaults)';
  }
}

/** The `defaults` section: a partial policy config every policy inherits. */
const defaultsCheck: Check = (v, p, out) => {
  if (!isPlainObject(v))
    return out.add(p, 'policy options every policy inherits', v, "e.g. { timeout: '5s' }");
  policyShape(v, p, out);
};

function policiesCheck(defaults: unknown): Check {
  return (v, p, out) => {
    if (!isPlainObject(v))
      return out.add(p, 'an object of named policies', v, "e.g. { 'payments-api': { retry: {} } }");
    for (const [name, cfg] of Object.entries(v)) checkPolicy(name, cfg, out, defaults);
  };
}

function rootCheck(defaults: unknown): Check {
  return shape(
    {
      defaults: defaultsCheck,
      policies: policiesCheck(defaults),
      allowEnvOnlyPolicies: boolean,
      http: checkHttpSection,
      health: checkHealthSection,
      lifecycle: checkLifecycleSection,
      recovery: checkRecoverySection,
      store,
      records: recordStore,
      events: eventStream,
    },
    { expected: 'a config object' },
  );
}

/** Returns every problem in `config` (empty when valid); never throws. */
export function configIssues(config: unknown): ConfigIssue[] {
  const out = new Issues();
  // Policies are checked over the defaults only when the defaults are valid themselves, so a bad
  // default is reported once, under `defaults`, not again under every policy.
  let defaults: unknown;
  if (isPlainObject(config) && config.defaults !== undefined) {
    const probe = new Issues();
    defaultsCheck(config.defaults, 'defaults', probe);
    if (probe.list.length === 0) defaults = config.defaults;
  }
  rootCheck(defaults)(config, '', out);
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

/**
 * Validates one policy's config as if it were `policies.<name>` (with `defaults` merged under it,
 * if given); throws {@link InvalidConfigError}.
 */
export function validatePolicyConfig(name: string, config: unknown, defaults?: PolicyConfig): PolicyConfig {
  const out = new Issues();
  checkPolicy(name, config, out, defaults);
  if (out.list.length > 0) throw new InvalidConfigError(out.list);
  return config as PolicyConfig;
}
