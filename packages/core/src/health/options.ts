/**
 * Options of the health room, copied, defaulted and validated once: the `health` config section
 * (`checkHealthOptions`, which the registry's config validation calls) and one dependency's
 * registration (`resolveDependencyOptions`). Bad values throw one InvalidConfigError naming the
 * key, the value and the fix.
 */

import { DEPENDENCY_CRITICALITIES } from '../recovery/levels.js';
import {
  arrayOf,
  type Check,
  closest,
  func,
  Issues,
  isPlainObject,
  oneOf,
  positiveDuration,
  shape,
  throwIfIssues,
} from '../util/checks.js';
import { type Duration, parseDuration } from '../util/duration.js';
import type { DependencyCriticality, DependencyOptions, HealthCheck } from './types.js';

/** The `health` section of the config: defaults for every registered dependency. */
export interface HealthConfig {
  /** Default check timeout. Default 10 s. */
  timeout?: Duration;
  /** Default time between checks. Default 30 s. */
  interval?: Duration;
  /** How many recent results each dependency keeps for its report. Default 10 (1 to 100). */
  history?: number;
}

/** Default check timeout (the planner's deep checks: 10 s). */
export const DEFAULT_CHECK_TIMEOUT_MS = 10_000;
/** Default time between checks (30 s). */
export const DEFAULT_CHECK_INTERVAL_MS = 30_000;
/** Default number of results kept per dependency. */
export const DEFAULT_HISTORY = 10;
/** Most dependencies one registry holds (names come from code, but every keyed map is bounded). */
export const MAX_DEPENDENCIES = 256;
/** Names of dependencies and features: they travel in JSON reports, events and the degraded header. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

const historyCheck: Check = (v, p, out) => {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 100))
    out.add(p, 'a whole number from 1 to 100', v, 'e.g. 10');
};

const healthShape = shape(
  { timeout: positiveDuration, interval: positiveDuration, history: historyCheck },
  { expected: 'health options (timeout, interval, history)' },
);

/** Records every problem of the `health` section at `path` (the registry's check for it). */
export function checkHealthOptions(input: unknown, path: string, issues: Issues): void {
  healthShape(input, path, issues);
}

/** The `health` section after validation. */
export interface ResolvedHealthOptions {
  timeoutMs: number;
  intervalMs: number;
  history: number;
}

/** Validates and defaults the `health` section; throws one InvalidConfigError listing every problem. */
export function resolveHealthOptions(input: HealthConfig | undefined): ResolvedHealthOptions {
  const issues = new Issues();
  checkHealthOptions(input ?? {}, 'health', issues);
  throwIfIssues(issues);
  const o = input ?? {};
  return {
    timeoutMs: o.timeout === undefined ? DEFAULT_CHECK_TIMEOUT_MS : (parseDuration(o.timeout) as number),
    intervalMs: o.interval === undefined ? DEFAULT_CHECK_INTERVAL_MS : (parseDuration(o.interval) as number),
    history: o.history ?? DEFAULT_HISTORY,
  };
}

/** A dependency's registration after validation; nothing here is the caller's object. */
export interface ResolvedDependency {
  name: string;
  criticality: DependencyCriticality;
  check: HealthCheck;
  timeoutMs: number;
  intervalMs: number;
  dependsOn: readonly string[];
  policies: readonly string[];
}

/** What validating a registration needs to know about the registry it joins. */
export interface RegistrationEnv {
  /** Dependencies already registered (a base must be registered before its dependants). */
  readonly registered: readonly string[];
  /** Declared policies, or undefined when unknown (no registry). */
  readonly policies: readonly string[] | undefined;
  /** Which of those policies have a circuit breaker. */
  readonly hasBreaker: (policy: string) => boolean;
  readonly defaults: ResolvedHealthOptions;
}

const nameText: Check = (v, p, out) => {
  if (typeof v !== 'string' || !NAME_RE.test(v))
    out.add(p, 'a name of letters, digits and . _ : - (1 to 64, starting with a letter or digit)', v);
};

