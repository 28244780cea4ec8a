/**
 * `bulwark.chaos`: fault injection on named policies, switched at run time (a test, an operator's
 * game day, the `failDependency` helper). The chaos of a policy sits innermost, around the
 * operation itself, whether it came from config (`policies.<name>.chaos`) or from `set`.
 */
import { BulwarkError } from '../errors/bulwark-error.js';
import { type ChaosOptions, type ChaosPolicy, type ChaosStats, chaos } from '../policies/chaos.js';
import type { EventStream } from '../telemetry/events.js';
import type { NamedPolicy } from './build.js';

/** The run-time switches of fault injection on named policies. */
export interface ChaosControl {
  /**
   * Sets the faults of the named policy (creating its chaos, innermost, when it has none; replacing
   * the settings when it has). Refused while `NODE_ENV=production` unless `allowInProduction: true`.
   */
  set(policy: string, options: ChaosOptions): ChaosPolicy;
  /** The chaos of the named policy, if it has one. */
  get(policy: string): ChaosPolicy | undefined;
  /** Installs `chaos` (one made with `chaos()`, or undefined for none) on the named policy; returns the one it replaced. */
  replace(policy: string, chaos: ChaosPolicy | undefined): ChaosPolicy | undefined;
  /** Turns injection on for the named policy, or for every policy that has chaos. */
  enable(policy?: string): void;
  /** Turns injection off for the named policy, or for every policy. */
  disable(policy?: string): void;
  /** Removes the chaos of the named policy, or of every policy. */
  clear(policy?: string): void;
  /** Every policy with chaos: whether it injects, and what it injected so far. */
  status(): Record<string, ChaosStats & { enabled: boolean }>;
}

/** What the control needs from the registry. */
export interface ChaosHost {
  /** The named policy, built (throws UNKNOWN_POLICY for a name not declared). */
  named(name: string): NamedPolicy;
  /** The policies built so far. */
  builtNames(): string[];
  /** The registry's stream. */
  readonly events: EventStream;
}

/** Creates `bulwark.chaos` over a registry. */
export function chaosControl(host: ChaosHost): ChaosControl {
  const withChaos = (): [string, ChaosPolicy][] =>
    host.builtNames().flatMap((n) => {
      const c = host.named(n).chaos;
      return c === undefined ? [] : [[n, c] as [string, ChaosPolicy]];
    });
  const one = (name: string): ChaosPolicy => {
    const c = host.named(name).chaos;
    if (c === undefined) {
      throw new BulwarkError('UNKNOWN_POLICY', {
        message: `Policy '${name}' has no chaos to switch.`,
        suggestion: `Give it faults first: bulwark.chaos.set('${name}', { errorRate: 1 }) (or \`chaos\` under policies.${name}).`,
        policy: name,
      });
    }
    return c;
  };
  return {
    set(name, options) {
      const p = host.named(name);
      if (p.chaos !== undefined) p.chaos.set({ ...options, name });
      else p.chaos = chaos({ events: host.events, ...options, name });
      return p.chaos;
    },
    get: (name) => host.named(name).chaos,
    replace(name, next) {
      const p = host.named(name);
      const before = p.chaos;
      p.chaos = next;
      return before;
    },
    enable(name) {
      if (name !== undefined) one(name).enable();
      else for (const [, c] of withChaos()) c.enable();
    },
    disable(name) {
      if (name !== undefined) host.named(name).chaos?.disable();
      else for (const [, c] of withChaos()) c.disable();
    },
    clear(name) {
      if (name !== undefined) host.named(name).chaos = undefined;
      else for (const [n] of withChaos()) host.named(n).chaos = undefined;
    },
    status: () => Object.fromEntries(withChaos().map(([n, c]) => [n, { enabled: c.enabled, ...c.stats() }])),
  };
}
