import type { Bulwark } from '@bulwark/core';
import type { ProtectedRoute, RouteProtection } from '@bulwark/core/adapter';
import { type CanActivate, type ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { BULWARK, BULWARK_RATE_LIMIT } from './bulwark.constants.js';
import { BulwarkExplorer } from './bulwark.explorer.js';
import { admitted } from './bulwark.middleware.js';

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

/**
 * Global guard taking each route's rate limit (the route's own, or the app-wide `http.rateLimit`,
 * which the middleware leaves to it) through core's `protect`; a refusal is a 429 problem.
 */
@Injectable()
export class BulwarkRateLimitGuard implements CanActivate {
  private route: ProtectedRoute | undefined;

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
    const http = this.bulwark.http;
    this.route ??= http.route({});
    await http.protect(state.admission, own ?? this.route, () => undefined);
    const signal = state.admission.signal; // a client that left while the limit's store answered
    if (signal.aborted) throw signal.reason;
    return true;
  }
}
