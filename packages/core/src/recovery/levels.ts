/**
 * The one levels-with-criticality runner: levels run in order, the items of a level in parallel
 * (up to `concurrency`), each item `core`, `optional` or `stretch`. A core failure stops the run
 * after its level (later levels are skipped); optional and stretch failures are warnings and the
 * run goes on. Checkpointed batches and levelled start-up are both built on it.
 *
 * `continueOnError: false` (the default) also stops the level itself at the first core failure:
 * items not yet started are skipped, items already running finish (they are not aborted — a
 * half-done start-up or write is worse than a finished one). With unbounded concurrency every item
 * of a level has started by then, so start-up behaves like the deployment hub: the level
 * finishes, then the run stops.
 */
import { InvalidConfigError } from '../errors/bulwark-error.js';
import { type Check, Issues, oneOf } from '../util/checks.js';
import { NEVER_ABORTED_SIGNAL } from '../util/time.js';

/**
 * How much a dependency (or batch item) matters: a `core` failure fails the run, an `optional` or
 * `stretch` one only degrades it. (Not the request `Criticality` of load shedding.)
 */
export type DependencyCriticality = 'core' | 'optional' | 'stretch';

/** The three criticalities, most important first. */
export const DEPENDENCY_CRITICALITIES: readonly DependencyCriticality[] = Object.freeze([
  'core',
  'optional',
  'stretch',
]);

/** One item of a level: a unique key (it names the item in reports and checkpoints), the item, its criticality. */
export interface LevelItem<I> {
  /** Unique across all levels. */
  key: string;
  /** What `run` receives. */
  item: I;
  /** Default `core`. */
  criticality?: DependencyCriticality;
}

/** Why an item was skipped. */
export type SkipReason =
  /** An earlier run finished it (a resumed batch). */
  | 'done'
  /** A core failure stopped the run before the item started. */
  | 'stopped'
  /** The run's signal aborted before the item started. */
  | 'aborted';

/** What happened to one item. */
export interface ItemOutcome {
  /** The item's key. */
  key: string;
  /** 0-based level index. */
  level: number;
  /** The item's criticality. */
  criticality: DependencyCriticality;
  /** What happened. */
  status: 'succeeded' | 'failed' | 'skipped';
  /** Time spent in `run` (0 when skipped). */
  durationMs: number;
  /** The thrown value, when failed. */
  error?: unknown;
  /** Why, when skipped. */
  reason?: SkipReason;
}

/** Counts of outcomes. */
export interface OutcomeCounts {
  /** Items in the group. */
  total: number;
  /** Items whose `run` resolved. */
  succeeded: number;
  /** Items whose `run` threw or rejected. */
  failed: number;
  /** Items never run (see {@link SkipReason}). */
  skipped: number;
}

/** Counts of one level. */
export interface LevelSummary extends OutcomeCounts {
  /** 0-based level index. */
  level: number;
  /** Wall time from the level's start to its last item's end. */
  durationMs: number;
  /** The same counts per criticality. */
  byCriticality: Record<DependencyCriticality, OutcomeCounts>;
}

/** The result of {@link runLevels}: every item's outcome (in input order), counts per level and per criticality. */
export interface LevelsReport extends OutcomeCounts {
  /** True when no core item failed or was left unrun (optional/stretch failures are warnings). */
  ok: boolean;
  /** Why the run stopped early, if it did. */
  stopped?: 'core-failure' | 'aborted';
  /** The level after which (or in which) the run stopped. */
  stoppedAtLevel?: number;
  /** Optional and stretch items that failed. */
  warnings: number;
  /** Wall time of the whole run. */
  durationMs: number;
  /** Every item, level by level, in input order. */
  outcomes: ItemOutcome[];
  /** One summary per level. */
  levels: LevelSummary[];
  /** Counts per criticality over all levels. */
  byCriticality: Record<DependencyCriticality, OutcomeCounts>;
}

/** Options of {@link runLevels}. */
export interface RunLevelsOptions {
  /** Items of one level running at once. Default unbounded (the whole level at once). */
  concurrency?: number;
  /** Keep running the level's other items after a core failure (the run still stops after the level). Default false. */
  continueOnError?: boolean;
  /** Aborting it skips the items not yet started; running items see it through their own signal. */
  signal?: AbortSignal;
  /** Called once per item as its outcome is known (skipped ones included); awaited when it returns a promise. */
  onOutcome?: (outcome: ItemOutcome) => void | Promise<void>;
  /** Items an earlier run finished: reported `skipped` with reason `done`, not run. */
  isDone?: (key: string) => boolean;
}

/** Runs one item; receives the item, the run's signal and the item's key. */
export type LevelRun<I> = (item: I, signal: AbortSignal, key: string) => Promise<unknown> | unknown;

/** Config check of a criticality (`'core'`, `'optional'` or `'stretch'`, with a did-you-mean), for every section that takes one. */
export const criticalityCheck: Check = oneOf(DEPENDENCY_CRITICALITIES);

