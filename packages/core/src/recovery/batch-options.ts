/**
 * Options of checkpointed batches: the types, and the one check/resolve pair (checks collect
 * every problem, resolve throws one InvalidConfigError and returns a frozen, defaulted copy).
 */

import type { RecordStore } from '../stores/records.js';
import type { EventStream } from '../telemetry/events.js';
import type { Policy } from '../types.js';
import {
  boolean,
  type Check,
  func,
  Issues,
  isPlainObject,
  positiveDuration,
  positiveInt,
  shape,
  text,
  throwIfIssues,
  withMethods,
} from '../util/checks.js';
import { type Duration, parseDuration } from '../util/duration.js';
import type { DependencyCriticality, ItemOutcome } from './levels.js';

/** When progress is written: after `every` finished items, or `interval` after the first unwritten one, whichever comes first. */
export interface CheckpointOptions {
  /** Items finished between two writes at most. Default 100. */
  every?: number;
  /** Longest time a finished item waits to be written. Default `'1s'`. */
  interval?: Duration;
}

/** Runs one item; `signal` is the attempt's (the named policy's timeout and the run's abort reach it). */
export type BatchFn<I, R> = (item: I, signal: AbortSignal, key: string) => Promise<R> | R;

/** Options of a batch. */
export interface BatchOptions<I, R = unknown> {
  /**
   * The checkpoint's id: a rerun with `resume` finds the progress saved under it. Default the
   * batch's name (the policy name for `bulwark.batch`). `[A-Za-z0-9._:-]`, up to 200 characters.
   */
  id?: string;
  /**
   * The item's key, unique in the batch: it names the item in the report and in checkpoints (a
   * resumed run skips the keys already done). Default: the item itself when it is a string or a
   * number, else its `key` or `id` property.
   */
  key?: (item: I, index: number) => string;
  /** Items run at once (within a level). Default 1. */
  concurrency?: number;
  /** Keep going after a failure and report every one; default false: stop at the first core failure. */
  continueOnError?: boolean;
  /** When progress is written to the record store; `false`: never (no resume). Default `{ every: 100, interval: '1s' }`. */
  checkpoint?: CheckpointOptions | boolean;
  /** Skip the items an earlier run under the same `id` finished. Default false (a fresh run discards old progress). */
  resume?: boolean;
  /** Undo the items that succeeded (last finished first) when a core item failed. Needs `undo`. Default false. */
  rollback?: boolean;
  /** How to undo one item; `result` is what `fn` returned (from the checkpoint, after a resume: JSON only). */
  undo?: (item: I, result: R | undefined, signal: AbortSignal, key: string) => unknown;
  /** The item's level (a non-negative integer; levels run in ascending order). Default 0: one level. */
  level?: (item: I, key: string) => number;
  /** The item's criticality; an optional or stretch failure is a warning. Default `core`. */
  criticality?: (item: I, key: string) => DependencyCriticality;
  /** The `Error:` line of a failure in the text report. Default `Item '<key>' failed`. */
  describe?: (key: string, item: I) => string;
  /** Aborting it stops the batch: items not started are skipped, the checkpoint is written. */
  signal?: AbortSignal;
  /** Called as each item's outcome is known. */
  onOutcome?: (outcome: ItemOutcome) => void;
}

/** Options of the standalone `runBatch` (what `bulwark.batch` fills in from the registry). */
export interface RunBatchOptions<I, R = unknown> extends BatchOptions<I, R> {
  /** The batch's name in reports and events. Default `'batch'`. */
  name?: string;
  /** The policy each item runs under. Default none: `fn` is called directly. */
  policy?: Policy<unknown>;
  /** Where checkpoints live, in the `batch.checkpoints` kind (required unless `checkpoint: false`). */
  records?: Pick<RecordStore, 'records'>;
  /** Where `batch.*` events go. */
  events?: EventStream;
}

/** Resolved options (frozen, defaulted). */
export interface ResolvedBatchOptions<I, R> {
  readonly name: string;
  readonly id: string;
  readonly key: (item: I, index: number) => string;
  readonly concurrency: number;
  readonly continueOnError: boolean;
  /** Undefined when checkpoints are off. */
  readonly checkpoint: { readonly every: number; readonly intervalMs: number } | undefined;
  readonly resume: boolean;
  readonly rollback: boolean;
  readonly undo: BatchOptions<I, R>['undo'];
  readonly level: BatchOptions<I, R>['level'];
  readonly criticality: BatchOptions<I, R>['criticality'];
  readonly describe: (key: string, item: I) => string;
  readonly signal: AbortSignal | undefined;
  readonly onOutcome: BatchOptions<I, R>['onOutcome'];
  readonly policy: Policy<unknown> | undefined;
  readonly records: Pick<RecordStore, 'records'> | undefined;
  readonly events: RunBatchOptions<I, R>['events'];
}

