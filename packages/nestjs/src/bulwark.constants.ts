/** Injection token of the core `Bulwark` instance provided by `BulwarkModule`. */
export const BULWARK = Symbol.for('bulwark.nestjs.instance');

/** Metadata key under which the resilience decorators record their layers on a method. */
export const BULWARK_LAYERS = 'bulwark:layers';

/**
 * The fixed order in which decorator layers compose, outermost first, whatever order they are
 * written in: the industry's standard order, with a named policy (`@UsePolicy`) nearest the call.
 */
export const LAYER_ORDER = ['fallback', 'timeout', 'retry', 'circuitBreaker', 'bulkhead', 'policy'] as const;
