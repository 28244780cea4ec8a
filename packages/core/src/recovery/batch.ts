/**
 * Checkpointed batches with continue-on-error: each item runs under a policy (for
 * `bulwark.batch`, the named one), in levels with criticality (the one runner, levels.ts);
 * progress goes to the record store every N items or T ms and at the end, so a rerun with
 * `resume` skips what is done; a core failure stops the batch (or, with `continueOnError`, the
 * batch finishes) and, with `rollback`, the items done are undone last first. The result is the
 * partial-success report (batch-report.ts), rendered by batch-render.ts.
 *
 * Each item runs at least once: an item that succeeded after the last checkpoint write runs again
 * after a crash and `resume`, so `fn` must be idempotent (key the remote write by the item key).
 */
import { InvalidConfigError } from '../errors/bulwark-error.js';
import { CHECKPOINT_KIND, Checkpoint } from './batch-checkpoint.js';
import {
  type BatchFn,
  type ResolvedBatchOptions,
  type RunBatchOptions,
  resolveBatchOptions,
} from './batch-options.js';
import {
  type BatchReport,
  batchReport,
  describeError,
  type RollbackReport,
  reasonOf,
} from './batch-report.js';
import { type ItemOutcome, type LevelItem, runLevels } from './levels.js';
import { type UndoTask, unwind } from './unwind.js';

interface Entry<I> {
  readonly item: I;
  readonly index: number;
}