/** Throws an InvalidConfigError naming each bad key, criticality or option. */
function checkLevels(levels: unknown, options: RunLevelsOptions, issues: Issues): void {
  if (!Array.isArray(levels)) {
    issues.add('levels', 'an array of levels (arrays of { key, item, criticality? })', levels);
    return;
  }
  const seen = new Set<string>();
  for (const [l, level] of levels.entries()) {
    if (!Array.isArray(level)) {
      issues.add(`levels[${l}]`, 'an array of { key, item, criticality? }', level);
      continue;
    }
    for (const [i, entry] of level.entries()) {
      const at = `levels[${l}][${i}]`;
      const e = entry as Partial<LevelItem<unknown>> | null;
      if (typeof e !== 'object' || e === null) {
        issues.add(at, 'an object { key, item, criticality? }', e);
        continue;
      }
      if (typeof e.key !== 'string' || e.key === '') issues.add(`${at}.key`, 'a non-empty string', e.key);
      else if (seen.has(e.key))
        issues.add(`${at}.key`, 'a key unique across all levels', e.key, 'give each item its own key');
      else seen.add(e.key);
      if (e.criticality !== undefined) criticalityCheck(e.criticality, `${at}.criticality`, issues);
    }
  }
  const c = options.concurrency;
  if (c !== undefined && !(c === Number.POSITIVE_INFINITY || (Number.isInteger(c) && c >= 1)))
    issues.add('concurrency', 'a positive integer or Infinity', c, 'use a whole number of at least 1');
}

function emptyCounts(): OutcomeCounts {
  return { total: 0, succeeded: 0, failed: 0, skipped: 0 };
}

function byCriticality(): Record<DependencyCriticality, OutcomeCounts> {
  return { core: emptyCounts(), optional: emptyCounts(), stretch: emptyCounts() };
}

function count(c: OutcomeCounts, status: ItemOutcome['status']): void {
  c.total++;
  c[status]++;
}

/**
 * Runs levels in order, each level's items in parallel; see the module comment for the rules.
 * Never rejects because an item failed (failures are in the report); rejects only for bad input
 * (an InvalidConfigError naming the item) or when `onOutcome` throws.
 * @example
 * const report = await runLevels(
 *   [[{ key: 'postgres', item: pg }, { key: 'otel', item: otel, criticality: 'optional' }], [{ key: 'api', item: api }]],
 *   (service, signal) => service.start(signal),
 * );
 * if (!report.ok) process.exitCode = 1;
 */
export async function runLevels<I>(
  levels: readonly (readonly LevelItem<I>[])[],
  run: LevelRun<I>,
  options: RunLevelsOptions = {},
): Promise<LevelsReport> {
  const issues = new Issues();
  checkLevels(levels, options, issues);
  if (typeof run !== 'function') issues.add('run', 'a function (item, signal, key) => Promise', run);
  if (issues.list.length > 0) throw new InvalidConfigError(issues.list);

  const signal = options.signal ?? NEVER_ABORTED_SIGNAL;
  const concurrency = options.concurrency ?? Number.POSITIVE_INFINITY;
  const continueOnError = options.continueOnError === true;
  const { onOutcome, isDone } = options;
  const started = performance.now();
  const outcomes: ItemOutcome[] = [];
  const summaries: LevelSummary[] = [];
  let stopped: LevelsReport['stopped'];
  let stoppedAtLevel: number | undefined;

  const settle = (o: ItemOutcome, at: number): void | Promise<void> => {
    outcomes[at] = o;
    return onOutcome?.(o);
  };

  let base = 0;
  for (let l = 0; l < levels.length; l++) {
    const level = levels[l] as readonly LevelItem<I>[];
    const levelStart = performance.now();
    let coreFailed = false;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < level.length) {
        const i = next++;
        const { key, item } = level[i] as LevelItem<I>;
        const criticality = level[i]?.criticality ?? 'core';
        let o: ItemOutcome;
        if (isDone?.(key))
          o = { key, level: l, criticality, status: 'skipped', durationMs: 0, reason: 'done' };
        else if (stopped !== undefined || signal.aborted || (coreFailed && !continueOnError)) {
          const reason = signal.aborted ? 'aborted' : 'stopped';
          o = { key, level: l, criticality, status: 'skipped', durationMs: 0, reason };
        } else {
          const t0 = performance.now();
          try {
            await run(item, signal, key);
            o = { key, level: l, criticality, status: 'succeeded', durationMs: performance.now() - t0 };
          } catch (error) {
            o = { key, level: l, criticality, status: 'failed', durationMs: performance.now() - t0, error };
            if (criticality === 'core') coreFailed = true;
          }
        }
        const pending = settle(o, base + i);
        if (pending !== undefined) await pending;
      }
    };
    const workers = Math.min(concurrency, level.length);
    if (workers === 1) await worker();
    else await Promise.all(Array.from({ length: workers }, worker));

    const summary: LevelSummary = {
      level: l,
      ...emptyCounts(),
      durationMs: 0,
      byCriticality: byCriticality(),
    };
    for (let i = base; i < base + level.length; i++) {
      const o = outcomes[i] as ItemOutcome;
      count(summary, o.status);
      count(summary.byCriticality[o.criticality], o.status);
    }
    summary.durationMs = performance.now() - levelStart;
    summaries.push(summary);
    base += level.length;
    if (stopped === undefined && signal.aborted) {
      stopped = 'aborted';
      stoppedAtLevel = l;
    } else if (stopped === undefined && coreFailed) {
      stopped = 'core-failure';
      stoppedAtLevel = l;
    }
  }

  const report: LevelsReport = {
    ok: true,
    ...emptyCounts(),
    warnings: 0,
    durationMs: 0,
    outcomes,
    levels: summaries,
    byCriticality: byCriticality(),
  };
  for (const o of outcomes) {
    count(report, o.status);
    count(report.byCriticality[o.criticality], o.status);
    if (o.status === 'failed' && o.criticality !== 'core') report.warnings++;
    if (
      o.criticality === 'core' &&
      (o.status === 'failed' || (o.status === 'skipped' && o.reason !== 'done'))
    )
      report.ok = false;
  }
  if (stopped !== undefined) {
    report.stopped = stopped;
    report.stoppedAtLevel = stoppedAtLevel;
  }
  report.durationMs = performance.now() - started;
  return report;
}
