/**
 * The registry: named policies built from declarative config (code < YAML file < env vars),
 * validated once at start-up, each built once on first use and run by name.
 */
import { type BulwarkFetchInit, resilientFetch } from '../client/fetch.js';
import { BulwarkError, CancelledError, InvalidConfigError } from '../errors/bulwark-error.js';
import { type DegradedReport, Features, type FeatureToggles } from '../health/features.js';
import { type DrainGate, Lifecycle } from '../health/lifecycle.js';
import { resolveLifecycleOptions } from '../health/lifecycle-options.js';
import type { HealthLink } from '../health/probes.js';
import { Health, type HealthRegistry } from '../health/registry.js';
import { createHttpEngine, type HttpEngine } from '../http/engine.js';
import { productionByDefault } from '../http/options.js';
import { runBatch } from '../recovery/batch.js';
import type { BatchFn, BatchOptions } from '../recovery/batch-options.js';
import type { BatchReport } from '../recovery/batch-report.js';
import { CompensationManager } from '../recovery/compensations.js';
import { createDeadLetterQueue, type DeadLetterQueue } from '../recovery/dead-letter.js';
import type { AddDeadLetterInput } from '../recovery/dead-letter-types.js';
import { Saga, type SagaStep } from '../recovery/saga.js';
import { SagaDefinitions } from '../recovery/saga-dead-letters.js';
import { SAGA_DEAD_LETTER_TYPE, type SagaOptions } from '../recovery/saga-options.js';
import { MemoryStore } from '../stores/memory-store.js';
import type { RecordStore, RecordValue } from '../stores/records.js';
import { durableRecords } from '../stores/sqlite-records.js';
import type { Store } from '../stores/store.js';
import { EventStream } from '../telemetry/events.js';
import type { Closeable, ExecuteOptions, Operation, Policy } from '../types.js';
import { render } from '../util/checks.js';
import { type BreakerControl, type BuiltPolicy, buildPolicy } from './build.js';
import { type ChaosControl, chaosControl } from './chaos-control.js';
import type { BulwarkConfig, FallbackValue, PolicyConfig } from './config.js';
import { firstDifference } from './equal.js';
import { deepMerge } from './merge.js';
import { type ConfigSources, type LoadedConfig, loadConfig, loadPolicy } from './sources.js';
import { UnknownPolicyError, unknownPolicyConfigError } from './unknown-policy.js';

export type { BreakerControl } from './build.js';

/**
 * The registry of named policies, with the shared event stream, store and HTTP engine. `C` is the
 * config's type as written in code: where it names a policy's fallback, `run()` resolves to the
 * operation's result or that fallback's value (`Promise<T | V>`).
 */
