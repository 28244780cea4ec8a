/**
 * `bulwark.lifecycle`: graceful shutdown (and, in startup.ts, start-up in levels). Core decides
 * the whole sequence; adapters only hand over their `http.Server` (Express, Koa) or call
 * `shutdown()` from a framework hook (NestJS's `beforeApplicationShutdown`).
 *
 * Shutdown, in order: readiness false at once (`/readyz` answers 503) → `delay` (load balancers
 * notice) → new requests refused (503 `DRAINING` with `Connection: close`, listeners closed, idle
 * keep-alive connections closed, in-flight responses told to close theirs) → in-flight requests
 * finish, up to `drainTimeout` (then their connections are cut and named in an event) → shutdown
 * hooks (LIFO) → `bulwark.close()`. The library never calls `process.exit`: once everything is
 * closed the event loop empties and the process exits by itself.
 */
import type { Server } from 'node:http';
import type { Disposable } from '../types.js';
import { type Duration, toMs } from '../util/duration.js';
import { type CutRequest, DrainingServer, MAX_CUT_REPORTED } from './drain.js';
import type { ResolvedLifecycleOptions, ShutdownSignal } from './lifecycle-options.js';
import {
  type StartupHost,
  type StartupItem,
  type StartupOptions,
  type StartupReport,
  startLevels,
} from './startup.js';

/** What the lifecycle tells readiness (`bulwark.health` implements it; `/readyz` reads it). */
export interface ReadinessSignals {
  /** Readiness false from now on: the process is shutting down. */
  markDraining(): void;
  /** Readiness false until {@link ReadinessSignals.markStarted}: a levelled start-up runs. */
  markStarting(): void;
  /** The core part of start-up is up. */
  markStarted(): void;
}

/** The switch the HTTP engine reads in `admit()`: true once new requests are refused with `DRAINING`. */
export interface DrainGate {
  refusing: boolean;
}

/** What the lifecycle needs from the Bulwark instance that owns it. */
export interface LifecycleHost extends StartupHost {
  /** Closes the Bulwark instance (policies, engine, stores). */
  close(): Promise<void>;
}

/** Where the lifecycle is: serving, shutting down (delay and drain), running its hooks and closing, done. */
export type LifecycleState = 'running' | 'draining' | 'stopping' | 'stopped';

/** A shutdown hook that failed or ran out of time. */
export interface ShutdownHookFailure {
  /** The hook's name (`onShutdown(fn, name)`; default `hook-<n>`). */
  hook: string;
  /** What it threw, or a timeout. */
  error: unknown;
}

/** What a shutdown did. */
export interface ShutdownReport {
  /** Why it started: the signal, or what `shutdown(reason)` was given. */
  reason: string;
  /** A second signal (or `force()`) cut the waits short. */
  forced: boolean;
  /** Requests in flight when it started. */
  inFlightAtStart: number;
  /** Requests in flight when new ones began to be refused (after the delay). */
  inFlightAtRefusal: number;
  /** Requests whose connections were cut (0 when every one finished). */
  cutCount: number;
  /** The first {@link MAX_CUT_REPORTED} of them. */
  cut: CutRequest[];
  /** Time from the start to refusing new requests (the delay, shorter when forced or no server is attached). */
  delayMs: number;
  /** Time from refusing to every connection closed. */
  drainMs: number;
  /** Time of the whole shutdown, `bulwark.close()` included. */
  durationMs: number;
  /** Shutdown hooks that failed or timed out (the shutdown went on without them). */
  hookFailures: ShutdownHookFailure[];
}

/** Options of one {@link Lifecycle.shutdown}. */
export interface ShutdownOptions {
  /** Why (in the report and the events). Default `'shutdown'`; a signal handler gives the signal. */
  reason?: string;
  /** Replaces the configured `delay` for this shutdown. */
  delay?: Duration;
}

/** A registered shutdown hook. */
interface Hook {
  name: string;
  fn: (signal: AbortSignal) => unknown;
}

/** A promise that resolves after `ms` or when `stop` resolves, whichever is first; its timer never holds the process. */
function waitOrStop(ms: number, stop: Promise<void>): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const slept = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return Promise.race([slept, stop]).finally(() => clearTimeout(timer));
}

/** Graceful shutdown of one Bulwark instance; `bulwark.lifecycle`. */
export class Lifecycle {
  private current: LifecycleState = 'running';
  private readonly servers = new Map<Server, DrainingServer>();
  private readonly hooks: Hook[] = [];
  private readonly signals = new Map<NodeJS.Signals, () => void>();
  private shutdownPromise: Promise<ShutdownReport> | undefined;
  private forced = false;
  private resolveForce!: () => void;
  private readonly forceRequested = new Promise<void>((resolve) => {
    this.resolveForce = resolve;
  });
  private hookCount = 0;

