export * from './types.js';
export * from './errors/codes.js';
export * from './errors/bulwark-error.js';
export * from './telemetry/events.js';
export * from './context/context.js';
export * from './stores/store.js';
export { sleep } from './util/time.js';
export { type Duration, parseDuration, toMs } from './util/duration.js';
export * from './policies/options.js';
export * from './http/types.js';
export { BoundedMap } from './util/bounded-map.js';
// -- exports added per module below (keep one line per module) --
export * from './policies/bulkhead.js';
export * from './policies/rate-limit.js';
export * from './stores/memory-store.js';
