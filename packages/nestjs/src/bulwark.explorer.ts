import 'reflect-metadata';
import {
  type Bulwark,
  bulkhead,
  type Closeable,
  circuitBreaker,
  fallback,
  type Policy,
  pipeline,
  retry,
  timeout,
} from '@bulwark/core';
import { Inject, Injectable } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { BULWARK, BULWARK_LAYERS, LAYER_ORDER } from './bulwark.constants.js';
import type { PolicyLayer } from './bulwark.decorator.js';
import { callFrames, currentSignal } from './bulwark.signal.js';

type AnyFn = (...args: unknown[]) => unknown;

/**
 * Finds every decorated method on every static controller and provider and replaces it, on the
 * instance, with a wrapper running it through its composed policy (built once per method).
 * Runs before Nest registers routes, so route handlers get the wrapper too.
 */
@Injectable()
export class BulwarkExplorer {
  private readonly wrapped = new WeakSet<object>();
  private readonly sharedBreakers = new Map<string, Policy>();
  /** Policies built here (not the registry's); closed on shutdown. */
  private readonly owned: Policy[] = [];
  /** Policies taken from the registry; `bulwark.close()` closes those. */
  private readonly registry = new WeakSet<Policy>();

  constructor(
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(MetadataScanner) private readonly scanner: MetadataScanner,
    @Inject(BULWARK) private readonly bulwark: Bulwark,
  ) {}

  /** Wraps every decorated method once; throws one error listing every misconfiguration. */
  explore(): void {
    const problems: string[] = [];
    for (const wrapper of [...this.discovery.getControllers(), ...this.discovery.getProviders()]) {
      const instance: unknown = wrapper.instance;
      // Request-scoped and transient instances are created per request/consumer: not wrapped.
      if (typeof instance !== 'object' || instance === null || !wrapper.isDependencyTreeStatic()) continue;
      if (this.wrapped.has(instance)) continue;
      this.wrapped.add(instance);
      const proto: object = Object.getPrototypeOf(instance);
      for (const method of this.scanner.getAllMethodNames(proto)) {
        const layers: PolicyLayer[] | undefined = Reflect.getMetadata(BULWARK_LAYERS, proto, method);
        if (!layers) continue;
        try {
          this.wrap(instance as Record<string, unknown>, method, layers);
        } catch (e) {
          problems.push(`${instance.constructor.name}.${method}: ${(e as Error).message}`);
        }
      }
    }
    if (problems.length > 0) {
      throw new Error(`Bulwark: invalid resilience decorators:\n  - ${problems.join('\n  - ')}`);
    }
  }

  /** Closes the policies built for decorators (bulkhead queues, breaker clocks). */
  async close(): Promise<void> {
    await Promise.all(this.owned.map((p) => (p as Partial<Closeable>).close?.()));
    this.owned.length = 0;
  }

  private wrap(instance: Record<string, unknown>, method: string, layers: PolicyLayer[]): void {
    const original = instance[method] as AnyFn;
    const label = `${instance.constructor.name}.${method}`;
    const sorted = [...layers].sort((a, b) => LAYER_ORDER.indexOf(a.kind) - LAYER_ORDER.indexOf(b.kind));
    sorted.forEach((l, i) => {
      if (sorted[i + 1]?.kind === l.kind)
        throw new Error(`more than one @${decoratorName(l)}; use one per method`);
    });
    const policies = sorted.map((l) => {
      const p = this.build(l, instance, original, label);
      if (!this.registry.has(p) && !this.owned.includes(p)) this.owned.push(p);
      return p;
    });
    const policy = policies.length === 1 ? (policies[0] as Policy) : pipeline(...policies);

    function bulwarkWrapped(this: unknown, ...args: unknown[]): Promise<unknown> {
      const self = this ?? instance;
      const signal = currentSignal();
      return callFrames.run({ args, signal }, () =>
        policy.execute(
          (inner) => callFrames.run({ args, signal: inner }, () => original.apply(self, args)),
          signal ? { signal } : undefined,
        ),
      );
    }
    // Nest reads route metadata (@HttpCode, @Header, @SetMetadata...) from the handler it calls.
    for (const key of Reflect.getOwnMetadataKeys(original)) {
      Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, original), bulwarkWrapped);
    }
    Object.defineProperty(bulwarkWrapped, 'name', { value: original.name });
    Object.defineProperty(instance, method, { value: bulwarkWrapped, writable: true, configurable: true });
  }

  private build(l: PolicyLayer, instance: Record<string, unknown>, original: AnyFn, label: string): Policy {
    switch (l.kind) {
      case 'policy':
        return this.named(l.name, '@UsePolicy');
      case 'timeout':
        return timeout({ name: `${label}:timeout`, timeout: l.duration, events: this.bulwark.events });
      case 'retry':
        return retry({ name: `${label}:retry`, ...l.options, events: this.bulwark.events });
      case 'bulkhead':
        return bulkhead({ name: `${label}:bulkhead`, ...l.options, events: this.bulwark.events });
      case 'circuitBreaker':
        return this.breaker(l, label);
      case 'fallback': {
        const fn = fallbackFunction(l.handler, instance, original);
        return fallback({
          name: `${label}:fallback`,
          events: this.bulwark.events,
          fallback: (error: unknown) => fn.call(instance, error, ...(callFrames.getStore()?.args ?? [])),
        });
      }
    }
  }

  private named(name: string, decorator: string): Policy {
    if (!this.bulwark.has(name)) {
      throw new Error(
        `${decorator}('${name}') names no registered policy; declare it under \`policies\` in BulwarkModule.forRoot(...)`,
      );
    }
    const policy = this.bulwark.policy(name);
    this.registry.add(policy);
    return policy;
  }

  private breaker(l: Extract<PolicyLayer, { kind: 'circuitBreaker' }>, label: string): Policy {
    if (l.name === undefined)
      return circuitBreaker({ name: `${label}:breaker`, ...l.options, events: this.bulwark.events });
    if (l.options === undefined) return this.named(l.name, '@CircuitBreaker');
    let shared = this.sharedBreakers.get(l.name);
    if (!shared) {
      shared = circuitBreaker({ ...l.options, name: l.name, events: this.bulwark.events });
      this.sharedBreakers.set(l.name, shared);
    }
    return shared;
  }
}

function decoratorName(l: PolicyLayer): string {
  return l.kind === 'policy' ? 'UsePolicy' : l.kind[0]?.toUpperCase() + l.kind.slice(1);
}

/** Resolves and checks a `@Fallback` handler: it gets `(error, ...args)`, so at most one more parameter than the method. */
function fallbackFunction(handler: unknown, instance: Record<string, unknown>, original: AnyFn): AnyFn {
  const fn = typeof handler === 'string' ? instance[handler] : handler;
  const what =
    typeof handler === 'string' ? `@Fallback('${handler}'): method '${handler}'` : '@Fallback(handler)';
  if (typeof fn !== 'function') {
    throw new Error(
      `${what} is ${typeof handler === 'string' && fn === undefined ? 'not defined on the class' : `not a function (got ${typeof fn})`}; expected a method (error, ...args) => value`,
    );
  }
  if (fn.length > original.length + 1) {
    throw new Error(
      `${what} declares ${fn.length} parameters but receives at most ${original.length + 1} (error, ...the method's ${original.length} arguments)`,
    );
  }
  return fn as AnyFn;
}
