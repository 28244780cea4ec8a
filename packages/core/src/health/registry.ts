/**
 * The health registry (`bulwark.health`): dependencies with a criticality and a background check,
 * their cached status, the aggregate status and readiness. One unref'd timer drives every check
 * (none while nothing is registered); a probe only reads cached state, never runs a check.
 *
 * A dependency's status, strongest first: an operator's override → an open breaker of one of its
 * policies → a base of `dependsOn` that is down → its own last check (`unknown` before the first).
 */
import { type BulwarkError, CancelledError } from '../errors/bulwark-error.js';
import type { EventStream } from '../telemetry/events.js';
import type { Closeable, Disposable } from '../types.js';
import { closest } from '../util/checks.js';
import { MAX_TIMER_MS, toMs } from '../util/duration.js';
import { MAX_MESSAGE, runCheck } from './check-run.js';
import { createHealer, type Healing, type HealingOptions } from './healing.js';
import { CheckHistory } from './history.js';
import {
  type HealthConfig,
  type ResolvedDependency,
  type ResolvedHealthOptions,
  resolveDependencyOptions,
  resolveHealthOptions,
} from './options.js';
import { type Dep, dependencyReport, effectiveOf, UNKNOWN } from './status.js';
import type {
  CheckResult,
  DependencyOptions,
  DependencyStatus,
  HealthOverride,
  HealthReport,
  HealthStatus,
  Readiness,
} from './types.js';

/** `bulwark.health`: register dependencies, read their status, the report and readiness. */
export interface HealthRegistry extends Closeable {
  /**
   * Registers a dependency; its first check starts on the next tick, in the background. Throws an
   * InvalidConfigError for a bad option, a name registered twice, an unknown base or policy.
   */
  register(name: string, options: DependencyOptions): void;
  /** The service's status (`up`, `degraded`, `down`). */
  status(): HealthStatus;
  /** One dependency's status; throws a TypeError (with a did-you-mean) for an unknown name. */
  status(name: string): DependencyStatus;
  /** Every dependency with its status, last check, latency, availability and history. `messages` adds the checks' error messages (they may hold secrets). */
  report(options?: { messages?: boolean }): HealthReport;
  /** Runs the dependency's check now (or joins the one in flight) and resolves with its result. */
  checkNow(name: string): Promise<CheckResult>;
  /** Forces a dependency's status (operators, chaos tests) until cleared with `undefined` or `forMs` passes. */
  override(name: string, override: HealthOverride | undefined): void;
  /** Ready when no core dependency is down or unchecked, not draining, and start-up finished. */
  readiness(): Readiness;
  /** Readiness turns false at once (graceful shutdown); `false` undoes it. */
  markDraining(draining?: boolean): void;
  /** Start-up has begun: not ready until {@link HealthRegistry.markStarted}. (Started by default.) */
  markStarting(): void;
  /** Start-up finished. */
  markStarted(): void;
  /** The registered names, in registration order. */
  names(): string[];
  /** Runs `options.action` when the dependency turns down: verified, undone if it did not help (see health/healing.ts). */
  heal(name: string, options: HealingOptions): Healing;
}

/** What the registry needs from the Bulwark instance around it. */
export interface HealthEnv {
  readonly events: EventStream;
  /** Declared policy names; undefined: policies are not checked. */
  readonly policies?: () => readonly string[];
  /** The state of a policy's breaker (its default key), or undefined when it has none. */
  readonly breakerState?: (policy: string) => 'closed' | 'open' | 'half-open' | undefined;
}

export class Health implements HealthRegistry {
  private readonly deps = new Map<string, Dep>();
  /** Registration order: bases come before their dependants, so it is a topological order. */
  private readonly order: Dep[] = [];
  private readonly defaults: ResolvedHealthOptions;
  private readonly listeners = new Set<() => void>();
  /** Dependencies that follow breakers. */
  private readonly linked: Dep[] = [];
  private subscriptions: Disposable[] | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  private aggregate: HealthStatus = 'up';
  private draining = false;
  private starting = false;
  private readonly healers: Healing[] = [];
  private closed = false;

  constructor(
    config: HealthConfig | undefined,
    private readonly env: HealthEnv,
  ) {
    this.defaults = resolveHealthOptions(config);
  }

  register(name: string, options: DependencyOptions): void {
    if (this.closed) throw closedError();
    const policies = this.env.policies?.();
    const o = resolveDependencyOptions(name, options, {
      registered: this.order.map((d) => d.o.name),
      policies,
      hasBreaker: (p) => this.env.breakerState?.(p) !== undefined,
      defaults: this.defaults,
    });
    const dep: Dep = {
      o,
      history: new CheckHistory(this.defaults.history),
      openBreakers: new Set(),
      effective: UNKNOWN,
      nextAt: Date.now(),
    };
    this.deps.set(o.name, dep);
    this.order.push(dep);
    if (o.policies.length > 0) {
      this.followBreakers();
      this.linked.push(dep);
      this.pollBreakers(false);
    }
    this.recompute();
    this.schedule();
  }

