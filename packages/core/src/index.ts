export * from './types.js';
export * from './errors/codes.js';
export * from './errors/bulwark-error.js';
export * from './telemetry/events.js';
export * from './context/context.js';
export * from './stores/store.js';
export { sleep } from './util/time.js';
export { type Duration, parseDuration, toMs } from './util/duration.js';
