/**
 * `@bulwark/core`: what applications use, each name chosen. Adapter-facing API lives at
 * `@bulwark/core/adapter`; helpers used only inside core are not exported.
 *
 * Adding a name is a choice: add it to the block of its room below (named, never `export *`),
 * then update the exports snapshot (`npx vitest run test/surface -u`) and commit both.
 */

// -- client: resilient fetch, downstream errors --
export { type AssertOkOptions, assertOk } from './client/assert-ok.js';
export { DEFAULT_MAX_ERROR_BODY_BYTES } from './client/body.js';
export {
  DownstreamError,
  type DownstreamErrorOptions,
  isDownstreamError,
} from './client/downstream-error.js';
export {
  type BulwarkFetchInit,
  createResilientFetch,
  isFailureResponse,
  type ResilientFetch,
  type ResilientFetchHost,
  type ResilientFetchOptions,
} from './client/fetch.js';
export { type DownstreamProblem, parseProblem } from './client/problem-parse.js';
// -- context: request context, correlation, trace --
export {
  bridgeClsHooked,
  type ClsBridge,
  type ClsBridgeOptions,
  type ClsNamespaceLike,
} from './context/cls-bridge.js';
export {
  type Criticality,
  getContext,
  markDegraded,
  type RequestContext,
  runWithContext,
  type TraceContext,
  timeLeft,
} from './context/context.js';
export { type CorrelationIdGenerator, newCorrelationId } from './context/correlation.js';
export { type RunWithCorrelationOptions, runWithCorrelation } from './context/job.js';
export { otelSpanEvents } from './context/otel.js';
export {
  childTraceparent,
  formatTraceparent,
  newSpanId,
  newTraceId,
  type ParsedTraceparent,
  parseTraceparent,
} from './context/trace.js';
export { type AnyErrorCode, type CodeInfo, definedErrors } from './errors/app-codes.js';
// -- errors: error types, classification, problem details --
export {
  BulkheadFullError,
  BulwarkError,
  type BulwarkErrorOptions,
  CancelledError,
  CircuitOpenError,
  type ConfigIssue,
  DeadlineExceededError,
  InvalidConfigError,
  isBulkheadFullError,
  isBulwarkError,
  isCancelledError,
  isCircuitOpenError,
  isDeadlineExceededError,
  isInvalidConfigError,
  isOverloadedError,
  isQueueTimeoutError,
  isRateLimitedError,
  isRetryBudgetExhaustedError,
  isRetryExhaustedError,
  isTimeoutError,
  OverloadedError,
  QueueTimeoutError,
  RateLimitedError,
  RetryBudgetExhaustedError,
  RetryExhaustedError,
  TimeoutError,
} from './errors/bulwark-error.js';
export {
  classify,
  countsAsFailure,
  getRetryAfterMs,
  isCancellation,
  isPermanent,
  isRetryable,
  markPermanent,
  PermanentError,
  statusOf,
} from './errors/classify.js';
export { ERROR_CODES, type ErrorCategory, type ErrorCode } from './errors/codes.js';
export {
  type DefinedError,
  type DefinedErrorOptions,
  defineError,
  type ErrorDefinition,
} from './errors/define-error.js';
export {
  HttpStatusError,
  type HttpStatusErrorOptions,
  isHttpStatusError,
} from './errors/http-status-error.js';
export { DEFAULT_PROBLEM_TYPE_BASE, type ProblemOptions, toProblem } from './errors/problem.js';
export type { ProblemDetails, ProblemErrorEntry } from './errors/problem-details.js';
// -- health: dependencies, readiness, features, degraded mode --
export {
  type HttpCheckOptions,
  httpCheck,
  type PostgresLike,
  postgresCheck,
  type RedisLike,
  redisCheck,
  tcpCheck,
} from './health/checks.js';
// -- health: lifecycle (graceful shutdown) --
export type { CutRequest } from './health/drain.js';
export {
  type FailDependencyOptions,
  type FailedDependency,
  failDependency,
} from './health/fail-dependency.js';
// -- health: dependencies, readiness, features, degraded mode --
export type {
  DegradedReport,
  FeatureOptions,
  FeatureState,
  FeatureToggles,
} from './health/features.js';
export type { Healing, HealingOptions, HealingOutcome, HealingRecord } from './health/healing.js';
export type {
  DrainGate,
  Lifecycle,
  LifecycleState,
  ReadinessSignals,
  ShutdownHookFailure,
  ShutdownOptions,
  ShutdownReport,
} from './health/lifecycle.js';
export type { LifecycleOptions, ShutdownSignal } from './health/lifecycle-options.js';
export type { HealthConfig } from './health/options.js';
export type { HttpHealthOptions } from './health/probes.js';
export type { HealthRegistry } from './health/registry.js';
export type { StartupItem, StartupOptions, StartupReport } from './health/startup.js';
export type {
  Availability,
  CheckResult,
  DependencyOptions,
  DependencyReport,
  DependencyStatus,
  DownReason,
  HealthCheck,
  HealthOverride,
  HealthReport,
  HealthStatus,
  Readiness,
} from './health/types.js';
export type { IdempotencyOptions, IdempotencyRecord } from './http/idempotency.js';
export type { OverloadOptions, OverloadReason, OverloadStats } from './http/overload.js';
export type { ErrorReport, ErrorReporter } from './http/report.js';
// -- logging --
export { type LogContext, type LogKeys, logContext, pinoMixin } from './logging/log-context.js';
// -- policies and their composition --
export { type Pipeline, pipeline } from './pipeline.js';
export type { BackoffConfig, BackoffKind, CustomBackoff, JitterKind, RandomFn } from './policies/backoff.js';
export {
  type FromOpossumOptions,
  fromOpossum,
  type OpossumBreaker,
  type OpossumPolicy,
} from './policies/breaker/from-opossum.js';
export type { BreakerOverride, CircuitBreakerOptions } from './policies/breaker/options.js';
export {
  type BulkheadLimit,
  type BulkheadOptions,
  type BulkheadPolicy,
  type BulkheadShares,
  type BulkheadStats,
  bulkhead,
} from './policies/bulkhead.js';
export { type ChaosOptions, type ChaosPolicy, type ChaosStats, chaos } from './policies/chaos.js';
export {
  type CircuitBreakerPolicy,
  type CircuitSnapshot,
  type CircuitState,
  type CircuitStats,
  circuitBreaker,
  defaultIsFailure,
} from './policies/circuit-breaker.js';
export { type FallbackOptions, type FallbackPolicy, fallback } from './policies/fallback.js';
export {
  type RateLimitDecision,
  type RateLimitOptions,
  type RateLimitPolicy,
  rateLimit,
} from './policies/rate-limit.js';
export { type RetryOptions, type RetryPolicy, type RetryPolicyOptions, retry } from './policies/retry.js';
export type { RetryBudgetOptions } from './policies/retry-budget.js';
export { deadlineFrom, type TimeoutOptions, type TimeoutPolicy, timeout } from './policies/timeout.js';
// -- propagation: headers for outgoing calls --
export {
  type AxiosInstanceLike,
  type AxiosRequestConfigLike,
  axiosInterceptor,
  type GotHooksLike,
  type GotOptionsLike,
  gotHooks,
} from './propagation/clients.js';
export { enableFetchPropagation, type FetchPropagationOptions } from './propagation/fetch.js';
export {
  DEFAULT_DEADLINE_MARGIN_MS,
  outgoingHeaders,
  type PropagationOptions,
  type PropagationTarget,
} from './propagation/headers.js';
export { type PropagatingAgentOptions, propagatingAgent, withPropagation } from './propagation/http.js';
export { runBatch } from './recovery/batch.js';
export type { BatchFn, BatchOptions, CheckpointOptions, RunBatchOptions } from './recovery/batch-options.js';
export {
  type BatchHttpResponse,
  type BatchReportJson,
  type BatchResponseOptions,
  batchReportJson,
  batchResponse,
  type RenderTextOptions,
  renderBatchText,
} from './recovery/batch-render.js';
export type { BatchFailure, BatchReport, RollbackReport } from './recovery/batch-report.js';
// -- recovery: levels, batches, sagas and compensations --
export {
  type CompensationFn,
  type CompensationManager,
  type CompensationManagerStats,
  type CompensationResult,
  type CompensationStats,
  createCompensations,
} from './recovery/compensations.js';
export {
  createDeadLetterQueue,
  type DeadLetterQueue,
} from './recovery/dead-letter.js';
export {
  type DeadLettered,
  DeadLetterFullError,
  deadLetterIdOf,
  isDeadLettered,
  isDeadLetterFullError,
} from './recovery/dead-letter-errors.js';
export type {
  DeadLetterBackoffOptions,
  DeadLetterOptions,
  DeadLetterQueueOptions,
} from './recovery/dead-letter-options.js';
export type { DeadLetterPolicyConfig } from './recovery/dead-letter-policy.js';
export type {
  AddDeadLetterInput,
  DeadLetterAttempt,
  DeadLetterEntry,
  DeadLetterError,
  DeadLetterFilter,
  DeadLetterHandler,
  DeadLetterRun,
  DeadLetterStats,
  DeadLetterStatus,
  ReplayReport,
} from './recovery/dead-letter-types.js';
export {
  type DependencyCriticality,
  type ItemOutcome,
  type LevelItem,
  type LevelRun,
  type LevelSummary,
  type LevelsReport,
  type OutcomeCounts,
  type RunLevelsOptions,
  runLevels,
  type SkipReason,
} from './recovery/levels.js';
export {
  createSaga,
  type Saga,
  type SagaContext,
  type SagaRunOptions,
  type SagaStats,
  type SagaStep,
  type StepResult,
} from './recovery/saga.js';
export {
  isSagaCompensationFailedError,
  SagaCompensationFailedError,
  type UndoFailure,
} from './recovery/saga-error.js';
export type { SagaResult, SagaStatus } from './recovery/saga-log.js';
export type { CompensationsOptions, SagaOptions, UndoOptions } from './recovery/saga-options.js';
// -- registry: named policies from config --
export { type BreakerControl, type Bulwark, createBulwark } from './registry/bulwark.js';
export type { ChaosControl } from './registry/chaos-control.js';
export type {
  BulwarkConfig,
  FallbackConfig,
  FallbackConfigValue,
  FallbackValue,
  HttpConfig,
  PolicyConfig,
  RecoveryConfig,
} from './registry/config.js';
export { CONFIG_FILE_VAR, configFromEnv, type Env, envVarFor } from './registry/env.js';
export type { ConfigSources } from './registry/sources.js';
export { configIssues, validateConfig, validatePolicyConfig } from './registry/validate.js';
export { configFromYaml, configFromYamlFile } from './registry/yaml.js';
// -- stores --
export { type MemoryStore, type MemoryStoreOptions, memoryStore } from './stores/memory-store.js';
export {
  type MemoryRecordsOptions,
  memoryRecords,
  type RecordPutOptions,
  type RecordStore,
  type Records,
  type RecordValue,
  type StoredRecord,
} from './stores/records.js';
export { type DurableRecordsOptions, durableRecords } from './stores/sqlite-records.js';
export type { Store } from './stores/store.js';
// -- telemetry --
export {
  type BulwarkEvent,
  type BulwarkEventType,
  DIAGNOSTICS_CHANNEL,
  defaultEvents,
  type EventInput,
  type EventOf,
  EventStream,
  type RetryGaveUpReason,
} from './telemetry/events.js';
// -- shared types --
export type {
  Closeable,
  CommonPolicyOptions,
  Disposable,
  ExecuteOptions,
  Operation,
  POLICY_ANSWERS,
  Policy,
  PolicyAnswer,
  RateLimitState,
} from './types.js';
export { type Duration, parseDuration } from './util/duration.js';
