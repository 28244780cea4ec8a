/**
 * The registry: named policies built from declarative config (code < YAML file < env vars),
 * validated once at start-up, each built once on first use and run by name.
 */
import { type BulwarkFetchInit, resilientFetch } from '../client/fetch.js';
import { BulwarkError, CancelledError, InvalidConfigError } from '../errors/bulwark-error.js';
import { createHttpEngine, type HttpEngine } from '../http/engine.js';
import type { CircuitBreakerPolicy } from '../policies/circuit-breaker.js';
import { MemoryStore } from '../stores/memory-store.js';
import type { Store } from '../stores/store.js';
import { EventStream } from '../telemetry/events.js';
import type { Closeable, ExecuteOptions, Operation, Policy } from '../types.js';
import { closest } from '../util/checks.js';
import { type BuiltPolicy, buildPolicy } from './build.js';
import type { BulwarkConfig, PolicyConfig } from './config.js';
import { type ConfigSources, type LoadedConfig, loadConfig, loadPolicy } from './sources.js';

/** Manual control and inspection of the circuit breaker inside a named policy. */
export type BreakerControl = Pick<
  CircuitBreakerPolicy,
  'state' | 'stats' | 'forceOpen' | 'forceClose' | 'disable' | 'metricsOnly' | 'reset'
>;

/** The registry of named policies, with the shared event stream, store and HTTP engine. */
export interface Bulwark extends Closeable {
  /** Runs `fn` under the named policy; rejects with `UNKNOWN_POLICY` for a name not declared. */
  run<T>(name: string, fn: Operation<T>, options?: ExecuteOptions): Promise<T>;
  /** The named policy (built on first use); throws `UNKNOWN_POLICY` for a name not declared. */
  policy(name: string): Policy;
  /** `fetch` under the named policy with context propagation; see `resilientFetch` (client/fetch.ts). */
  fetch(name: string, input: string | URL | Request, init?: BulwarkFetchInit): Promise<Response>;
  /** True when a policy of that name is declared. */
  has(name: string): boolean;
  /** The declared policy names, sorted. */
  names(): string[];
  /** The circuit breaker of the named policy; throws when the policy is unknown or has no breaker. */
  breaker(name: string): BreakerControl;
  /** Declares a policy from code after start-up (file and env settings for that name still win); throws if code already declared it. */
  define(name: string, config: PolicyConfig): Policy;
  /** The merged, validated config (code < file < env). Do not change it. */
  readonly config: Readonly<BulwarkConfig>;
  /** The stream every policy reports to. */
  readonly events: EventStream;
  /** The shared store (a MemoryStore unless one was given). */
  readonly store: Store;
  /** The inbound HTTP engine built from `config.http`, created on first access. */
  readonly http: HttpEngine;
  /** Closes every built policy, the HTTP engine, and the store if Bulwark created it. Idempotent. */
  close(): Promise<void>;
}

class Registry implements Bulwark {
  readonly events: EventStream;
  readonly store: Store;
  private readonly ownsStore: boolean;
  private readonly userStore: Store | undefined;
  private readonly declared = new Map<string, PolicyConfig>();
  private readonly fromCode = new Set<string>();
  private readonly built = new Map<string, BuiltPolicy>();
  private engine: HttpEngine | undefined;
  private closed = false;

  constructor(private readonly loaded: LoadedConfig) {
    const merged = loaded.merged;
    this.events = merged.events ?? new EventStream();
    this.userStore = merged.store;
    this.store = merged.store ?? new MemoryStore();
    this.ownsStore = merged.store === undefined;
    for (const [name, cfg] of Object.entries(merged.policies ?? {})) this.declared.set(name, cfg);
    for (const name of Object.keys(loaded.code.policies ?? {})) this.fromCode.add(name);
  }

  get config(): Readonly<BulwarkConfig> {
    return this.loaded.merged;
  }

