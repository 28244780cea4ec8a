/**
 * `BULWARK_…` environment variables as a config layer. `__` separates path segments; the segment
 * after `POLICIES` is a policy name (lower-cased, `_` → `-`); every other segment is SCREAMING_SNAKE
 * turned camelCase: `BULWARK_POLICIES__PAYMENTS_API__RETRY__MAX_ATTEMPTS=5` →
 * `policies['payments-api'].retry.maxAttempts = 5`.
 */
import { type ConfigIssue, InvalidConfigError } from '../errors/bulwark-error.js';
import { isPlainObject } from '../util/checks.js';
import type { BulwarkConfig } from './config.js';

/** Prefix of every Bulwark environment variable. */
export const ENV_PREFIX = 'BULWARK_';
/** Names the YAML config file; not mapped onto the config itself. */
export const CONFIG_FILE_VAR = 'BULWARK_CONFIG_FILE';

/** Environment variables, as `process.env` holds them. */
export type Env = Readonly<Record<string, string | undefined>>;

const camel = (segment: string): string =>
  segment.toLowerCase().replace(/_+([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const screaming = (key: string): string => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

/**
 * Converts an env value: `true`/`false` → booleans, numbers → numbers, text starting with `[` or `{`
 * → parsed JSON (left as text when it is not JSON), anything else stays a string (durations too).
 */
export function parseEnvValue(raw: string): unknown {
  const v = raw.trim();
  if (/^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  if (/^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  if (v.startsWith('[') || v.startsWith('{')) {
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return raw;
    }
  }
  return raw;
}

/** The config keys an env variable name maps to, or undefined for names without the prefix. */
export function envPath(name: string): string[] | undefined {
  if (!name.startsWith(ENV_PREFIX) || name === CONFIG_FILE_VAR) return undefined;
  const segments = name.slice(ENV_PREFIX.length).split('__');
  return segments.map((s, i) =>
    i === 1 && segments[0]?.toUpperCase() === 'POLICIES' ? s.toLowerCase().replace(/_/g, '-') : camel(s),
  );
}

/** The env variable that sets a config path: `['policies', 'payments-api', 'timeout']` → `BULWARK_POLICIES__PAYMENTS_API__TIMEOUT`. */
export function envVarFor(path: readonly string[]): string {
  const segments = path.map((k, i) =>
    i === 1 && path[0] === 'policies' ? k.toUpperCase().replace(/-/g, '_') : screaming(k),
  );
  return ENV_PREFIX + segments.join('__');
}

/**
 * Reads the config layer held in `BULWARK_…` variables. Empty values are ignored. Throws
 * {@link InvalidConfigError} for malformed names (empty segments) and for a variable that sets a
 * value where another one sets nested keys (`…__RETRY=false` with `…__RETRY__MAX_ATTEMPTS=5`);
 * `true` next to nested keys is fine (`…__CIRCUIT_BREAKER=true` plus `…__CIRCUIT_BREAKER__WINDOW=20s`).
 * Policy names containing `_` or upper-case letters cannot be addressed; name policies with `-`.
 */
export function configFromEnv(env: Env = process.env): BulwarkConfig {
  const root: Record<string, unknown> = {};
  const issues: ConfigIssue[] = [];
  const setBy = new Map<Record<string, unknown>, Map<string, string>>();
  const names = Object.keys(env)
    .filter((n) => envPath(n) !== undefined && (env[n] ?? '').trim() !== '')
    .sort();
  for (const name of names) {
    const path = envPath(name) ?? [];
    if (path.some((s) => s === '' || s === '-')) {
      issues.push({
        path: name,
        expected: 'segments separated by a double underscore',
        received: JSON.stringify(name),
        fix: 'e.g. BULWARK_POLICIES__PAYMENTS_API__RETRY__MAX_ATTEMPTS',
      });
      continue;
    }
    const value = parseEnvValue(env[name] ?? '');
    let node = root;
    let conflict: string | undefined;
    for (const key of path.slice(0, -1)) {
      const existing = node[key];
      if (!isPlainObject(existing)) {
        if (existing !== undefined && existing !== true) {
          conflict = setBy.get(node)?.get(key);
          break;
        }
        node[key] = {};
      }
      node = node[key] as Record<string, unknown>;
    }
    const last = path[path.length - 1] ?? '';
    if (conflict === undefined && isPlainObject(node[last]) && value !== true) conflict = 'nested variables';
    if (conflict !== undefined) {
      issues.push({
        path: name,
        expected: 'a value that does not conflict with another variable',
        received: `a conflict with ${conflict}`,
        fix: 'set either the section or its keys, not both',
      });
      continue;
    }
    if (isPlainObject(node[last])) continue; // `true` beside nested keys: the keys already enable it
    node[last] = value;
    const byKey = setBy.get(node) ?? new Map<string, string>();
    setBy.set(node, byKey);
    byKey.set(last, name);
  }
  if (issues.length > 0) throw new InvalidConfigError(issues);
  return root as BulwarkConfig;
}
