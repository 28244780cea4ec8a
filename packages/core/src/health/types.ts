/**
 * The public shapes of the health registry: what a dependency is registered with, what one check
 * yields, and what `status()`, `report()` and `readiness()` answer.
 */

import type { DependencyCriticality } from '../recovery/levels.js';
import type { Duration } from '../util/duration.js';

/** How much the service needs a dependency (the levels runner's type): core, optional, stretch. */
export type { DependencyCriticality };

/** A dependency's status: `unknown` until its first check finished. */
export type DependencyStatus = 'up' | 'down' | 'unknown';

/** The service's status: `down` when a core dependency is down, `degraded` when another one is (or an operator says so). */
export type HealthStatus = 'up' | 'degraded' | 'down';

/**
 * A health check: resolves when the dependency is healthy, rejects (or resolves `false`) when it is
 * not. It must honour `signal`, which aborts when the check's timeout passes or Bulwark closes.
 */
export type HealthCheck = (signal: AbortSignal) => Promise<unknown> | unknown;

/** What `health.register(name, options)` takes. */
export interface DependencyOptions {
  /** How much the service needs it. Default `'core'`. */
  criticality?: DependencyCriticality;
  /** The check, run in the background every `interval`, never inline in a probe. */
  check: HealthCheck;
  /** Longest a check may take before it counts as failed (and its signal aborts). Default `health.timeout`, else 10 s. */
  timeout?: Duration;
  /** Time between the end of one check and the start of the next. Default `health.interval`, else 30 s. */
  interval?: Duration;
  /** Dependencies this one needs (registered before it): while one of them is down, this one is down too. */
  dependsOn?: readonly string[];
  /** Named policies that call this dependency: while the breaker of one of them is open, it is down at once. */
  policies?: readonly string[];
}

/** Why a dependency is down. */
export type DownReason = 'check-failed' | 'timeout' | 'breaker-open' | 'dependency-down' | 'override';

/** The outcome of one check. */
export interface CheckResult {
  /** `up` or `down`. */
  status: 'up' | 'down';
  /** When the check started (epoch ms). */
  at: number;
  /** How long it took (ms). */
  durationMs: number;
  /** Error code when down: `DEPENDENCY_DOWN`, `TIMEOUT`, or the BulwarkError's own code. */
  code?: string;
  /** A short, safe cause when down: a system error code (`ECONNREFUSED`), `HTTP 503`, `returned false`. */
  cause?: string;
  /** The error's message, when down. Shown in reports only outside production: it may hold a secret. */
  message?: string;
  /** The error the check failed with (for `health.changed` listeners; never in a report). */
  error?: unknown;
}

/** An operator's (or a chaos test's) override of a dependency's status. */
export interface HealthOverride {
  /** The status to report, whatever the checks say. */
  status: 'up' | 'down';
  /** Why (shown in the report and the event). */
  reason: string;
  /** Lifts by itself after this long (ms or a duration string). Default: until cleared with `override(name, undefined)`. */
  forMs?: Duration;
}

/** Availability (0–1, share of checks that were up) over recent windows; null when no check ran in it. */
export interface Availability {
  /** The last 5 minutes. */
  '5m': number | null;
  /** The last hour. */
  '1h': number | null;
}

/** One dependency in `health.report()`. */
export interface DependencyReport {
  /** Its name. */
  name: string;
  /** Its criticality. */
  criticality: DependencyCriticality;
  /** Its status now (overrides, open breakers and failing bases included). */
  status: DependencyStatus;
  /** Why it is down (absent when up). */
  reason?: DownReason;
  /** A sentence saying why it is down, safe to show. */
  detail?: string;
  /** Error code when down (`DEPENDENCY_DOWN`, `TIMEOUT`, `CIRCUIT_OPEN`, ...). */
  code?: string;
  /** What a person can do about it, when down. */
  suggestion?: string;
  /** A short, safe cause when down (`ECONNREFUSED`, `HTTP 503`). */
  cause?: string;
  /** The last check's error message: outside production only. */
  message?: string;
  /** The last check, if one finished: when it started (ISO), its status and duration. */
  lastCheck?: { at: string; status: 'up' | 'down'; durationMs: number };
  /** Latency of the recent checks (ms): the last one, their mean and their maximum. */
  latencyMs?: { last: number; mean: number; max: number };
  /** Share of checks that were up, over recent windows. */
  availability: Availability;
  /** The last checks, oldest first. */
  history: { at: string; status: 'up' | 'down'; durationMs: number; code?: string }[];
  /** Dependencies it depends on. */
  dependsOn: string[];
  /** Policies whose breakers it follows. */
  policies: string[];
  /** The override in force, if any. */
  override?: { status: 'up' | 'down'; reason: string; until?: string };
}

/** What `health.report()` answers. */
export interface HealthReport {
  /** The service's status. */
  status: HealthStatus;
  /** When the report was made (ISO). */
  at: string;
  /** Every dependency, in registration order. */
  dependencies: DependencyReport[];
}

/** What `health.readiness()` answers: ready when no core dependency is down or unchecked, not draining and started. */
export interface Readiness {
  /** True when the service should receive traffic. */
  ready: boolean;
  /** Why not, one sentence each (empty when ready). */
  reasons: string[];
}