  constructor(
    private readonly options: ResolvedLifecycleOptions,
    private readonly host: LifecycleHost,
    private readonly gate: DrainGate,
  ) {}

  /** Where the lifecycle is. */
  get state(): LifecycleState {
    return this.current;
  }

  /** Requests in flight on the attached servers. */
  get inFlight(): number {
    let n = 0;
    for (const s of this.servers.values()) n += s.inFlight;
    return n;
  }

  /**
   * Starts the app's dependencies level by level, the items of a level in parallel, each under
   * retry with backoff and an attempt timeout (see health/startup.ts). Readiness is false until
   * every core item is up; a core failure stops after its level and the report names it;
   * optional and stretch failures are warnings. Never rejects because an item failed.
   * @example
   * const report = await bulwark.lifecycle.start([
   *   [{ name: 'postgres', start: () => pool.query('SELECT 1') }, { name: 'redis', criticality: 'optional', start: () => redis.ping() }],
   *   [{ name: 'cache', criticality: 'stretch', start: (signal) => warmCache(signal) }],
   * ]);
   * if (!report.ok) process.exitCode = 1; // report.coreFailed names the core items
   */
  start(levels: readonly (readonly StartupItem[])[], options?: StartupOptions): Promise<StartupReport> {
    return startLevels(levels, this.host, options);
  }

  /**
   * Drains `server` on shutdown (call it right after `listen`; Express's and Koa's `app.listen()`
   * return it). Installs the configured signal handlers (`lifecycle.handleSignals`), if any.
   * @example
   * const server = app.listen(3000);
   * bulwark.lifecycle.attach(server); // with createBulwark({ lifecycle: { handleSignals: true } })
   */
  attach(server: Server): Disposable {
    if (typeof server?.closeAllConnections !== 'function')
      throw new TypeError(
        'lifecycle.attach(server) expects a node:http (or https) Server, as app.listen() returns.',
      );
    let tracked = this.servers.get(server);
    if (tracked === undefined) {
      tracked = new DrainingServer(server);
      this.servers.set(server, tracked);
    }
    if (this.options.signals.length > 0) this.handleSignals(this.options.signals);
    return {
      dispose: () => {
        if (this.servers.get(server) !== tracked) return;
        tracked.detach();
        this.servers.delete(server);
      },
    };
  }

  /**
   * Starts the shutdown on the first of `signals` (default SIGTERM and SIGINT); a second forces it
   * (waits cut short, open connections cut); after that the handlers are removed, so a third
   * signal gets Node's default (the process dies). Idempotent per signal.
   */
  handleSignals(signals: readonly ShutdownSignal[] = ['SIGTERM', 'SIGINT']): Disposable {
    const added: NodeJS.Signals[] = [];
    for (const signal of signals) {
      if (this.signals.has(signal)) continue;
      const handler = (): void => this.onSignal(signal);
      this.signals.set(signal, handler);
      process.on(signal, handler);
      added.push(signal);
    }
    return { dispose: () => this.removeSignals(added) };
  }

  /**
   * Registers `fn` to run during shutdown, after the servers have drained and before
   * `bulwark.close()` (close pools and clients here). Hooks run one at a time, last registered
   * first, each for at most `hookTimeout` (its signal aborts then); a failure is reported
   * (`lifecycle.hook-failed`) and the shutdown goes on.
   * @example
   * bulwark.lifecycle.onShutdown(() => pool.end(), 'postgres');
   */
  onShutdown(fn: (signal: AbortSignal) => unknown, name?: string): Disposable {
    if (typeof fn !== 'function') throw new TypeError('lifecycle.onShutdown(fn) expects a function.');
    const hook: Hook = { name: name ?? `hook-${++this.hookCount}`, fn };
    this.hooks.push(hook);
    return {
      dispose: () => {
        const i = this.hooks.indexOf(hook);
        if (i >= 0) this.hooks.splice(i, 1);
      },
    };
  }

  /**
   * Runs the graceful shutdown (see the module comment) and resolves with its report; never
   * rejects. Calling it again returns the same promise. Signal handlers call it with the signal's
   * name; NestJS's module from `beforeApplicationShutdown` (without the delay when no signal
   * started it: `app.close()` in a test or a script has no load balancer to wait for).
   * @example
   * const report = await bulwark.lifecycle.shutdown({ reason: 'deploy' });
   */
  shutdown(options: ShutdownOptions = {}): Promise<ShutdownReport> {
    if (this.shutdownPromise === undefined) {
      const delayMs =
        options.delay === undefined ? this.options.delayMs : toMs(options.delay, 'shutdown({ delay })');
      this.shutdownPromise = this.run(options.reason ?? 'shutdown', delayMs);
    }
    return this.shutdownPromise;
  }

