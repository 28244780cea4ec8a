export { type BoundedBody, DEFAULT_MAX_ERROR_BODY_BYTES, readBounded } from './client/body.js';
export * from './client/downstream-error.js';
export * from './client/fetch.js';
export { type DownstreamProblem, parseProblem } from './client/problem-parse.js';
export * from './context/cls-bridge.js';
export * from './context/context.js';
export * from './context/correlation.js';
export * from './context/trace.js';
export * from './errors/bulwark-error.js';
export * from './errors/classify.js';
export * from './errors/codes.js';
export * from './errors/problem.js';
export { AdapterRequest, type HeaderSink, writeAdmissionHeaders } from './http/adapter-request.js';
export { createHttpEngine, HttpEngine, PROBLEM_CONTENT_TYPE } from './http/engine.js';
export { AdmissionView, type RequestView } from './http/request-view.js';
export * from './http/types.js';
export * from './logging/log-context.js';
export * from './pipeline.js';
export * from './policies/backoff.js';
// -- exports added per module below (keep one line per module) --
export * from './policies/bulkhead.js';
export {
  type CircuitBreakerPolicy,
  type CircuitState,
  type CircuitStats,
  circuitBreaker,
  defaultIsFailure,
} from './policies/circuit-breaker.js';
export * from './policies/fallback.js';
export * from './policies/options.js';
export * from './policies/rate-limit.js';
export * from './policies/retry.js';
export * from './policies/retry-budget.js';
export * from './policies/timeout.js';
export * from './propagation/clients.js';
export * from './propagation/fetch.js';
export {
  DEFAULT_DEADLINE_MARGIN_MS,
  outgoingHeaders,
  type PropagationOptions,
  type PropagationTarget,
} from './propagation/headers.js';
export * from './propagation/http.js';
export { type BreakerControl, type Bulwark, createBulwark } from './registry/bulwark.js';
export type { BulwarkConfig, FallbackConfig, HttpConfig, PolicyConfig } from './registry/config.js';
export { CONFIG_FILE_VAR, configFromEnv, type Env, envVarFor, parseEnvValue } from './registry/env.js';
export type { ConfigSources } from './registry/sources.js';
export { configIssues, validateConfig, validatePolicyConfig } from './registry/validate.js';
export { configFromYaml, configFromYamlFile } from './registry/yaml.js';
export * from './stores/memory-store.js';
export * from './stores/store.js';
export * from './telemetry/events.js';
export * from './types.js';
export { BoundedMap } from './util/bounded-map.js';
export { type Duration, parseDuration, toMs } from './util/duration.js';
export { sleep } from './util/time.js';
