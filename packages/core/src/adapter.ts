/**
 * `@bulwark/core/adapter`: what framework adapters need (the HTTP engine's protocol, the request
 * and admission views, header writing, bulkhead compartments). Applications import from
 * `@bulwark/core`; nothing here is meant for them.
 *
 * Adding a name is a choice: add it below (named, never `export *`), then update the exports
 * snapshot (`npx vitest run test/surface -u`) and commit both.
 */
export { AdapterRequest, type HeaderSink, writeAdmissionHeaders } from './http/adapter-request.js';
export { createHttpEngine, HttpEngine, PROBLEM_CONTENT_TYPE } from './http/engine.js';
export {
  type IdempotencyAnswer,
  type IdempotencyDecision,
  IdempotencyGuard,
  type IdempotentRequest,
  validateIdempotencyOptions,
} from './http/idempotency.js';
export { type CapturedResponse, type CaptureSink, captureResponse } from './http/idempotency-capture.js';
export { subjectOf } from './http/idempotency-key.js';
export type { ErrorReport, ErrorReporter } from './http/report.js';
export { AdmissionView, type RequestView } from './http/request-view.js';
export type {
  Admission,
  HttpEngineLike,
  HttpEngineOptions,
  InboundRequest,
  IncomingHeaders,
  OutboundResponse,
  ProblemDetails,
  ProtectedRoute,
  RouteProtection,
} from './http/types.js';
export type { BulkheadCompartment, BulkheadRelease } from './policies/bulkhead.js';
