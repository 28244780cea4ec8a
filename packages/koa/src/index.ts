export { type BulwarkKoa, bulwark, type ProtectedHandler } from './bulwark.js';
export type { BulwarkState } from './state.js';
