/**
 * `@bulwark/core/adapter`: what framework adapters need (the HTTP engine's protocol, the request
 * and admission views, header writing). Applications import from `@bulwark/core`; nothing here is
 * meant for them.
 */
export { AdapterRequest, type HeaderSink, writeAdmissionHeaders } from './http/adapter-request.js';
export { createHttpEngine, HttpEngine, PROBLEM_CONTENT_TYPE } from './http/engine.js';
export { AdmissionView, type RequestView } from './http/request-view.js';
export * from './http/types.js';
