import 'reflect-metadata';
import { type Bulwark, InvalidConfigError, type Policy, type PolicyConfig, pipeline } from '@bulwark/core';
import type { ProtectedRoute } from '@bulwark/core/adapter';
import { Inject, Injectable } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { BULWARK, BULWARK_LAYERS, BULWARK_RATE_LIMIT } from './bulwark.constants.js';
import type { PolicyLayer } from './bulwark.decorator.js';
import { resilient } from './bulwark.invoke.js';

type AnyFn = (...args: unknown[]) => unknown;
type Reference = { name: string; decorator: string; config?: PolicyConfig };

/**
 * Finds every decorated method on every static controller and provider, turns its decorators into
 * one policy config, defines it in the registry as `Class.method` (core validates, orders and builds
 * it), and replaces the method on the instance with a wrapper running it through that policy.
 * Runs before Nest registers routes, so route handlers get the wrapper too.
 */
@Injectable()
export class BulwarkExplorer {
  private readonly wrapped = new WeakSet<object>();
  /** Each rate-limited handler's validated route (read by the rate-limit guard). */
  readonly routes = new WeakMap<object, ProtectedRoute>();

  constructor(
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(MetadataScanner) private readonly scanner: MetadataScanner,
    @Inject(BULWARK) private readonly bulwark: Bulwark,
  ) {}

  /** Wraps every decorated method once; throws one error listing every misconfiguration. */
  explore(): void {
    const problems: string[] = [];
    const controllers = new Set(this.discovery.getControllers());
    for (const wrapper of [...controllers, ...this.discovery.getProviders()]) {
      const instance = wrapper.instance as Record<string, unknown> | null | undefined;
      // Request-scoped and transient instances are created per request/consumer: not wrapped.
      if (typeof instance !== 'object' || instance === null || !wrapper.isDependencyTreeStatic()) continue;
      if (this.wrapped.has(instance)) continue;
      this.wrapped.add(instance);
      const proto: object = Object.getPrototypeOf(instance);
      for (const method of this.scanner.getAllMethodNames(proto)) {
        const layers: PolicyLayer[] | undefined = Reflect.getMetadata(BULWARK_LAYERS, proto, method);
        const label = `${instance.constructor.name}.${method}`;
        try {
          if (layers) this.wrap(instance, method, label, layers);
          if (controllers.has(wrapper)) this.protect(instance, method);
        } catch (e) {
          const lines = e instanceof InvalidConfigError ? e.issues.map(issueLine) : [(e as Error).message];
          for (const line of lines) problems.push(`${label}: ${line}`);
        }
      }
    }
    if (problems.length > 0)
      throw new Error(`Bulwark: invalid resilience decorators:\n  - ${problems.join('\n  - ')}`);
  }

  private wrap(
    instance: Record<string, unknown>,
    method: string,
    label: string,
    layers: PolicyLayer[],
  ): void {
    const original = instance[method] as AnyFn;
    const returnsPromise = returnKind(Object.getPrototypeOf(instance), method, original);
    const { config, ref } = toConfig(layers);
    for (const l of layers) if (l.kind === 'fallback') checkFallback(l.handler, instance, original);
    const named = ref && this.reference(ref);
    // Defining the same config again is idempotent; a conflicting one throws (core decides).
    const own = Object.keys(config).length > 0 && this.bulwark.define(label, config);
    const wrapper = resilient(
      own && named ? pipeline(own, named) : ((own || named) as Policy),
      original,
      returnsPromise,
    );
    // Nest reads route metadata (@HttpCode, @Header, @SetMetadata...) from the handler it calls.
    for (const key of Reflect.getOwnMetadataKeys(original)) {
      Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, original), wrapper);
    }
    Object.defineProperty(wrapper, 'name', { value: original.name });
    Object.defineProperty(instance, method, { value: wrapper, writable: true, configurable: true });
  }

  /** A handler's route protection from `@RateLimit()` / `@SkipRateLimit()` (its own, else its controller's), validated by core now. */
  private protect(instance: Record<string, unknown>, method: string): void {
    const handler = instance[method] as AnyFn;
    const limit =
      Reflect.getMetadata(BULWARK_RATE_LIMIT, handler) ??
      Reflect.getMetadata(BULWARK_RATE_LIMIT, instance.constructor);
    if (limit !== undefined)
      this.routes.set(handler, this.bulwark.http.route(limit === true ? {} : { rateLimit: limit }));
  }

  private reference(ref: Reference): Policy {
    if (ref.config) return this.bulwark.define(ref.name, ref.config);
    if (this.bulwark.has(ref.name)) return this.bulwark.policy(ref.name);
    throw new Error(
      `${ref.decorator}('${ref.name}') names no registered policy; declare it under \`policies\` in BulwarkModule.forRoot(...)`,
    );
  }
}

