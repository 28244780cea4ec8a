/**
 * Loads the config layers and merges them with a documented precedence: code < file < env.
 * Validation issues are annotated with the layer (env var or file) that set the bad value.
 */
import { type ConfigIssue, InvalidConfigError, isInvalidConfigError } from '../errors/bulwark-error.js';
import { closest, isPlainObject } from '../util/checks.js';
import type { BulwarkConfig, PolicyConfig } from './config.js';
import { CONFIG_FILE_VAR, configFromEnv, type Env, envPath, envVarFor } from './env.js';
import { deepMerge, findPath } from './merge.js';
import { validateConfig, validatePolicyConfig } from './validate.js';
import { configFromYamlFile } from './yaml.js';

/** Where config is read from besides code. */
export interface ConfigSources {
  /** Environment to read `BULWARK_…` variables from; `false` reads none. Default `process.env`. */
  env?: Env | false;
  /** YAML file; `false` reads none. Default: the file named by `BULWARK_CONFIG_FILE`, if set. */
  file?: string | false;
}

/** The layers, each as read, and the validated merge. */
export interface LoadedConfig {
  /** Code config without `store`, `records` and `events` (those are code-only and never merged). */
  code: BulwarkConfig;
  /** The YAML file's layer (empty without a file). */
  file: BulwarkConfig;
  /** The file read, if any. */
  filePath: string | undefined;
  /** The env layer. */
  env: BulwarkConfig;
  /** code < file < env, validated. */
  merged: BulwarkConfig;
}

/** Reads every layer, merges code < file < env and validates the result once. */
export function loadConfig(config: BulwarkConfig = {}, sources: ConfigSources = {}): LoadedConfig {
  const envVars = sources.env === false ? {} : (sources.env ?? process.env);
  const filePath =
    sources.file === false ? undefined : (sources.file ?? (envVars[CONFIG_FILE_VAR] || undefined));
  const issues: ConfigIssue[] = [];
  const file = collect(issues, () => (filePath ? configFromYamlFile(filePath) : {}));
  const env = collect(issues, () => configFromEnv(envVars));
  if (issues.length > 0) throw new InvalidConfigError(issues);
  envOnlyIssues(config, file, env, envVars, issues);
  if (issues.length > 0) throw new InvalidConfigError(issues);
  if (!isPlainObject(config)) validateConfig(config);
  const { store, records, events, ...code } = config;
  const merged = deepMerge<BulwarkConfig>(code, file, env);
  if (store !== undefined && merged.store === undefined) merged.store = store;
  if (records !== undefined && merged.records === undefined) merged.records = records;
  if (events !== undefined && merged.events === undefined) merged.events = events;
  const loaded = { code, file, filePath, env, merged };
  annotate(loaded, () => validateConfig(merged));
  return loaded;
}

/**
 * Merges a code-defined policy over `defaults` and under the file's and env's settings for the same
 * name, and validates it.
 */
export function loadPolicy(loaded: LoadedConfig, name: string, config: PolicyConfig): PolicyConfig {
  const own = deepMerge<PolicyConfig>(config, loaded.file.policies?.[name], loaded.env.policies?.[name]);
  const defaults = loaded.merged.defaults;
  annotate(loaded, () => validatePolicyConfig(name, own, defaults));
  return defaults === undefined ? own : deepMerge<PolicyConfig>(defaults, own);
}

/**
 * An env variable may only tune a policy declared in code or the file (a typo such as
 * `BULWARK_POLICIES__PAYMNETS_API__TIMEOUT` would otherwise create a new policy and the intended
 * override would be lost), unless some layer sets `allowEnvOnlyPolicies: true`.
 */
function envOnlyIssues(
  code: unknown,
  file: BulwarkConfig,
  env: BulwarkConfig,
  envVars: Env,
  issues: ConfigIssue[],
): void {
  const envPolicies = isPlainObject(env.policies) ? Object.keys(env.policies) : [];
  if (envPolicies.length === 0) return;
  const codeLayer = isPlainObject(code) ? (code as BulwarkConfig) : {};
  const allowed = [env, file, codeLayer].find((l) => l.allowEnvOnlyPolicies !== undefined);
  if (allowed?.allowEnvOnlyPolicies === true) return;
  const declared = [
    ...Object.keys(isPlainObject(codeLayer.policies) ? codeLayer.policies : {}),
    ...Object.keys(isPlainObject(file.policies) ? file.policies : {}),
  ];
  for (const name of envPolicies) {
    if (declared.includes(name)) continue;
    const vars = Object.keys(envVars)
      .filter(
        (v) => (envVars[v] ?? '').trim() !== '' && envPath(v)?.[0] === 'policies' && envPath(v)?.[1] === name,
      )
      .sort();
    const near = closest(name, declared);
    issues.push({
      path: `policies.${name}`,
      expected: 'a policy declared in code or the config file (env variables tune declared policies)',
      received: `an env-only policy (from ${vars.join(', ')})`,
      fix: near
        ? `did you mean '${near}' (${envVarFor(['policies', near])}__…)?`
        : 'declare it under `policies` in code or the config file, or set `allowEnvOnlyPolicies: true` to let env variables create policies',
      source: vars[0],
    });
  }
}

function collect(issues: ConfigIssue[], read: () => BulwarkConfig): BulwarkConfig {
  try {
    return read();
  } catch (e) {
    if (!isInvalidConfigError(e)) throw e;
    issues.push(...(e as InvalidConfigError).issues);
    return {};
  }
}

/** Reruns `validate`, rethrowing its issues with `(from BULWARK_…)` or `(from <file>)` added. */
function annotate(loaded: LoadedConfig, validate: () => unknown): void {
  try {
    validate();
  } catch (e) {
    if (!isInvalidConfigError(e)) throw e;
    throw new InvalidConfigError((e as InvalidConfigError).issues.map((issue) => withSource(loaded, issue)));
  }
}

/** The keys of a value (not a section) that `layer` sets at `path`. */
function leaf(layer: BulwarkConfig, path: string): string[] | undefined {
  const keys = findPath(layer, path);
  let value: unknown = layer;
  for (const k of keys ?? []) value = (value as Record<string, unknown>)[k];
  return keys && !isPlainObject(value) ? keys : undefined;
}

function withSource(loaded: LoadedConfig, issue: ConfigIssue): ConfigIssue {
  if (issue.source !== undefined) return issue;
  const fromEnv = leaf(loaded.env, issue.path);
  if (fromEnv) {
    const source = envVarFor(fromEnv);
    return { ...issue, received: `${issue.received} (from ${source})`, source };
  }
  if (loaded.filePath && leaf(loaded.file, issue.path))
    return { ...issue, received: `${issue.received} (from ${loaded.filePath})`, source: loaded.filePath };
  return issue;
}
