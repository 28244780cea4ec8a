/** Injection token of the core `Bulwark` instance provided by `BulwarkModule`. */
export const BULWARK = Symbol.for('bulwark.nestjs.instance');

/** Metadata key under which the resilience decorators record their layers on a method. */
export const BULWARK_LAYERS = 'bulwark:layers';

/** Metadata key of `@RateLimit()` (options, or `true`) and `@SkipRateLimit()` (`false`). */
export const BULWARK_RATE_LIMIT = 'bulwark:rate-limit';