  status(): HealthStatus;
  status(name: string): DependencyStatus;
  status(name?: string): HealthStatus | DependencyStatus {
    this.pollBreakers();
    if (name === undefined) return this.aggregate;
    return this.dep(name).effective.status;
  }

  report(options?: { messages?: boolean }): HealthReport {
    this.pollBreakers();
    const now = Date.now();
    const messages = options?.messages === true;
    return {
      status: this.aggregate,
      at: new Date(now).toISOString(),
      dependencies: this.order.map((d) => dependencyReport(d, now, messages)),
    };
  }

  heal(name: string, options: HealingOptions): Healing {
    this.dep(name);
    if (this.closed) throw closedError();
    const healer = createHealer(name, options, {
      events: this.env.events,
      checkNow: (n) => this.checkNow(n),
      status: (n) => this.status(n),
      downNames: () => this.order.filter((d) => d.effective.status === 'down').map((d) => d.o.name),
    });
    this.healers.push(healer);
    return healer;
  }

  checkNow(name: string): Promise<CheckResult> {
    const d = this.dep(name);
    if (this.closed) return Promise.reject(closedError());
    return d.running ?? this.run(d);
  }

  override(name: string, override: HealthOverride | undefined): void {
    const d = this.dep(name);
    if (override === undefined) {
      d.override = undefined;
    } else {
      const status = override.status;
      if (status !== 'up' && status !== 'down')
        throw new TypeError(`Expected override.status to be 'up' or 'down'; got ${JSON.stringify(status)}.`);
      const reason = typeof override.reason === 'string' ? override.reason.slice(0, MAX_MESSAGE) : '';
      if (reason.trim() === '')
        throw new TypeError(
          'Expected override.reason to be a non-empty string saying why (it is shown in the report).',
        );
      const forMs = override.forMs === undefined ? undefined : toMs(override.forMs, 'override.forMs');
      d.override = { status, reason, ...(forMs === undefined ? {} : { until: Date.now() + forMs }) };
    }
    this.recompute();
    this.schedule();
  }

  readiness(): Readiness {
    this.pollBreakers();
    const reasons: string[] = [];
    if (this.draining) reasons.push('the service is draining (shutting down)');
    if (this.starting) reasons.push('start-up has not finished');
    for (const d of this.order) {
      if (d.o.criticality !== 'core') continue;
      const e = d.effective;
      if (e.status === 'down') reasons.push(`core dependency '${d.o.name}' is down: ${e.detail}`);
      else if (e.status === 'unknown') reasons.push(`core dependency '${d.o.name}' has not been checked yet`);
    }
    return { ready: reasons.length === 0, reasons };
  }

  markDraining(draining = true): void {
    this.draining = draining;
    this.notify();
  }

  markStarting(): void {
    this.starting = true;
    this.notify();
  }

  markStarted(): void {
    this.starting = false;
    this.notify();
  }

  names(): string[] {
    return this.order.map((d) => d.o.name);
  }

  /** Criticality of a registered dependency (undefined when unknown). */
  criticalityOf(name: string): ResolvedDependency['criticality'] | undefined {
    return this.deps.get(name)?.o.criticality;
  }

  /** The down reason sentence of a dependency, if it is down. */
  detailOf(name: string): string | undefined {
    return this.deps.get(name)?.effective.detail;
  }

