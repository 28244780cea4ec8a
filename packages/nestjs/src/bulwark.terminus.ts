import type { Bulwark } from '@bulwark/core';
import { Inject, Injectable } from '@nestjs/common';
import { BULWARK } from './bulwark.constants.js';

/** A `@nestjs/terminus` indicator result (structurally `HealthIndicatorResult`; terminus is not imported). */
export type BulwarkIndicatorResult = Record<
  string,
  { status: 'up' | 'degraded' | 'down' } & Record<string, unknown>
>;

/**
 * `@nestjs/terminus` indicators for Bulwark's dependencies and breakers, read from cached state (no
 * check runs). Add it to the providers of the module that imports `TerminusModule`.
 * @example
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.bulwark.dependencies(), () => this.bulwark.breaker('payments-api')]); }
 */
@Injectable()
export class BulwarkHealthIndicator {
  constructor(@Inject(BULWARK) private readonly bulwark: Bulwark) {}

  /** Every registered dependency under `key`: `down` when a core one is, `degraded` when another one is. */
  dependencies(key = 'bulwark'): BulwarkIndicatorResult {
    const r = this.bulwark.health.report();
    const deps = Object.fromEntries(r.dependencies.map((d) => [d.name, d.detail ?? d.status]));
    return { [key]: { status: r.status, ...deps } };
  }

  /** One dependency (key: its name): `down` while it is down (`degraded` for an optional or stretch one). */
  dependency(name: string): BulwarkIndicatorResult {
    const d = this.bulwark.health.report().dependencies.find((x) => x.name === name);
    if (d === undefined)
      throw new TypeError(`Unknown Bulwark dependency '${name}'; register it with bulwark.health.register.`);
    const down = d.status === 'down';
    const status = !down ? 'up' : d.criticality === 'core' ? 'down' : 'degraded';
    return { [name]: { status, ...(down ? { code: d.code, detail: d.detail } : {}) } };
  }

  /** A policy's circuit breaker (key: the policy name): `down` while open, `degraded` while half-open. */
  breaker(policy: string): BulwarkIndicatorResult {
    const state = this.bulwark.breaker(policy).state();
    return {
      [policy]: { status: state === 'open' ? 'down' : state === 'half-open' ? 'degraded' : 'up', state },
    };
  }
}