export interface Bulwark<C extends BulwarkConfig = BulwarkConfig> extends Closeable {
  /**
   * Runs `fn` under the named policy; rejects with `UNKNOWN_POLICY` for a name not declared.
   * Without `options.key`, keyed parts (breaker, bulkhead, rate limit) use the policy name as the
   * key, as `fetch(name)` does, so `breaker(name)` reads the state both share.
   */
  run<T, N extends string = string>(
    name: N,
    fn: Operation<T>,
    options?: ExecuteOptions,
  ): Promise<T | FallbackValue<C, N>>;
  /** The named policy (built on first use); throws `UNKNOWN_POLICY` for a name not declared. */
  policy<N extends string = string>(name: N): Policy<FallbackValue<C, N>>;
  /**
   * Checks at start-up that `name` is declared; throws an InvalidConfigError naming the closest
   * declared policy (`where` names the call site in the message, e.g. `protect({ policy })`).
   */
  assertPolicy(name: string, where?: string): void;
  /** `fetch` under the named policy with context propagation; see `resilientFetch` (client/fetch.ts). */
  fetch(name: string, input: string | URL | Request, init?: BulwarkFetchInit): Promise<Response>;
  /** True when a policy of that name is declared. */
  has(name: string): boolean;
  /** The declared policy names, sorted. */
  names(): string[];
  /** The circuit breaker of the named policy (its default key is the policy name); throws when the policy is unknown or has no breaker. */
  breaker(name: string): BreakerControl;
  /**
   * Declares a policy from code: the one way to build a named policy (decorators and inline route
   * policies call it too). `defaults`, and file and env settings for that name, apply as in config.
   * Defining a name again with a structurally identical config returns the same policy (so a
   * decorator on several instances is fine); a different config throws an InvalidConfigError
   * naming the first difference.
   */
  define(name: string, config: PolicyConfig): Policy;
  /** The merged, validated config (code < file < env). Do not change it. */
  readonly config: Readonly<BulwarkConfig>;
  /** The stream every policy reports to. */
  readonly events: EventStream;
  /** The shared store (a MemoryStore unless one was given). */
  readonly store: Store;
  /** The inbound HTTP engine built from `config.http`, created on first access. */
  readonly http: HttpEngine;
  /** The health registry: dependencies, their background checks, status, report and readiness (see docs/health.md). */
  readonly health: HealthRegistry;
  /** Feature toggles that turn off while their dependencies are down. */
  readonly features: FeatureToggles;
  /** Whether the service is degraded now, which features are off and why. */
  degraded(): DegradedReport;
  /**
   * Where durable records live (config `records`); by default `durableRecords()`, opened on first
   * access, so an app that never uses recovery never creates a file.
   */
  readonly records: RecordStore;
  /**
   * Defines a saga whose log lives in `records` (a run stopped by a crash resumes by its id) and
   * whose events go to `events`; `options` may override both. See recovery/saga.ts.
   */
  saga<I extends RecordValue | undefined = RecordValue | undefined>(
    name: string,
    steps: readonly SagaStep<I>[],
    options?: SagaOptions,
  ): Saga<I>;
  /** The compensation manager (created on first access), reporting to `events`; see recovery/compensations.ts. */
  readonly compensations: CompensationManager;
  /** Graceful shutdown (`attach(server)`, signals, `shutdown()`), from `config.lifecycle`; created on first access. */
  readonly lifecycle: Lifecycle;
  /**
   * The dead-letter queue (config `recovery.deadLetters`), on `records`; created on first access
   * (or on a policy's first dead-lettered failure) and closed by `close()`.
   */
  readonly deadLetters: DeadLetterQueue;
  /**
   * Runs `fn` for every item under the named policy, checkpointing progress to `records` (every
   * 100 items or 1 s, and at the end) under the id `options.id ?? name`; see `runBatch`. Resolves
   * to the partial-success report (never rejects because an item failed).
   * @example
   * const report = await bulwark.batch('tenants-api', tenants, (t, signal) => api.sync(t, signal), {
   *   key: (t) => t.id, continueOnError: true, resume: process.argv.includes('--resume'),
   * });
   */
  batch<I, R>(
    name: string,
    items: Iterable<I>,
    fn: BatchFn<I, R>,
    options?: BatchOptions<I, R>,
  ): Promise<BatchReport>;
  /** Fault injection on named policies, switched at run time (refused in production unless allowed); see registry/chaos-control.ts. */
  readonly chaos: ChaosControl;
  /** Closes every built policy, the HTTP engine, and the stores if Bulwark created them. Idempotent. */
  close(): Promise<void>;
}

class Registry implements Bulwark {
  readonly events: EventStream;
  readonly store: Store;
  private readonly ownsStore: boolean;
  private readonly userStore: Store | undefined;
  private readonly declared = new Map<string, PolicyConfig>();
  /** Code's own config per name (config `policies` and `define`), for idempotent redefinition. */
  private readonly fromCode = new Map<string, PolicyConfig>();
  private readonly built = new Map<string, BuiltPolicy>();
  private engine: HttpEngine | undefined;
  /** The default record store, once opened by `records`. */
  private ownRecords: RecordStore | undefined;
  private compensationManager: CompensationManager | undefined;
  /** `bulwark.health` and `bulwark.features` once created: what the engine's probes and degraded marking read. */
  private readonly healthLink: HealthLink = { health: undefined, features: undefined };
  private life: Lifecycle | undefined;
  /** Read by the HTTP engine's admit(), switched by the lifecycle. */
  private readonly drainGate: DrainGate = { refusing: false };
  private dlq: DeadLetterQueue | undefined;
  /** `bulwark.deadLetters` for sagas and compensations, created on their first dead letter. */
  private readonly deadLetterSink = { add: (e: AddDeadLetterInput) => this.deadLetters.add(e) };
  private readonly sagaDefinitions = new SagaDefinitions();
  private sagaHandler = false;
  private chaosSwitches: ChaosControl | undefined;
  private closed = false;

