/**
 * Options of sagas and of the compensation manager: one check (collects every problem) and one
 * resolver (throws one InvalidConfigError, returns a frozen defaulted copy) each, following
 * util/checks.ts. The undo retry is a retry policy (policies/retry.ts), so the backoff between
 * attempts is policies/backoff.ts's, never a copy.
 */
import { checkRetryOptions, type RetryOptions, RetryPolicy } from '../policies/retry.js';
import type { RecordStore } from '../stores/records.js';
import { defaultEvents, type EventStream } from '../telemetry/events.js';
import {
  boolean,
  type Check,
  commonFields,
  duration,
  falseOr,
  func,
  Issues,
  isPlainObject,
  positiveInt,
  shape,
  text,
  throwIfIssues,
  withMethods,
} from '../util/checks.js';
import { type Duration, parseDuration } from '../util/duration.js';
import type { DeadLetterSink } from './unwind.js';

/** Options shared by sagas and compensations: how a failing undo is retried and dead-lettered. */
export interface UndoOptions {
  /**
   * Retry of a failing undo, as a retry policy's options; `false`: one attempt. Default 3 attempts,
   * exponential backoff from 100ms up to 5s with full jitter, no retry budget.
   */
  retry?: false | RetryOptions;
  /** Dead-letter type of an undo that still fails (or is unknown after a crash). */
  deadLetterType?: string;
  /** Where events go. Default: the process-wide stream (the facade passes `bulwark.events`). */
  events?: EventStream;
  /** Where failed undos are dead-lettered (the facade passes `bulwark.deadLetters`). */
  deadLetters?: DeadLetterSink;
}

/** Saga options. */
export interface SagaOptions extends UndoOptions {
  /** Where the saga log lives (the facade passes `bulwark.records`). Default: a memory store (no resume after a restart). */
  records?: RecordStore;
  /** How long the log of a finished saga is kept (running ones never expire). Default '168h' (7 days). */
  retention?: Duration;
  /** Default dead-letter type: 'saga.compensation'. */
  deadLetterType?: string;
}

/** Compensation manager options. */
export interface CompensationsOptions extends UndoOptions {
  /** Operations holding registrations at once; registering for one more is refused. Default 10,000. */
  maxOperations?: number;
  /** Compensations per operation; registering one more is refused. Default 1,000. */
  maxPerOperation?: number;
  /** Default dead-letter type: 'compensation'. */
  deadLetterType?: string;
}

/** Undo options after resolving. */
export interface ResolvedUndoOptions {
  readonly retry: RetryPolicy | undefined;
  readonly deadLetterType: string;
  readonly events: EventStream;
  readonly deadLetters: DeadLetterSink | undefined;
}

/** Saga options after {@link resolveSagaOptions}. */
export interface ResolvedSagaOptions extends ResolvedUndoOptions {
  readonly records: RecordStore | undefined;
  readonly retentionMs: number;
}

/** Compensation options after {@link resolveCompensationsOptions}. */
export interface ResolvedCompensationsOptions extends ResolvedUndoOptions {
  readonly maxOperations: number;
  readonly maxPerOperation: number;
}

/** Default undo retry: a few quick attempts (an undo usually fails for a transient reason). */
const UNDO_RETRY: RetryOptions = { maxAttempts: 3, initialDelay: 100, maxDelay: 5000, budget: false };
const DEFAULT_RETENTION_MS = 7 * 24 * 3_600_000;
/** The dead-letter type of a saga's failed undos, unless `deadLetterType` says otherwise. */
export const SAGA_DEAD_LETTER_TYPE = 'saga.compensation';

const deadLetterSink: Check = withMethods(
  'a dead-letter queue (an object with add(entry))',
  ['add'],
  'pass bulwark.deadLetters, or an object whose add(entry) resolves with an id',
);
const recordStore: Check = withMethods(
  'a RecordStore (records, close)',
  ['records', 'close'],
  'pass memoryRecords() or durableRecords({ path })',
);

const undoFields: Record<string, Check> = {
  retry: falseOr(checkRetryOptions),
  deadLetterType: text,
  events: commonFields.events,
  deadLetters: deadLetterSink,
};

const sagaShape = shape(
  { ...undoFields, records: recordStore, retention: duration(true) },
  { aliases: { store: 'records', log: 'records', ttl: 'retention', deadLetter: 'deadLetters' } },
);
const compensationsShape = shape(
  { ...undoFields, maxOperations: positiveInt, maxPerOperation: positiveInt },
  { aliases: { maxSize: 'maxOperations', max: 'maxOperations', deadLetter: 'deadLetters' } },
);

/** Checks saga options at `path`, collecting every problem in `issues`. */
export function checkSagaOptions(input: unknown, path: string, issues: Issues): void {
  sagaShape(input, path, issues);
}

/** Checks compensation manager options at `path`, collecting every problem in `issues`. */
export function checkCompensationsOptions(input: unknown, path: string, issues: Issues): void {
  compensationsShape(input, path, issues);
}

function resolveUndo(o: UndoOptions, policyName: string, deadLetterType: string): ResolvedUndoOptions {
  const events = o.events ?? defaultEvents;
  const retry =
    o.retry === false ? undefined : new RetryPolicy({ ...UNDO_RETRY, ...o.retry, name: policyName, events });
  return {
    retry,
    deadLetterType: o.deadLetterType ?? deadLetterType,
    events,
    deadLetters: o.deadLetters,
  };
}

/** Validates and defaults saga options once; throws one InvalidConfigError listing every problem. */
export function resolveSagaOptions(name: string, input: SagaOptions = {}): ResolvedSagaOptions {
  const issues = new Issues();
  checkSagaOptions(input, 'saga', issues);
  throwIfIssues(issues);
  return Object.freeze({
    ...resolveUndo(input, `saga:${name}`, SAGA_DEAD_LETTER_TYPE),
    records: input.records,
    retentionMs:
      input.retention === undefined ? DEFAULT_RETENTION_MS : (parseDuration(input.retention) as number),
  });
}

/** Validates and defaults compensation manager options once. */
export function resolveCompensationsOptions(input: CompensationsOptions = {}): ResolvedCompensationsOptions {
  const issues = new Issues();
  checkCompensationsOptions(input, 'compensations', issues);
  throwIfIssues(issues);
  return Object.freeze({
    ...resolveUndo(input, 'compensations', 'compensation'),
    maxOperations: input.maxOperations ?? 10_000,
    maxPerOperation: input.maxPerOperation ?? 1000,
  });
}

/** A saga step as the checks see it. */
const stepShape = shape(
  { name: text, do: func, undo: func, idempotent: boolean },
  {
    required: ['name', 'do'],
    expected: 'a step { name, do, undo? }',
    aliases: { run: 'do', action: 'do', compensate: 'undo', rollback: 'undo' },
  },
);

/** Checks a saga's steps: a non-empty array of `{ name, do, undo? }` with unique names. */
export function checkSagaSteps(steps: unknown, path: string, issues: Issues): void {
  if (!Array.isArray(steps) || steps.length === 0) {
    issues.add(path, 'a non-empty array of steps', steps, 'pass [{ name, do, undo }, ...]');
    return;
  }
  const seen = new Set<string>();
  for (const [i, step] of steps.entries()) {
    stepShape(step, `${path}[${i}]`, issues);
    const name = isPlainObject(step) ? step.name : undefined;
    if (typeof name !== 'string') continue;
    if (seen.has(name))
      issues.add(`${path}[${i}].name`, 'a name no other step has', name, 'give every step its own name');
    seen.add(name);
  }
}
