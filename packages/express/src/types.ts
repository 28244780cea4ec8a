import type { RequestView } from '@bulwark/core/adapter';

/** What Bulwark puts on every admitted Express request as `req.bulwark` (core's {@link RequestView}). */
export type BulwarkRequest = RequestView;

declare global {
  // Express's own augmentation point: `Express.Request` is merged into every `req`.
  namespace Express {
    interface Request {
      /** Set by the Bulwark middleware once the request is admitted; absent before. */
      bulwark?: BulwarkRequest;
    }
  }
}
