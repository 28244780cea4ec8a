/**
 * A test helper that fails a named dependency for a while: its health is overridden `down` (so
 * `/readyz` and `/health` say so, with the reason) and the policies that call it fail every call
 * through chaos (so the code paths that meet the outage run: retry, breaker, fallback, degraded
 * answers). `restore()` (or `forMs`) puts both back as they were.
 */
import { type ChaosOptions, type ChaosPolicy, chaos as makeChaos } from '../policies/chaos.js';
import type { Bulwark } from '../registry/bulwark.js';
import { type Duration, toMs } from '../util/duration.js';

/** Options of {@link failDependency}. */
export interface FailDependencyOptions {
  /** Why, shown in the health report. Default `'failed by failDependency (fault injection)'`. */
  reason?: string;
  /** Lifts by itself after this long. Default: until `restore()`. */
  forMs?: Duration;
  /** The policies to fail, or `false` for health only. Default: the policies the dependency names (`register(name, { policies })`). */
  policies?: readonly string[] | false;
  /** The fault those policies inject. Default `{ errorRate: 1 }`: every call fails with `DOWNSTREAM_ERROR`. */
  chaos?: ChaosOptions;
}

/** A dependency failed by {@link failDependency}. */
export interface FailedDependency {
  /** The policies failing with it. */
  readonly policies: readonly string[];
  /** Lifts the override and gives the policies back their own chaos (or none). Idempotent. */
  restore(): void;
}

/**
 * Fails the dependency `name` (registered in `bulwark.health`) for a while: health override `down`,
 * and chaos on the policies that call it. Chaos is refused while `NODE_ENV=production` unless
 * `chaos.allowInProduction`.
 * @example
 * const outage = failDependency(bulwark, 'redis', { forMs: '30s', reason: 'game day' });
 * // ... /readyz, /health and the routes using the 'cache' policy see Redis down ...
 * outage.restore();
 */
export function failDependency(
  bulwark: Bulwark,
  name: string,
  options: FailDependencyOptions = {},
): FailedDependency {
  const reason = options.reason ?? 'failed by failDependency (fault injection)';
  const forMs = options.forMs === undefined ? undefined : toMs(options.forMs, 'failDependency forMs');
  const health = bulwark.health;
  const named =
    options.policies === false
      ? []
      : [...(options.policies ?? health.report().dependencies.find((d) => d.name === name)?.policies ?? [])];
  // Fails first, before touching anything: an unknown dependency or a refused chaos changes nothing.
  health.status(name);
  const faults = named.map((p): [string, ChaosPolicy] => [
    p,
    makeChaos({ errorRate: 1, ...options.chaos, name: p, events: bulwark.events }),
  ]);
  health.override(name, { status: 'down', reason, ...(forMs === undefined ? {} : { forMs }) });
  const before = faults.map(([p, c]) => [p, bulwark.chaos.replace(p, c)] as const);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    if (timer !== undefined) clearTimeout(timer);
    for (const [p, c] of before) bulwark.chaos.replace(p, c);
    try {
      health.override(name, undefined);
    } catch {
      // Closed meanwhile: nothing left to lift.
    }
  };
  if (forMs !== undefined) {
    timer = setTimeout(restore, forMs);
    // A test's outage never keeps the process alive.
    timer.unref();
  }
  return { policies: named, restore };
}
