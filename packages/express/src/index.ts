/** @bulwark/express: Bulwark resilience middleware for Express 4 and 5. */
export { type BulwarkExpress, bulwark, type ProtectedHandler } from './bulwark.js';
export type { BulwarkRequest } from './types.js';
