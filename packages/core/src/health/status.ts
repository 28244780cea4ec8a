/**
 * One dependency's state inside the registry, how its status is decided (override → open breaker
 * → a base down → its last check), and how it is shown in the report.
 */
import { ERROR_CODES } from '../errors/codes.js';
import type { CheckHistory } from './history.js';
import type { ResolvedDependency } from './options.js';
import type { CheckResult, DependencyReport, DependencyStatus, DownReason } from './types.js';

/** A dependency's status now, with why when it is down. */
export interface Effective {
  status: DependencyStatus;
  reason?: DownReason;
  detail?: string;
  code?: string;
  cause?: string;
}

/** A registered dependency. */
export interface Dep {
  readonly o: ResolvedDependency;
  readonly history: CheckHistory;
  /** Policies whose breaker is open now. */
  readonly openBreakers: Set<string>;
  override?: { status: 'up' | 'down'; reason: string; until?: number };
  effective: Effective;
  nextAt: number;
  running?: Promise<CheckResult>;
  controller?: AbortController;
}

/** Before the first check. */
export const UNKNOWN: Effective = { status: 'unknown' };
const UP: Effective = { status: 'up' };

/** The status of `d`, strongest first: override → open breaker → a base down → its last check. */
export function effectiveOf(d: Dep, deps: ReadonlyMap<string, Dep>): Effective {
  const o = d.override;
  if (o !== undefined) {
    if (o.status === 'up') return UP;
    return { status: 'down', reason: 'override', detail: `overridden: ${o.reason}`, code: 'DEPENDENCY_DOWN' };
  }
  for (const p of d.openBreakers)
    return {
      status: 'down',
      reason: 'breaker-open',
      detail: `the circuit breaker of policy '${p}' is open`,
      code: 'CIRCUIT_OPEN',
    };
  for (const base of d.o.dependsOn) {
    if (deps.get(base)?.effective.status === 'down')
      return {
        status: 'down',
        reason: 'dependency-down',
        detail: `depends on '${base}', which is down`,
        code: 'DEPENDENCY_DOWN',
      };
  }
  const r = d.history.last();
  if (r === undefined) return UNKNOWN;
  if (r.status === 'up') return UP;
  const timedOut = r.code === 'TIMEOUT';
  return {
    status: 'down',
    reason: timedOut ? 'timeout' : 'check-failed',
    detail: timedOut
      ? `its check took longer than ${d.o.timeoutMs} ms`
      : `its check failed${r.cause === undefined ? '' : ` (${r.cause})`}`,
    code: r.code ?? 'DEPENDENCY_DOWN',
    ...(r.cause === undefined ? {} : { cause: r.cause }),
  };
}

/** The suggestion of a report's code (a BulwarkError code, else DEPENDENCY_DOWN's). */
function suggestionOf(code: string | undefined): string {
  const def = code === undefined ? undefined : (ERROR_CODES as Record<string, { suggestion: string }>)[code];
  return (def ?? ERROR_CODES.DEPENDENCY_DOWN).suggestion;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** `d` as the report shows it; `messages` adds the last check's error message (it may hold a secret). */
export function dependencyReport(d: Dep, now: number, messages: boolean): DependencyReport {
  const e = d.effective;
  const last = d.history.last();
  const latency = d.history.latency();
  const out: DependencyReport = {
    name: d.o.name,
    criticality: d.o.criticality,
    status: e.status,
    availability: d.history.availability(now),
    history: d.history.list().map((r) => ({
      at: iso(r.at),
      status: r.status,
      durationMs: r.durationMs,
      ...(r.code === undefined ? {} : { code: r.code }),
    })),
    dependsOn: [...d.o.dependsOn],
    policies: [...d.o.policies],
  };
  if (e.status === 'down') {
    out.reason = e.reason;
    out.detail = e.detail;
    out.code = e.code;
    out.suggestion = suggestionOf(e.code);
    if (e.cause !== undefined) out.cause = e.cause;
    if (messages && e.reason !== 'override' && last?.message !== undefined) out.message = last.message;
  }
  if (last !== undefined)
    out.lastCheck = { at: iso(last.at), status: last.status, durationMs: last.durationMs };
  if (latency !== undefined) out.latencyMs = latency;
  const ov = d.override;
  if (ov !== undefined)
    out.override = {
      status: ov.status,
      reason: ov.reason,
      ...(ov.until === undefined ? {} : { until: iso(ov.until) }),
    };
  return out;
}
