/**
 * Start-up in levels (`bulwark.lifecycle.start(levels)`), as the deployment hub of seed 004 does
 * it: levels in order, the items of a level in parallel, each item run under a Bulwark policy
 * (retry with backoff 2 s, 4 s, 8 s, 16 s, 30 s… and a timeout per attempt, or a named policy
 * from the config). The levels themselves are `recovery/levels.ts`'s runner: a core failure
 * stops after its level, optional and stretch failures are warnings. Readiness is false from the
 * start and turns true the moment every core item is up (optional ones may still be starting).
 */
import { pipeline } from '../pipeline.js';
import type { RetryOptions } from '../policies/retry.js';
import { retry } from '../policies/retry.js';
import { timeout } from '../policies/timeout.js';
import {
  type DependencyCriticality,
  type LevelItem,
  type LevelsReport,
  runLevels,
} from '../recovery/levels.js';
import type { EventStream } from '../telemetry/events.js';
import type { Policy } from '../types.js';
import type { Duration } from '../util/duration.js';
import type { ReadinessSignals } from './lifecycle.js';

/** One thing to start: a connection pool, a migration, a cache to warm, a service. */
export interface StartupItem {
  /** Unique across all levels; names the item in events and the report. */
  name: string;
  /** Starts it; the signal aborts when an attempt times out (or the start-up's own signal aborts). */
  start: (signal: AbortSignal) => unknown;
  /** `core` (default) fails the start-up; `optional` and `stretch` only warn. */
  criticality?: DependencyCriticality;
  /**
   * Retry of failed attempts, or `false`. Default 3 attempts, backoff from 2 s doubling up to
   * 30 s without jitter (2 s, 4 s, 8 s, 16 s, 30 s… with more attempts), no retry budget.
   */
  retry?: Omit<RetryOptions, 'budget'> | false;
  /** Timeout of each attempt, or `false`. Default `'30s'`. */
  timeout?: Duration | false;
  /** A policy declared in the config to run it under instead of `retry` and `timeout`. */
  policy?: string;
}

/** Options of one start-up. */
export interface StartupOptions {
  /** Aborting it stops the start-up: running attempts see it, items not started are skipped. */
  signal?: AbortSignal;
  /** Items of one level started at once. Default all of them. */
  concurrency?: number;
}

/** What a start-up did: the levels runner's report, with attempts per item and the names that matter. */
export interface StartupReport extends LevelsReport {
  /** Attempts per item name (0 when skipped). */
  attempts: Record<string, number>;
  /** Core items that failed or were never started: the start-up failed because of them. */
  coreFailed: string[];
  /** Optional and stretch items that failed (the start-up went on without them). */
  degraded: string[];
}

/** What start-up needs from the Bulwark instance. */
export interface StartupHost {
  readonly events: EventStream;
  readiness(): ReadinessSignals | undefined;
  /** A declared policy by name. */
  policy(name: string): Policy;
}

const DEFAULT_RETRY: RetryOptions = {
  maxAttempts: 3,
  initialDelay: '2s',
  maxDelay: '30s',
  factor: 2,
  jitter: false,
};
const DEFAULT_TIMEOUT: Duration = '30s';

/** The policy one item runs under: the named one, or retry (outside) → attempt timeout (inside). */
function policyOf(item: StartupItem, host: StartupHost): Policy | undefined {
  if (item.policy !== undefined) return host.policy(item.policy);
  const name = `startup:${item.name}`;
  const parts: Policy[] = [];
  if (item.retry !== false)
    parts.push(retry({ ...DEFAULT_RETRY, ...item.retry, budget: false, name, events: host.events }));
  const t = item.timeout === undefined ? DEFAULT_TIMEOUT : item.timeout;
  if (t !== false) parts.push(timeout({ timeout: t, kind: 'attempt', name, events: host.events }));
  return parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : pipeline(...parts);
}

function checkItems(levels: readonly (readonly StartupItem[])[]): void {
  for (const [l, level] of levels.entries())
    for (const [i, item] of (Array.isArray(level) ? level : []).entries())
      if (typeof item?.start !== 'function')
        throw new TypeError(
          `lifecycle.start(): levels[${l}][${i}].start must be a function (signal) => Promise.`,
        );
}

/**
 * Runs the levels; never rejects because an item failed (see the report), only for bad input
 * (an InvalidConfigError or TypeError naming the item, before anything starts).
 */
export async function startLevels(
  levels: readonly (readonly StartupItem[])[],
  host: StartupHost,
  options: StartupOptions = {},
): Promise<StartupReport> {
  checkItems(levels);
  const asLevels: LevelItem<StartupItem>[][] = levels.map((level) =>
    level.map((item) => ({ key: item.name, item, criticality: item.criticality ?? 'core' })),
  );
  const policies = new Map<string, Policy | undefined>();
  for (const level of levels) for (const item of level) policies.set(item.name, policyOf(item, host));
  let coreLeft = asLevels.flat().filter((i) => i.criticality === 'core').length;
  const attempts: Record<string, number> = {};
  const readiness = host.readiness();
  readiness?.markStarting();
  if (coreLeft === 0) readiness?.markStarted();

  const report = await runLevels(
    asLevels,
    (item, signal) => {
      attempts[item.name] = 0;
      const once = (s: AbortSignal) => {
        attempts[item.name] = (attempts[item.name] ?? 0) + 1;
        return Promise.resolve(item.start(s));
      };
      const policy = policies.get(item.name);
      return policy === undefined ? once(signal) : policy.execute(once, { signal, key: item.name });
    },
    {
      concurrency: options.concurrency,
      signal: options.signal,
      onOutcome: (o) => {
        host.events.emit({
          type: 'startup.item',
          policy: 'lifecycle',
          name: o.key,
          level: o.level,
          criticality: o.criticality,
          status: o.status,
          durationMs: o.durationMs,
          attempts: attempts[o.key] ?? 0,
          ...(o.error === undefined ? {} : { error: o.error }),
        });
        if (o.criticality === 'core' && o.status === 'succeeded' && --coreLeft === 0)
          readiness?.markStarted();
      },
    },
  );
  const coreFailed: string[] = [];
  const degraded: string[] = [];
  for (const o of report.outcomes) {
    attempts[o.key] ??= 0;
    if (o.criticality === 'core' && o.status !== 'succeeded') coreFailed.push(o.key);
    else if (o.criticality !== 'core' && o.status === 'failed') degraded.push(o.key);
  }
  const result: StartupReport = { ...report, attempts, coreFailed, degraded };
  host.events.emit({
    type: 'startup.finished',
    policy: 'lifecycle',
    ok: report.ok,
    durationMs: report.durationMs,
    coreFailed,
    degraded,
  });
  return result;
}
