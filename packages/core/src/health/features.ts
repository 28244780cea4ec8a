/**
 * Feature toggles and the service-wide degraded mode (`bulwark.features`, `bulwark.degraded()`).
 * A feature is off while its toggle is off or one of its dependencies is down; the service is
 * degraded while any dependency is down or an operator forces it. Every state is computed when
 * something changes (a toggle, a health status), so `isEnabled()` and the per-request degraded
 * marking read one cached value.
 */
import { degradedValue } from '../http/inbound.js';
import type { EventStream } from '../telemetry/events.js';
import { closest } from '../util/checks.js';
import { NAME_RE } from './options.js';
import type { Health } from './registry.js';
import type { DependencyCriticality } from './types.js';

/** Most features one registry holds. */
export const MAX_FEATURES = 256;

/** What `features.define(name, options)` takes. */
export interface FeatureOptions {
  /** Dependencies the feature needs: while one is down, the feature is off. */
  dependsOn?: readonly string[];
  /** The toggle's first position. Default true. */
  enabled?: boolean;
}

/** One feature as `features.list()` shows it. */
export interface FeatureState {
  /** Its name. */
  name: string;
  /** On now: its toggle is on and none of its dependencies is down. */
  enabled: boolean;
  /** The toggle's position. */
  toggle: boolean;
  /** Why it is off (absent when on). */
  reason?: string;
  /** Dependencies it needs. */
  dependsOn: string[];
}

/** What `bulwark.degraded()` answers. */
export interface DegradedReport {
  /** True while the service is degraded: a dependency is down, or an operator forced it. */
  active: boolean;
  /** Why, one sentence each (empty when not degraded). */
  reasons: string[];
  /** The features that are off, and why. */
  features: { name: string; reason: string }[];
  /** The dependencies that are down. */
  dependencies: { name: string; criticality: DependencyCriticality; detail: string }[];
  /** The operator's reason, while degraded mode is forced. */
  forced?: string;
}

/** What each admitted request reads while the service is degraded (one object, replaced on change). */
export interface DegradedMarks {
  /** The reasons for the request context and the degraded header: `feature:<name>` per feature off, else `degraded`. */
  readonly reasons: readonly string[];
  /** The features that are off. */
  readonly featuresOff: readonly string[];
  /** The degraded header's value for `reasons`. */
  readonly header: string;
}

/** `bulwark.features`: toggles that turn off with their dependencies, switchable at run time. */
export interface FeatureToggles {
  /** Declares a feature (its dependencies must be registered); throws for a bad or repeated name. */
  define(name: string, options?: FeatureOptions): void;
  /** Switches a feature's toggle at run time (a `feature.changed` event when that changes whether it is on). */
  set(name: string, enabled: boolean): void;
  /** True when the feature's toggle is on and none of its dependencies is down. Throws for an unknown name. */
  isEnabled(name: string): boolean;
  /** Every feature, in definition order. */
  list(): FeatureState[];
  /** Forces the service-wide degraded mode with a reason (an operator's switch); `undefined` lifts it. */
  forceDegraded(reason: string | undefined): void;
}

interface Feature {
  readonly name: string;
  readonly dependsOn: readonly string[];
  toggle: boolean;
  enabled: boolean;
  reason: string | undefined;
}

export class Features implements FeatureToggles {
  private readonly features = new Map<string, Feature>();
  private forced: string | undefined;
  private active = false;
  /** Undefined while the service is not degraded. */
  private current: DegradedMarks | undefined;

  constructor(
    private readonly health: Health,
    private readonly events: EventStream,
  ) {
    health.onChange(() => this.recompute());
  }

  /** What the HTTP engine marks each request with; undefined while not degraded. */
  get marks(): DegradedMarks | undefined {
    return this.current;
  }

  define(name: string, options: FeatureOptions = {}): void {
    if (typeof name !== 'string' || !NAME_RE.test(name))
      throw new TypeError(
        `Expected a feature name of letters, digits and . _ : - (1 to 64, starting with a letter or digit); got ${JSON.stringify(name)}.`,
      );
    if (this.features.has(name))
      throw new TypeError(`Feature '${name}' is already defined; define each feature once.`);
    if (this.features.size >= MAX_FEATURES)
      throw new TypeError(`At most ${MAX_FEATURES} features can be defined.`);
    const registered = this.health.names();
    const dependsOn = [...(options.dependsOn ?? [])];
    for (const dep of dependsOn) {
      if (registered.includes(dep)) continue;
      const near = closest(String(dep), registered);
      throw new TypeError(
        `Feature '${name}' depends on ${JSON.stringify(dep)}, which is not a registered dependency${near ? `; did you mean '${near}'?` : ''}. Register it first with bulwark.health.register.`,
      );
    }
    if (options.enabled !== undefined && typeof options.enabled !== 'boolean')
      throw new TypeError(
        `Expected features.define('${name}').enabled to be true or false; got ${JSON.stringify(options.enabled)}.`,
      );
    this.features.set(name, {
      name,
      dependsOn,
      toggle: options.enabled ?? true,
      enabled: true,
      reason: undefined,
    });
    this.recompute(true);
  }

