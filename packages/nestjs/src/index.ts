export { BULWARK } from './bulwark.constants.js';
export {
  Bulkhead,
  CircuitBreaker,
  Fallback,
  type FallbackHandler,
  InjectBulwark,
  type ResilienceDecorator,
  Retry,
  TimeLimit,
  Timeout,
  UsePolicy,
} from './bulwark.decorator.js';
export { BulwarkExplorer } from './bulwark.explorer.js';
export { BulwarkExceptionFilter } from './bulwark.filter.js';
export { BulwarkIdempotencyInterceptor, Idempotent } from './bulwark.idempotency.js';
export { BulwarkLogger } from './bulwark.logger.js';
export { BulwarkMiddleware } from './bulwark.middleware.js';
export {
  BulwarkModule,
  type BulwarkModuleAsyncOptions,
  type BulwarkModuleOptions,
} from './bulwark.module.js';
export {
  BulwarkRateLimitGuard,
  RateLimit,
  type RouteRateLimit,
  SkipRateLimit,
} from './bulwark.rate-limit.js';
export { currentSignal } from './bulwark.signal.js';
export { BulwarkHealthIndicator, type BulwarkIndicatorResult } from './bulwark.terminus.js';