  /** Cuts the shutdown's waits short: no more delay, open connections cut now (and reported), hooks not awaited past now. */
  force(): void {
    this.forced = true;
    this.resolveForce();
  }

  /** Removes the signal handlers and stops tracking servers (`bulwark.close()` calls it). */
  dispose(): void {
    this.removeSignals([...this.signals.keys()]);
    for (const s of this.servers.values()) s.detach();
    this.servers.clear();
  }

  private onSignal(signal: NodeJS.Signals): void {
    if (this.shutdownPromise === undefined) {
      void this.shutdown({ reason: signal });
      return;
    }
    // The second signal: force, and leave any further one to Node's default.
    this.force();
    this.removeSignals([...this.signals.keys()]);
  }

  private removeSignals(signals: readonly NodeJS.Signals[]): void {
    for (const signal of signals) {
      const handler = this.signals.get(signal);
      if (handler === undefined) continue;
      process.removeListener(signal, handler);
      this.signals.delete(signal);
    }
  }

  private emit(
    input:
      | {
          type: 'lifecycle.draining';
          reason: string;
          delayMs: number;
          drainTimeoutMs: number;
          inFlight: number;
        }
      | { type: 'lifecycle.refusing'; inFlight: number }
      | { type: 'lifecycle.cut'; count: number; requests: CutRequest[] }
      | { type: 'lifecycle.hook-failed'; hook: string; error: unknown }
      | { type: 'lifecycle.stopped'; report: ShutdownReport },
  ): void {
    this.host.events.emit({ policy: 'lifecycle', ...input });
  }

  private async run(reason: string, configuredDelayMs: number): Promise<ShutdownReport> {
    const o = this.options;
    const t0 = performance.now();
    this.current = 'draining';
    try {
      this.host.readiness()?.markDraining();
    } catch {
      // Readiness is advisory here; the drain itself must go on.
    }
    const inFlightAtStart = this.inFlight;
    // Without a server there is no load balancer to wait for.
    const delayMs = this.servers.size === 0 ? 0 : configuredDelayMs;
    this.emit({
      type: 'lifecycle.draining',
      reason,
      delayMs,
      drainTimeoutMs: o.drainTimeoutMs,
      inFlight: inFlightAtStart,
    });
    if (!this.forced) await waitOrStop(delayMs, this.forceRequested);

    const t1 = performance.now();
    this.gate.refusing = true;
    const inFlightAtRefusal = this.inFlight;
    this.emit({ type: 'lifecycle.refusing', inFlight: inFlightAtRefusal });
    const servers = [...this.servers.values()];
    let drained = false;
    const all = Promise.all(servers.map((s) => s.drain())).then(() => {
      drained = true;
    });
    if (!this.forced) await waitOrStop(o.drainTimeoutMs, Promise.race([all, this.forceRequested]));
    const cut: CutRequest[] = [];
    let cutCount = 0;
    if (!drained) {
      for (const s of servers) {
        cutCount += s.inFlight;
        for (const c of s.cut()) if (cut.length < MAX_CUT_REPORTED) cut.push(c);
      }
      if (cutCount > 0) this.emit({ type: 'lifecycle.cut', count: cutCount, requests: cut });
      await all;
    }
    const drainMs = performance.now() - t1;

    this.current = 'stopping';
    const hookFailures = await this.runHooks();
    await this.host.close().catch((error: unknown) => {
      hookFailures.push({ hook: 'bulwark.close', error });
    });
    this.current = 'stopped';
    const report: ShutdownReport = {
      reason,
      forced: this.forced,
      inFlightAtStart,
      inFlightAtRefusal,
      cutCount,
      cut,
      delayMs: t1 - t0,
      drainMs,
      durationMs: performance.now() - t0,
      hookFailures,
    };
    this.emit({ type: 'lifecycle.stopped', report });
    return report;
  }

  /** Runs the shutdown hooks, last registered first, each bounded by `hookTimeout` (and by a force). */
  private async runHooks(): Promise<ShutdownHookFailure[]> {
    const failures: ShutdownHookFailure[] = [];
    for (const hook of [...this.hooks].reverse()) {
      const controller = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `Shutdown hook '${hook.name}' did not finish within ${this.options.hookTimeoutMs} ms.`,
              ),
            ),
          this.options.hookTimeoutMs,
        );
        timer.unref();
      });
      const forced = this.forceRequested.then(() => {
        throw new Error(`Shutdown hook '${hook.name}' was still running when the shutdown was forced.`);
      });
      try {
        await Promise.race([Promise.resolve().then(() => hook.fn(controller.signal)), timedOut, forced]);
      } catch (error) {
        controller.abort(error);
        failures.push({ hook: hook.name, error });
        this.emit({ type: 'lifecycle.hook-failed', hook: hook.name, error });
      } finally {
        clearTimeout(timer);
      }
    }
    return failures;
  }
}