const registrationShape = shape(
  {
    criticality: oneOf(DEPENDENCY_CRITICALITIES),
    check: func,
    timeout: positiveDuration,
    interval: positiveDuration,
    dependsOn: arrayOf(nameText, 'a list of dependency names'),
    policies: arrayOf(nameText, 'a list of policy names'),
  },
  {
    required: ['check'],
    expected: 'dependency options ({ criticality, check, timeout, interval, dependsOn, policies })',
  },
);

/**
 * Validates one registration against the registry it joins: the name is new and well formed, every
 * base of `dependsOn` is already registered (so the graph has no cycle and registration order is a
 * topological order), every policy is declared and has a breaker, `timeout` ≤ `interval`.
 */
export function resolveDependencyOptions(
  name: unknown,
  input: unknown,
  env: RegistrationEnv,
): ResolvedDependency {
  const issues = new Issues();
  const at = `health.register(${typeof name === 'string' ? `'${name}'` : String(name)})`;
  nameText(name, `${at} name`, issues);
  if (typeof name === 'string' && env.registered.includes(name))
    issues.add(
      `${at} name`,
      'a name not registered yet',
      name,
      'each dependency is registered once; pick another name',
    );
  if (env.registered.length >= MAX_DEPENDENCIES)
    issues.add(
      at,
      `at most ${MAX_DEPENDENCIES} dependencies`,
      env.registered.length,
      'group related checks into one',
    );
  registrationShape(input, at, issues);
  if (!isPlainObject(input)) {
    throwIfIssues(issues);
    throw new TypeError('unreachable');
  }
  const o = input as unknown as DependencyOptions;
  const dependsOn = Array.isArray(o.dependsOn) ? [...o.dependsOn] : [];
  for (const [i, base] of dependsOn.entries()) {
    if (typeof base !== 'string' || env.registered.includes(base)) continue;
    const near = closest(base, env.registered);
    const fix =
      base === name
        ? 'a dependency cannot depend on itself'
        : near
          ? `did you mean '${near}'?`
          : `register '${base}' first: bases are registered before the dependencies that need them (this also rules out cycles)`;
    issues.add(`${at}.dependsOn[${i}]`, 'a registered dependency', base, fix);
  }
  const policies = Array.isArray(o.policies) ? [...o.policies] : [];
  for (const [i, policy] of policies.entries()) {
    if (typeof policy !== 'string' || env.policies === undefined) continue;
    if (!env.policies.includes(policy)) {
      const near = closest(policy, env.policies);
      issues.add(
        `${at}.policies[${i}]`,
        'a declared policy',
        policy,
        near ? `did you mean '${near}'?` : 'declare it under `policies` first, or remove it',
      );
    } else if (!env.hasBreaker(policy)) {
      issues.add(
        `${at}.policies[${i}]`,
        'a policy with a circuit breaker',
        policy,
        `add \`circuitBreaker: true\` under policies.${policy}, or remove it here`,
      );
    }
  }
  const intervalMs = o.interval === undefined ? env.defaults.intervalMs : parseDuration(o.interval);
  // A default timeout longer than the interval shrinks to it (polling every 3 s waits 3 s at most).
  const timeoutMs =
    o.timeout === undefined
      ? Math.min(env.defaults.timeoutMs, intervalMs ?? env.defaults.timeoutMs)
      : parseDuration(o.timeout);
  if (timeoutMs !== undefined && intervalMs !== undefined && timeoutMs > intervalMs)
    issues.add(
      `${at}.timeout`,
      `at most the interval (${intervalMs} ms)`,
      o.timeout,
      'lower the timeout or raise the interval: a check may not outlast the time between two checks',
    );
  throwIfIssues(issues);
  return {
    name: name as string,
    criticality: o.criticality ?? 'core',
    check: o.check,
    timeoutMs: timeoutMs as number,
    intervalMs: intervalMs as number,
    dependsOn,
    policies,
  };
}