/** The method's own decorators as one config (core orders them), and the named policy it references (nearest the call). */
function toConfig(layers: PolicyLayer[]): { config: PolicyConfig; ref?: Reference } {
  const config: PolicyConfig = {};
  let ref: Reference | undefined;
  const seen = new Set<string>();
  for (const l of layers) {
    const named = l.kind === 'policy' || (l.kind === 'circuitBreaker' && l.name !== undefined);
    const what = named
      ? 'named policy (@UsePolicy or @CircuitBreaker(name))'
      : `@${l.kind[0]?.toUpperCase()}${l.kind.slice(1)}`;
    if (seen.has(what)) throw new Error(`more than one ${what}; use one per method`);
    seen.add(what);
    if (l.kind === 'policy') ref = { name: l.name, decorator: '@UsePolicy' };
    else if (l.kind === 'circuitBreaker' && l.name !== undefined) {
      const shared = l.options ? { config: { circuitBreaker: l.options } } : {};
      ref = { name: l.name, decorator: '@CircuitBreaker', ...shared };
    } else if (l.kind === 'circuitBreaker') config.circuitBreaker = l.options ?? true;
    else if (l.kind === 'fallback') config.fallback = l.fallback;
    else if (l.kind === 'timeout') config.timeout = l.duration;
    else config[l.kind] = l.options;
  }
  return ref ? { config, ref } : { config };
}

const issueLine = (i: InvalidConfigError['issues'][number]) =>
  `${i.path}: expected ${i.expected}, got ${i.received}${i.fix ? ` (fix: ${i.fix})` : ''}`;

/** True when the method surely returns a Promise (`async`, or a Promise-like emitted return type); throws for a plain value type. */
function returnKind(proto: object, method: string, original: AnyFn): boolean {
  const type: unknown = Reflect.getMetadata('design:returntype', proto, method);
  if (original.constructor.name === 'AsyncFunction') return true;
  if (typeof type !== 'function' || type === Object) return false;
  const p = type.prototype as Record<string, unknown> | undefined;
  if (typeof p?.then === 'function' || typeof p?.subscribe === 'function')
    return typeof p?.then === 'function';
  throw new Error(
    `returns ${type.name}, but a resilient call is asynchronous; declare it \`async\` (returning Promise<${type.name}>) or return an Observable`,
  );
}

/** A `@Fallback` handler gets `(error, ...args)`: a function with at most one more parameter than the method. */
function checkFallback(handler: unknown, instance: Record<string, unknown>, original: AnyFn): void {
  const fn = typeof handler === 'string' ? instance[handler] : handler;
  const what =
    typeof handler === 'string' ? `@Fallback('${handler}'): method '${handler}'` : '@Fallback(handler)';
  if (typeof fn !== 'function') {
    const got =
      typeof handler === 'string' && fn === undefined
        ? 'not defined on the class'
        : `not a function (got ${typeof fn})`;
    throw new Error(`${what} is ${got}; expected a method (error, ...args) => value`);
  }
  if (fn.length > original.length + 1) {
    throw new Error(
      `${what} declares ${fn.length} parameters but receives at most ${original.length + 1} (error, ...the method's ${original.length} arguments)`,
    );
  }
}
