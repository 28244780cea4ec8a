import type { Bulwark } from '@bulwark/core';
import type { ProtectedRoute, RouteProtection } from '@bulwark/core/adapter';
import { type CanActivate, type ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { BULWARK, BULWARK_RATE_LIMIT } from './bulwark.constants.js';
import { BulwarkExplorer } from './bulwark.explorer.js';
import { type AdmittedRequest, admitted } from './bulwark.middleware.js';

/** A route's own rate limit: `http.rateLimit`'s options (`limit`, `interval`, `key`, `skip`, `headers`...). */
export type RouteRateLimit = Exclude<RouteProtection['rateLimit'], false | undefined>;

/**
 * On a handler or a controller: the route's own rate limit (its own buckets, one per client by
 * default), as `@Throttle()` does. Without options, the app-wide `http.rateLimit` (undoing a
 * controller's `@SkipRateLimit()`). A handler's decorator wins over its controller's.
 * @example
 * @Post('login') @RateLimit({ limit: 5, interval: '1m' }) login() { ... }
 */
export const RateLimit = (options?: RouteRateLimit) => SetMetadata(BULWARK_RATE_LIMIT, options ?? true);

/** On a handler or a controller: leaves the route out of the app-wide `http.rateLimit`, as `@SkipThrottle()` does. */
export const SkipRateLimit = () => SetMetadata(BULWARK_RATE_LIMIT, false);

const appWide = new WeakMap<Bulwark, ProtectedRoute>();

/** Takes the route's own limit, or the app-wide `http.rateLimit`, for an admitted request; rejects with the 429. */
export function takeLimit(bulwark: Bulwark, state: AdmittedRequest, own?: ProtectedRoute): Promise<unknown> {
  let route = own ?? appWide.get(bulwark);
  if (route === undefined) {
    route = bulwark.http.route({});
    appWide.set(bulwark, route);
  }
  return bulwark.http.protect(state.admission, route, () => undefined);
}

/**
 * Global guard taking each route's rate limit (the route's own, or the app-wide `http.rateLimit`,
 * which the middleware leaves to it) through core's `protect`; a refusal is a 429 problem.
 */
@Injectable()
export class BulwarkRateLimitGuard implements CanActivate {
  constructor(
    @Inject(BULWARK) private readonly bulwark: Bulwark,
    @Inject(BulwarkExplorer) private readonly explorer: BulwarkExplorer,
  ) {}

  /** Nest's guard hook. */
  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<{ raw?: object }>();
    const state = admitted(req.raw ?? req);
    const own = this.explorer.routes.get(context.getHandler());
    if (state === undefined || (own === undefined && !this.bulwark.config.http?.rateLimit)) return true;
    state.limitTaken = true;
    await takeLimit(this.bulwark, state, own);
    const signal = state.admission.signal; // a client that left while the limit's store answered
    if (signal.aborted) throw signal.reason;
    return true;
  }
}