  constructor(private readonly loaded: LoadedConfig) {
    const merged = loaded.merged;
    this.events = merged.events ?? new EventStream();
    this.userStore = merged.store;
    this.store = merged.store ?? new MemoryStore();
    this.ownsStore = merged.store === undefined;
    const defaults = merged.defaults;
    for (const [name, cfg] of Object.entries(merged.policies ?? {}))
      this.declared.set(name, defaults === undefined ? cfg : deepMerge<PolicyConfig>(defaults, cfg));
    for (const [name, cfg] of Object.entries(loaded.code.policies ?? {})) this.fromCode.set(name, cfg);
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

  assertPolicy(name: string, where = 'policy'): void {
    if (this.closed) throw this.closedError();
    if (!this.declared.has(name)) throw unknownPolicyConfigError(name, this.names(), where);
  }

  fetch(name: string, input: string | URL | Request, init?: BulwarkFetchInit): Promise<Response> {
    return resilientFetch(this, name, input, init);
  }

  /**
   * The policy's `trustDownstreamProblems`, or undefined when it says nothing (the client's own
   * setting, e.g. `createResilientFetch(b, { trustDownstreamProblems })`, then decides).
   */
  trustsDownstream(name: string): boolean | undefined {
    return this.declared.get(name)?.trustDownstreamProblems;
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
    if (this.closed) throw this.closedError();
    const earlier = this.fromCode.get(name);
    if (earlier !== undefined) {
      const diff = firstDifference(earlier, config);
      if (diff === undefined) return this.policy(name);
      const at = diff.path === '' ? `policies.${name}` : `policies.${name}.${diff.path}`;
      throw new InvalidConfigError([
        {
          path: at,
          expected: `the config '${name}' was first defined with (${render(diff.before)})`,
          received: render(diff.after),
          fix: 'a name is defined once: give this policy its own name, or define the same config again',
        },
      ]);
    }
    const merged = loadPolicy(this.loaded, name, config);
    const previous = this.built.get(name);
    this.built.delete(name);
    if (previous) void closeAll(previous.parts);
    this.declared.set(name, merged);
    this.fromCode.set(name, config);
    return this.policy(name);
  }

  get health(): Health {
    const link = this.healthLink;
    if (!link.health) {
      if (this.closed) throw this.closedError();
      const health = new Health(this.loaded.merged.health, {
        events: this.events,
        policies: () => this.names(),
        breakerState: (name) => (this.declared.has(name) ? this.entry(name).breaker?.state() : undefined),
      });
      // Created together: the degraded mode follows every dependency, features defined or not.
      link.features = new Features(health, this.events);
      link.health = health;
    }
    return link.health;
  }

  get features(): Features {
    void this.health;
    return this.healthLink.features as Features;
  }

  degraded(): DegradedReport {
    return this.features.report();
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
        definePolicy: (name, config) => this.define(name, config),
        idempotencyRecords: () => this.records.records('http.idempotency'),
        events: this.events,
        drainGate: this.drainGate,
        healthLink: this.healthLink,
      });
    }
    return this.engine;
  }

  get records(): RecordStore {
    const given = this.loaded.merged.records;
    if (given !== undefined) return given;
    if (this.ownRecords === undefined) {
      if (this.closed) throw this.closedError();
      this.ownRecords = durableRecords();
    }
    return this.ownRecords;
  }

  saga<I extends RecordValue | undefined>(
    name: string,
    steps: readonly SagaStep<I>[],
    options: SagaOptions = {},
  ): Saga<I> {
    if (this.closed) throw this.closedError();
    const defaults = {
      events: this.events,
      deadLetters: this.deadLetterSink,
      ...this.loaded.merged.recovery?.sagas,
    };
    const saga = new Saga(name, steps, { ...defaults, ...options }, { records: () => this.records });
    this.sagaDefinitions.add(saga as Saga<never>);
    this.handleSagaDeadLetters();
    return saga;
  }

  /**
   * Replaying a `saga.compensation` dead letter runs its failed undo again (recovery/
   * saga-dead-letters.ts). Registered once both a saga and the queue exist, so defining a saga
   * opens no store; a handler the app registered first for that type wins.
   */
  private handleSagaDeadLetters(): void {
    if (this.sagaHandler || !this.dlq || this.sagaDefinitions.size === 0) return;
    this.sagaHandler = true;
    try {
      this.dlq.handle(SAGA_DEAD_LETTER_TYPE, this.sagaDefinitions.handle);
    } catch {
      // The app handles the type itself.
    }
  }

  get compensations(): CompensationManager {
    if (!this.compensationManager) {
      if (this.closed) throw this.closedError();
      this.compensationManager = new CompensationManager({
        events: this.events,
        deadLetters: this.deadLetterSink,
        ...this.loaded.merged.recovery?.compensations,
      });
    }
    return this.compensationManager;
  }

  get lifecycle(): Lifecycle {
    // Never throws, even once closed: a framework's shutdown hook may still ask it to shut down (a no-op then).
    if (!this.life) {
      const merged = this.loaded.merged;
      const options = resolveLifecycleOptions(
        merged.lifecycle,
        merged.http?.production ?? productionByDefault(),
      );
      this.life = new Lifecycle(
        options,
        {
          events: this.events,
          // `/readyz` reads the health registry: draining and start-up turn readiness false there.
          readiness: () => (this.closed ? undefined : this.health),
          policy: (name) => this.policy(name),
          close: () => this.close(),
        },
        this.drainGate,
      );
    }
    return this.life;
  }

  get deadLetters(): DeadLetterQueue {
    if (this.dlq === undefined) {
      if (this.closed) throw this.closedError();
      const options = this.loaded.merged.recovery?.deadLetters;
      this.dlq = createDeadLetterQueue({ ...options, records: this.records, events: this.events });
      this.handleSagaDeadLetters();
    }
    return this.dlq;
  }

  batch<I, R>(name: string, items: Iterable<I>, fn: BatchFn<I, R>, options: BatchOptions<I, R> = {}) {
    try {
      this.assertPolicy(name, 'batch(name)');
      // The record store is opened only when the batch checkpoints or resumes.
      const records = options.checkpoint === false && options.resume !== true ? undefined : this.records;
      return runBatch(items, fn, {
        ...options,
        name,
        policy: this.policy(name),
        records,
        events: this.events,
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  get chaos(): ChaosControl {
    this.chaosSwitches ??= chaosControl({
      named: (name) => this.entry(name).policy,
      builtNames: () => [...this.built.keys()],
      events: this.events,
    });
    return this.chaosSwitches;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.compensationManager?.close();
    this.life?.dispose();
    // The queue first: its handlers may be running policies, and it writes to the records.
    if (this.dlq) await closeAll([this.dlq]);
    const parts = [...this.built.values()].flatMap((b) => b.parts);
    this.built.clear();
    await closeAll(parts);
    await closeAll(this.engine ? [this.engine] : []);
    await closeAll(this.healthLink.health ? [this.healthLink.health] : []);
    if (this.ownsStore) await closeAll([this.store]);
    if (this.ownRecords) await closeAll([this.ownRecords]);
  }

  private entry(name: string): BuiltPolicy {
    if (this.closed) throw this.closedError();
    const existing = this.built.get(name);
    if (existing) return existing;
    const cfg = this.declared.get(name);
    if (!cfg) throw this.unknown(name);
    const built = buildPolicy(name, cfg, {
      events: this.events,
      deadLetters: () => this.deadLetters,
      ...(this.userStore ? { store: this.userStore } : {}),
    });
    this.built.set(name, built);
    return built;
  }

  private unknown(name: string): BulwarkError {
    return new UnknownPolicyError(name, this.names());
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
export function createBulwark<C extends BulwarkConfig>(
  config: C & BulwarkConfig,
  sources?: ConfigSources,
): Bulwark<C>;
export function createBulwark(config?: BulwarkConfig, sources?: ConfigSources): Bulwark;
export function createBulwark(config?: BulwarkConfig, sources?: ConfigSources): Bulwark {
  return new Registry(loadConfig(config, sources));
}
