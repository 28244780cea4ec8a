/** Injection token of the core `Bulwark` instance provided by `BulwarkModule`. */
export const BULWARK = Symbol.for('bulwark.nestjs.instance');

/** Metadata key under which the resilience decorators record their layers on a method. */
export const BULWARK_LAYERS = 'bulwark:layers';