/** Default checkpoint cadence. */
export const DEFAULT_CHECKPOINT = Object.freeze({ every: 100, intervalMs: 1000 });

const ID = /^[A-Za-z0-9._:-]{1,200}$/;

const batchId: Check = (v, p, out) => {
  if (typeof v !== 'string' || !ID.test(v))
    out.add(p, 'an id of 1 to 200 characters from [A-Za-z0-9._:-]', v, "e.g. 'tenants.sync'");
};

const concurrency: Check = (v, p, out) => {
  if (!(v === Number.POSITIVE_INFINITY || (Number.isInteger(v) && (v as number) >= 1)))
    out.add(p, 'a positive integer or Infinity', v, 'use a whole number of at least 1, e.g. 4');
};

const checkpointShape = shape({ every: positiveInt, interval: positiveDuration });
const checkpoint: Check = (v, p, out) => {
  if (typeof v !== 'boolean') checkpointShape(v, p, out);
};

const fields: Record<string, Check> = {
  id: batchId,
  key: func,
  concurrency,
  continueOnError: boolean,
  checkpoint,
  resume: boolean,
  rollback: boolean,
  undo: func,
  level: func,
  criticality: func,
  describe: func,
  signal: withMethods('an AbortSignal', ['addEventListener', 'removeEventListener']),
  onOutcome: func,
  name: text,
  policy: withMethods('a Policy (with execute)', ['execute'], 'pass bulwark.policy(name), or leave it out'),
  records: withMethods('a RecordStore', ['records'], 'pass bulwark.records or memoryRecords()'),
  events: withMethods('an EventStream', ['emit'], 'pass an EventStream instance from code'),
};
const optionsShape = shape(fields, { aliases: { continueOnFailure: 'continueOnError', keyOf: 'key' } });

/** The default item key: the item itself (string or number), else its `key` or `id`. */
export function defaultKey(item: unknown, index: number): string {
  if (typeof item === 'string') return item;
  if (typeof item === 'number' && Number.isFinite(item)) return String(item);
  if (isPlainObject(item) || (typeof item === 'object' && item !== null)) {
    const o = item as { key?: unknown; id?: unknown };
    for (const k of [o.key, o.id]) {
      if (typeof k === 'string' && k !== '') return k;
      if (typeof k === 'number' && Number.isFinite(k)) return String(k);
    }
  }
  throw new TypeError(
    `Cannot tell the key of item ${index} (${typeof item}): give it a string \`key\` or \`id\`, or pass the \`key\` option, e.g. key: (tenant) => tenant.slug.`,
  );
}

/** Checks batch options, collecting every problem. */
export function checkBatchOptions(input: unknown, path: string, issues: Issues): void {
  optionsShape(input, path, issues);
  const o = (isPlainObject(input) ? input : {}) as RunBatchOptions<unknown>;
  if (o.rollback === true && o.undo === undefined)
    issues.add(
      `${path ? `${path}.` : ''}undo`,
      'a function (item, result, signal, key) (required by rollback)',
      undefined,
    );
}

/** Validates, copies and defaults batch options; throws one InvalidConfigError listing every problem. */
export function resolveBatchOptions<I, R>(input: RunBatchOptions<I, R> = {}): ResolvedBatchOptions<I, R> {
  const issues = new Issues();
  checkBatchOptions(input, '', issues);
  throwIfIssues(issues);
  const name = input.name ?? 'batch';
  if (input.id === undefined && !ID.test(name)) {
    issues.add('id', 'an id (the name cannot serve as one)', name, 'pass `id`, e.g. ' + "'tenants.sync'");
    throwIfIssues(issues);
  }
  const cp = input.checkpoint;
  const checkpoint =
    cp === false
      ? undefined
      : Object.freeze({
          every: (typeof cp === 'object' ? cp.every : undefined) ?? DEFAULT_CHECKPOINT.every,
          intervalMs:
            (typeof cp === 'object' ? parseDuration(cp.interval) : undefined) ??
            DEFAULT_CHECKPOINT.intervalMs,
        });
  if ((checkpoint !== undefined || input.resume === true) && input.records === undefined) {
    issues.add(
      'records',
      'a RecordStore (checkpoints and resume need one)',
      undefined,
      'pass bulwark.records or memoryRecords(), or set checkpoint: false',
    );
    throwIfIssues(issues);
  }
  return Object.freeze({
    name,
    id: input.id ?? name,
    key: input.key ?? defaultKey,
    concurrency: input.concurrency ?? 1,
    continueOnError: input.continueOnError === true,
    checkpoint,
    resume: input.resume === true,
    rollback: input.rollback === true,
    undo: input.undo,
    level: input.level,
    criticality: input.criticality,
    describe: input.describe ?? ((key: string) => `Item '${key}' failed`),
    signal: input.signal,
    onOutcome: input.onOutcome,
    policy: input.policy,
    records: input.records,
    events: input.events,
  });
}