  run<T>(name: string, fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    try {
      return this.policy(name).execute(fn, options);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  policy(name: string): Policy {
    return this.entry(name).policy;
  }

  fetch(name: string, input: string | URL | Request, init?: BulwarkFetchInit): Promise<Response> {
    return resilientFetch(this, name, input, init);
  }

  has(name: string): boolean {
    return this.declared.has(name);
  }

  names(): string[] {
    return [...this.declared.keys()].sort();
  }

  breaker(name: string): BreakerControl {
    const { breaker } = this.entry(name);
    if (!breaker) {
      throw new BulwarkError('UNKNOWN_POLICY', {
        message: `Policy '${name}' has no circuit breaker.`,
        suggestion: `Add \`circuitBreaker: true\` (or breaker options) under policies.${name}.`,
        policy: name,
      });
    }
    return breaker;
  }

  define(name: string, config: PolicyConfig): Policy {
    if (this.fromCode.has(name)) {
      throw new InvalidConfigError([
        {
          path: `policies.${name}`,
          expected: 'a policy name not declared yet',
          received: 'a name already declared in code',
          fix: 'choose another name, or change the existing declaration',
        },
      ]);
    }
    const merged = loadPolicy(this.loaded, name, config);
    const previous = this.built.get(name);
    this.built.delete(name);
    if (previous) void closeAll(previous.parts);
    this.declared.set(name, merged);
    this.fromCode.add(name);
    return this.policy(name);
  }

  get http(): HttpEngine {
    if (!this.engine) {
      if (this.closed) throw this.closedError();
      const http = this.loaded.merged.http ?? {};
      const rateLimit =
        http.rateLimit && this.userStore && !http.rateLimit.store
          ? { ...http.rateLimit, store: this.userStore }
          : http.rateLimit;
      this.engine = createHttpEngine({
        ...http,
        rateLimit,
        resolvePolicy: (name) => this.policy(name),
        events: this.events,
      });
    }
    return this.engine;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const parts = [...this.built.values()].flatMap((b) => b.parts);
    this.built.clear();
    await closeAll(parts);
    await closeAll(this.engine ? [this.engine] : []);
    if (this.ownsStore) await closeAll([this.store]);
  }

  private entry(name: string): BuiltPolicy {
    if (this.closed) throw this.closedError();
    const existing = this.built.get(name);
    if (existing) return existing;
    const cfg = this.declared.get(name);
    if (!cfg) throw this.unknown(name);
    const built = buildPolicy(name, cfg, {
      events: this.events,
      ...(this.userStore ? { store: this.userStore } : {}),
    });
    this.built.set(name, built);
    return built;
  }

  private unknown(name: string): BulwarkError {
    const known = this.names();
    const near = closest(name, known);
    return new BulwarkError('UNKNOWN_POLICY', {
      message: `No policy named '${name}'; known policies: ${known.length ? known.map((n) => `'${n}'`).join(', ') : 'none'}.`,
      suggestion: near
        ? `Did you mean '${near}'?`
        : `Declare '${name}' under \`policies\` in the Bulwark config (code, YAML file or BULWARK_POLICIES__… env vars).`,
      policy: name,
    });
  }

  private closedError(): CancelledError {
    return new CancelledError({
      message: 'This Bulwark instance is closed.',
      suggestion: 'Create a new one with createBulwark().',
    });
  }
}

async function closeAll(items: readonly unknown[]): Promise<void> {
  await Promise.allSettled(
    items.map((p) =>
      typeof (p as Partial<Closeable>).close === 'function' ? (p as Closeable).close() : undefined,
    ),
  );
}

/**
 * Creates the registry from config in code, a YAML file and `BULWARK_…` env vars (code < file < env,
 * merged deeply), validating everything once and throwing one InvalidConfigError listing every problem.
 * @example
 * const bulwark = createBulwark({
 *   policies: { 'payments-api': { timeout: '5s', retry: { maxAttempts: 3 }, circuitBreaker: true, attemptTimeout: '1s' } },
 * });
 * const res = await bulwark.run('payments-api', (signal) => fetch(url, { signal }));
 */
export function createBulwark(config?: BulwarkConfig, sources?: ConfigSources): Bulwark {
  return new Registry(loadConfig(config, sources));
}
