/**
 * The one LIFO undo runner that sagas and the compensation manager share. It runs undo tasks in
 * reverse order of registration, each at most once (a task runs only when its owner's `claim`
 * says so, and the owner records the claim before the run), retries a failing one under a retry
 * policy (policies/retry.ts, so policies/backoff.ts decides the waits), then dead-letters it. A
 * failure never stops the tasks before it from running, and is never dropped: it is in the
 * outcome, in the owner's record, in the dead letters (when a sink is wired) and in the events.
 */
import { isRetryExhaustedError } from '../errors/bulwark-error.js';
import type { RecordValue } from '../stores/records.js';
import type { Policy } from '../types.js';
import { NEVER_ABORTED_SIGNAL } from '../util/time.js';

/** What an undo hands to a dead-letter queue (the subset of `bulwark.deadLetters.add()` it uses). */
export interface DeadLetterInput {
  /** Dead-letter type, e.g. 'saga.compensation'. */
  type: string;
  /** What a person (or a handler) needs to redo the work: saga id, step, operation id. */
  payload: RecordValue;
  /** The undo's last error. */
  error: unknown;
  /** Where it happened (correlation id, saga name, reason). */
  context?: Record<string, RecordValue | undefined>;
}

/** Where failed undos go: `bulwark.deadLetters` satisfies it; tests pass a fake. */
export interface DeadLetterSink {
  /** Stores the entry durably and resolves with its id. */
  add(entry: DeadLetterInput): Promise<string>;
}

/**
 * How an undo ended: `undone` (it returned), `failed` (it threw on every attempt), or `unknown`
 * (it was started before a crash and never recorded as finished: it may or may not have acted).
 */
export type UndoStatus = 'undone' | 'failed' | 'unknown';

/** One registered undo. `run` may be sync or async. */
export interface UndoTask {
  /** Stable id (compensation id, or the saga step's index). */
  readonly id: string;
  /** Name in results, events and dead letters. */
  readonly name: string;
  /** The undo itself. */
  readonly run: (signal: AbortSignal) => unknown;
}

/** The outcome of one undo. */
export interface UndoOutcome {
  /** The task's id. */
  readonly id: string;
  /** The task's name. */
  readonly name: string;
  /** How it ended. */
  status: UndoStatus;
  /** Attempts made by this process (0: the outcome was decided from a record, nothing ran). */
  attempts: number;
  /** The undo's last error (a failed undo), or why the outcome is unknown. */
  error?: unknown;
  /** Id of the dead letter that holds it (a failed or unknown undo). */
  deadLetterId?: string;
  /** Why dead-lettering failed, when it did (the owner's record still holds the failure). */
  deadLetterError?: unknown;
}

/** What an owner (a saga run, the compensation manager) decides and records around each undo. */
export interface UnwindHooks {
  /**
   * Called before a task runs: `true` runs it (the owner has recorded, durably where it must,
   * that it started); an outcome means it is already decided (done before, or unknown) and the
   * task does not run.
   */
  claim(task: UndoTask): Promise<true | UndoOutcome> | true | UndoOutcome;
  /** Records an outcome (after the run, and again once dead-lettered); awaited before going on. */
  record(task: UndoTask, outcome: UndoOutcome): Promise<void> | void;
  /** Called once per task when its outcome is final (events). Must not throw. */
  report?(task: UndoTask, outcome: UndoOutcome): void;
  /** Dead-letters a failed or unknown outcome; absent: nothing to dead-letter into. */
  deadLetter?(task: UndoTask, outcome: UndoOutcome): Promise<string>;
  /** Retry policy each undo runs under (absent: one attempt). */
  retry?: Policy;
  /** Signal handed to undos. Default: one that never aborts. */
  signal?: AbortSignal;
  /** Counters to update. */
  counters?: UndoCounters;
}

/** Statistics of undos (compensations, or a saga's undo steps), since the manager was created. */
export interface CompensationStats {
  /** Undos registered. */
  registered: number;
  /** Undos run (each counted once, however many attempts it took). */
  executed: number;
  /** Undos that succeeded. */
  successful: number;
  /** Undos that failed on every attempt (or, for sagas, were unknown after a crash). */
  failed: number;
  /** Undos registered and not yet run (nor discarded). */
  pending: number;
}

/** The counters behind {@link CompensationStats}: `unwind` counts runs, owners count the rest. */
export class UndoCounters implements CompensationStats {
  registered = 0;
  executed = 0;
  successful = 0;
  failed = 0;
  pending = 0;

  /** A copy of the counts. */
  snapshot(): CompensationStats {
    const { registered, executed, successful, failed, pending } = this;
    return { registered, executed, successful, failed, pending };
  }
}

/** Runs `tasks` last first; resolves with one outcome per task, in the order they were handled. */
export async function unwind(tasks: readonly UndoTask[], hooks: UnwindHooks): Promise<UndoOutcome[]> {
  const outcomes: UndoOutcome[] = [];
  for (let i = tasks.length - 1; i >= 0; i--) {
    const task = tasks[i] as UndoTask;
    const claimed = await hooks.claim(task);
    let outcome: UndoOutcome;
    if (claimed === true) {
      outcome = await runOnce(task, hooks);
      await hooks.record(task, outcome);
    } else {
      outcome = claimed;
    }
    if (outcome.status !== 'undone' && outcome.deadLetterId === undefined && hooks.deadLetter) {
      try {
        outcome.deadLetterId = await hooks.deadLetter(task, outcome);
        outcome.deadLetterError = undefined;
      } catch (error) {
        outcome.deadLetterError = error;
      }
      await hooks.record(task, outcome);
    }
    hooks.report?.(task, outcome);
    outcomes.push(outcome);
  }
  return outcomes;
}

async function runOnce(task: UndoTask, hooks: UnwindHooks): Promise<UndoOutcome> {
  const counters = hooks.counters;
  if (counters) counters.executed++;
  let attempts = 0;
  const signal = hooks.signal ?? NEVER_ABORTED_SIGNAL;
  const call = async (s: AbortSignal, attempt = 1) => {
    attempts = attempt;
    await task.run(s);
  };
  try {
    if (hooks.retry) await hooks.retry.execute(call, { signal });
    else await call(signal);
    if (counters) counters.successful++;
    return { id: task.id, name: task.name, status: 'undone', attempts };
  } catch (error) {
    if (counters) counters.failed++;
    // The undo's own error says what went wrong; the retry wrapper only says that it kept failing.
    const cause = isRetryExhaustedError(error) ? error.cause : error;
    return { id: task.id, name: task.name, status: 'failed', attempts, error: cause };
  }
}