/** Groups items into levels (ascending) with their keys and criticalities; throws naming each bad item. */
function toLevels<I, R>(items: readonly I[], o: ResolvedBatchOptions<I, R>): LevelItem<Entry<I>>[][] {
  const byLevel = new Map<number, LevelItem<Entry<I>>[]>();
  const problems: { path: string; expected: string; received: string }[] = [];
  for (let index = 0; index < items.length; index++) {
    const item = items[index] as I;
    const key = o.key(item, index);
    if (typeof key !== 'string' || key === '') {
      problems.push({ path: `items[${index}] key`, expected: 'a non-empty string', received: String(key) });
      continue;
    }
    const level = o.level ? o.level(item, key) : 0;
    if (!(Number.isInteger(level) && level >= 0))
      problems.push({
        path: `items[${index}] level`,
        expected: 'a non-negative integer',
        received: String(level),
      });
    const criticality = o.criticality ? o.criticality(item, key) : 'core';
    let list = byLevel.get(level);
    if (!list) {
      list = [];
      byLevel.set(level, list);
    }
    list.push({ key, item: { item, index }, criticality });
  }
  if (problems.length > 0) throw new InvalidConfigError(problems);
  return [...byLevel.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
}

/** Undoes `done` last first, each once, on the runner sagas use (unwind.ts); never rejects (a failing undo is reported). */
async function rollBack<I, R>(
  done: readonly { key: string; item: I; result: R | undefined }[],
  o: ResolvedBatchOptions<I, R>,
): Promise<RollbackReport> {
  const undo = o.undo as NonNullable<typeof o.undo>;
  const tasks: UndoTask[] = done.map(({ key, item, result }) => ({
    id: key,
    name: key,
    run: (signal) => undo(item, result, signal, key),
  }));
  // The batch's done list is in memory and runs each undo once; nothing to claim or record durably.
  const outcomes = await unwind(tasks, { claim: () => true, record: () => undefined });
  const report: RollbackReport = { undone: [], failed: [] };
  for (const u of outcomes) {
    if (u.status === 'undone') report.undone.push(u.id);
    else report.failed.push({ key: u.id, code: describeError(u.error).code, reason: reasonOf(u.error) });
  }
  return report;
}

/**
 * Runs `fn` for every item (under `options.policy` when given) and returns the partial-success
 * report; see the module comment. Rejects only for bad options or items (an InvalidConfigError
 * naming them) and when a checkpoint cannot be written — never because an item failed.
 * @example
 * const report = await runBatch(tenants, (t, signal) => api.sync(t, signal), {
 *   name: 'tenants.sync', key: (t) => t.id, records: memoryRecords(), continueOnError: true,
 * });
 * console.log(renderBatchText(report));
 */
export async function runBatch<I, R>(
  items: Iterable<I>,
  fn: BatchFn<I, R>,
  options: RunBatchOptions<I, R> = {},
): Promise<BatchReport> {
  const o = resolveBatchOptions(options);
  if (typeof fn !== 'function')
    throw new InvalidConfigError([
      { path: 'fn', expected: 'a function (item, signal, key)', received: typeof fn },
    ]);
  const list = Array.isArray(items) ? (items as readonly I[]) : Array.from(items);
  const levels = toLevels(list, o);

  let cp: Checkpoint | undefined;
  const done: { key: string; item: I; result: R | undefined }[] = [];
  const earlier = new Set<string>();
  if (o.records !== undefined && (o.checkpoint !== undefined || o.resume)) {
    const records = o.records.records(CHECKPOINT_KIND);
    const every = o.checkpoint?.every ?? Number.POSITIVE_INFINITY;
    const interval = o.checkpoint?.intervalMs ?? 2_147_483_647;
    cp = new Checkpoint(records, o.id, o.name, every, interval, o.rollback);
    if (o.resume) {
      const progress = await cp.load();
      const byKey = new Map(levels.flat().map((l) => [l.key, l.item.item]));
      for (const key of progress.done) {
        if (!byKey.has(key) || earlier.has(key)) continue;
        earlier.add(key);
        done.push({ key, item: byKey.get(key) as I, result: progress.results.get(key) as R | undefined });
      }
    } else await cp.clear();
    if (o.checkpoint !== undefined) await cp.head('running');
  }

  const results = new Map<string, R>();
  const run = async (entry: Entry<I>, signal: AbortSignal, key: string): Promise<void> => {
    const result = o.policy
      ? // The item is the payload a policy with `deadLetter` stores, so the queue's handler can redo it.
        ((await o.policy.execute((s) => fn(entry.item, s, key), { signal, payload: entry.item })) as R)
      : await fn(entry.item, signal, key);
    results.set(key, result);
  };
  const entries = new Map(levels.flat().map((l) => [l.key, l.item]));
  const onOutcome = (outcome: ItemOutcome): Promise<void> | undefined => {
    o.onOutcome?.(outcome);
    if (outcome.status !== 'succeeded') return undefined;
    const result = results.get(outcome.key);
    results.delete(outcome.key);
    if (o.rollback)
      done.push({ key: outcome.key, item: (entries.get(outcome.key) as Entry<I>).item, result });
    return o.checkpoint !== undefined ? cp?.add(outcome.key, result) : undefined;
  };

  try {
    const levelsReport = await runLevels(levels, run, {
      concurrency: o.concurrency,
      continueOnError: o.continueOnError,
      ...(o.signal ? { signal: o.signal } : {}),
      onOutcome,
      isDone: (key) => earlier.has(key),
    });
    let rollback: RollbackReport | undefined;
    if (o.rollback && !levelsReport.ok && levelsReport.stopped !== 'aborted') {
      rollback = await rollBack(done, o);
      if (cp && o.checkpoint !== undefined) {
        await cp.flush();
        await cp.clear();
        await cp.head('rolled-back');
      }
    } else if (cp && o.checkpoint !== undefined) {
      const complete =
        levelsReport.failed === 0 && levelsReport.succeeded + earlier.size === levelsReport.total;
      await cp.finish(complete ? 'finished' : 'stopped');
    }
    const describe = (key: string) => o.describe(key, (entries.get(key) as Entry<I>).item);
    const report = batchReport(levelsReport, {
      name: o.name,
      id: o.id,
      describe,
      ...(rollback ? { rollback } : {}),
      ...(cp && o.checkpoint !== undefined ? { checkpointWrites: cp.writes } : {}),
    });
    emitFinished(o, report);
    return report;
  } finally {
    cp?.close();
  }
}

function emitFinished<I, R>(o: ResolvedBatchOptions<I, R>, r: BatchReport): void {
  const events = o.events;
  if (!events?.active) return;
  let i = 0;
  for (const outcome of r.outcomes) {
    if (outcome.status !== 'failed') continue;
    const f = r.failures[i++] as BatchReport['failures'][number];
    events.emit({
      type: 'batch.item-failed',
      policy: o.name,
      key: f.key,
      batch: o.id,
      criticality: f.criticality,
      code: f.code,
      error: outcome.error,
    });
  }
  events.emit({
    type: 'batch.finished',
    policy: o.name,
    batch: o.id,
    status: r.status,
    ok: r.ok,
    succeeded: r.succeeded,
    failed: r.failed,
    skipped: r.skipped,
    durationMs: r.durationMs,
  });
}