  set(name: string, enabled: boolean): void {
    if (typeof enabled !== 'boolean')
      throw new TypeError(
        `Expected features.set('${name}', enabled) to get true or false; got ${JSON.stringify(enabled)}.`,
      );
    this.feature(name).toggle = enabled;
    this.recompute();
  }

  isEnabled(name: string): boolean {
    return this.feature(name).enabled;
  }

  list(): FeatureState[] {
    return [...this.features.values()].map((f) => ({
      name: f.name,
      enabled: f.enabled,
      toggle: f.toggle,
      ...(f.reason === undefined ? {} : { reason: f.reason }),
      dependsOn: [...f.dependsOn],
    }));
  }

  forceDegraded(reason: string | undefined): void {
    if (reason !== undefined && (typeof reason !== 'string' || reason.trim() === ''))
      throw new TypeError(
        'Expected forceDegraded(reason) to get a non-empty reason, or undefined to lift it.',
      );
    this.forced = reason?.slice(0, 200);
    this.recompute();
  }

  /** The degraded report (`bulwark.degraded()`). */
  report(): DegradedReport {
    const dependencies: DegradedReport['dependencies'] = [];
    for (const name of this.health.names()) {
      if (this.health.status(name) !== 'down') continue;
      dependencies.push({
        name,
        criticality: this.health.criticalityOf(name) ?? 'core',
        detail: this.health.detailOf(name) ?? 'down',
      });
    }
    const features: DegradedReport['features'] = [];
    for (const f of this.features.values())
      if (!f.enabled) features.push({ name: f.name, reason: f.reason ?? 'off' });
    const reasons: string[] = [];
    if (this.forced !== undefined) reasons.push(`forced by an operator: ${this.forced}`);
    for (const d of dependencies)
      reasons.push(`${d.criticality} dependency '${d.name}' is down: ${d.detail}`);
    return {
      active: this.active,
      reasons: this.active ? reasons : [],
      features,
      dependencies,
      ...(this.forced === undefined ? {} : { forced: this.forced }),
    };
  }

  private feature(name: string): Feature {
    const f = this.features.get(name);
    if (f !== undefined) return f;
    const near = closest(String(name), [...this.features.keys()]);
    throw new TypeError(
      `Unknown feature ${JSON.stringify(name)}.${near ? ` Did you mean '${near}'?` : ''} Define it with bulwark.features.define(name, { dependsOn }).`,
    );
  }

  /** Recomputes each feature and the degraded mode; emits an event per change (`quiet`: a new feature's first state). */
  private recompute(quiet = false): void {
    const events = this.events;
    const off: string[] = [];
    for (const f of this.features.values()) {
      let reason: string | undefined = f.toggle ? undefined : 'its toggle is off';
      if (reason === undefined) {
        for (const dep of f.dependsOn) {
          if (this.health.status(dep) === 'down') {
            reason = `its dependency '${dep}' is down`;
            break;
          }
        }
      }
      const enabled = reason === undefined;
      const was = f.enabled;
      f.enabled = enabled;
      f.reason = reason;
      if (!enabled) off.push(f.name);
      if (was !== enabled && !quiet && events.active)
        events.emit({
          type: 'feature.changed',
          policy: 'features',
          feature: f.name,
          enabled,
          ...(reason === undefined ? {} : { reason }),
        });
    }
    let anyDown = false;
    for (const name of this.health.names()) {
      if (this.health.status(name) === 'down') {
        anyDown = true;
        break;
      }
    }
    const active = this.forced !== undefined || anyDown;
    const reasons = off.length === 0 ? ['degraded'] : off.map((n) => `feature:${n}`);
    const same =
      this.current !== undefined &&
      this.current.reasons.length === reasons.length &&
      this.current.reasons.every((r, i) => r === reasons[i]);
    if (!active) this.current = undefined;
    else if (!same)
      this.current = Object.freeze({
        reasons: Object.freeze(reasons),
        featuresOff: Object.freeze(off),
        header: degradedValue(reasons),
      });
    if (active !== this.active) {
      this.active = active;
      if (events.active)
        events.emit({ type: 'degraded.changed', policy: 'features', active, reasons: this.report().reasons });
    }
  }
}
