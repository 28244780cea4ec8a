/** @bulwark/koa: Bulwark resilience middleware for Koa 3. */
export { type BulwarkKoa, bulwark, type KoaIdempotencyOptions, type ProtectedHandler } from './bulwark.js';
export type { BulwarkState } from './state.js';