  /** Hears every change of any status, readiness included (features, degraded mode, probes' caches). */
  onChange(listener: () => void): Disposable {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Stops the timer, aborts the checks in flight and stops following breakers. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.healers.splice(0)) h.dispose();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const s of this.subscriptions ?? []) s.dispose();
    this.subscriptions = undefined;
    const stop = new CancelledError({ message: 'Bulwark closed while the check ran.' });
    const running: Promise<unknown>[] = [];
    for (const d of this.order) {
      d.controller?.abort(stop);
      if (d.running) running.push(d.running);
    }
    await Promise.allSettled(running);
    this.listeners.clear();
  }

  private dep(name: string): Dep {
    const d = this.deps.get(name);
    if (d !== undefined) return d;
    const near = closest(String(name), this.names());
    throw new TypeError(
      `Unknown dependency ${JSON.stringify(name)}.${near ? ` Did you mean '${near}'?` : ''} Register it first with bulwark.health.register(name, { check }).`,
    );
  }

  /** Runs one check with its timeout and signal, records it, updates statuses, schedules the next. */
  private run(d: Dep): Promise<CheckResult> {
    const controller = new AbortController();
    d.controller = controller;
    const p = runCheck(d.o.name, d.o.check, d.o.timeoutMs, controller);
    const done = p.then((r) => {
      if (d.controller === controller) d.controller = undefined;
      d.running = undefined;
      if (this.closed) return r;
      d.history.add(r);
      d.nextAt = Date.now() + d.o.intervalMs;
      this.recompute(d, r);
      this.schedule();
      return r;
    });
    d.running = done;
    return done;
  }

  /** Arms the one timer for the earliest due check or override expiry; none when nothing is due. */
  private schedule(): void {
    if (this.closed) return;
    let next = Number.POSITIVE_INFINITY;
    for (const d of this.order) {
      if (d.running === undefined && d.nextAt < next) next = d.nextAt;
      const until = d.override?.until;
      if (until !== undefined && until < next) next = until;
    }
    if (this.timer !== undefined) {
      if (this.wakeAt <= next) return;
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (next === Number.POSITIVE_INFINITY) return;
    this.wakeAt = next;
    this.timer = setTimeout(() => this.tick(), Math.min(Math.max(0, next - Date.now()), MAX_TIMER_MS));
    this.timer.unref?.();
  }

  private tick(): void {
    this.timer = undefined;
    this.wakeAt = Number.POSITIVE_INFINITY;
    if (this.closed) return;
    const now = Date.now();
    let expired = false;
    for (const d of this.order) {
      const until = d.override?.until;
      if (until !== undefined && until <= now) {
        d.override = undefined;
        expired = true;
      }
    }
    if (expired) this.recompute();
    for (const d of this.order) if (d.running === undefined && d.nextAt <= now) void this.run(d);
    this.schedule();
  }

  /** Follows `breaker.opened` / `breaker.closed` of the policies dependencies name (subscribed once, when first needed). */
  private followBreakers(): void {
    if (this.subscriptions !== undefined) return;
    const events = this.env.events;
    const relevant = (policy: string, key: string | undefined) => key === undefined || key === policy;
    const set = (policy: string, open: boolean) => {
      let changed = false;
      for (const d of this.order) {
        if (!d.o.policies.includes(policy)) continue;
        if (open ? !d.openBreakers.has(policy) : d.openBreakers.has(policy)) changed = true;
        if (open) d.openBreakers.add(policy);
        else d.openBreakers.delete(policy);
      }
      if (changed) this.recompute();
    };
    this.subscriptions = [
      events.on('breaker.opened', (e) => relevant(e.policy, e.key) && set(e.policy, true)),
      events.on('breaker.closed', (e) => relevant(e.policy, e.key) && set(e.policy, false)),
    ];
  }

  /**
   * Reads the linked breakers' states (a timestamp comparison each): an override forced before the
   * breaker saw a call emits no event, and an open breaker turns half-open without one. Open and
   * half-open both count as open, as between the `opened` and `closed` events.
   */
  private pollBreakers(recompute = true): void {
    const state = this.env.breakerState;
    if (state === undefined || this.linked.length === 0) return;
    let changed = false;
    for (const d of this.linked) {
      for (const p of d.o.policies) {
        const s = state(p);
        const open = s === 'open' || s === 'half-open';
        if (open === d.openBreakers.has(p)) continue;
        changed = true;
        if (open) d.openBreakers.add(p);
        else d.openBreakers.delete(p);
      }
    }
    if (changed && recompute) this.recompute();
  }

  /** Recomputes every effective status in topological order; emits `health.changed` for each change. */
  private recompute(checked?: Dep, result?: CheckResult): void {
    let changed = false;
    for (const d of this.order) {
      const next = effectiveOf(d, this.deps);
      const prev = d.effective;
      d.effective = next;
      if (prev.status === next.status && prev.detail === next.detail) continue;
      changed = true;
      if (prev.status === next.status) continue;
      const events = this.env.events;
      if (events.active) {
        events.emit({
          type: 'health.changed',
          policy: 'health',
          dependency: d.o.name,
          from: prev.status,
          to: next.status,
          ...(next.detail === undefined ? {} : { reason: next.detail }),
          ...(d === checked && result?.error !== undefined ? { error: result.error } : {}),
        });
      }
    }
    let aggregate: HealthStatus = 'up';
    for (const d of this.order) {
      if (d.effective.status !== 'down') continue;
      if (d.o.criticality === 'core') {
        aggregate = 'down';
        break;
      }
      aggregate = 'degraded';
    }
    if (aggregate !== this.aggregate) changed = true;
    this.aggregate = aggregate;
    if (changed) this.notify();
  }

  private notify(): void {
    for (const l of this.listeners) {
      try {
        l();
      } catch {
        // A listener's failure must not stop the registry.
      }
    }
  }
}

function closedError(): BulwarkError {
  return new CancelledError({
    message: 'This Bulwark instance is closed.',
    suggestion: 'Create a new one with createBulwark().',
  });
}
