/** @bulwark/express: Bulwark resilience middleware for Express 4 and 5. */
export {
  type BulwarkExpress,
  bulwark,
  type ExpressIdempotencyOptions,
  type ProtectedHandler,
} from './bulwark.js';
export type { BulwarkRequest } from './types.js';
