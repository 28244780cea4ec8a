/**
 * A saga's undo phase: which steps to undo, and how each undo's claim, outcome and dead letter are
 * logged around the shared runner (recovery/unwind.ts). The log decides at-most-once: an undo runs
 * only when its step has no undo state yet, and `started` is written (and awaited) before it runs.
 */
import { getContext } from '../context/context.js';
import { errorRecord, reviveError } from './saga-error.js';
import type { LiveErrors, SagaLogStep, SagaLogWriter } from './saga-log.js';
import type { ResolvedSagaOptions } from './saga-options.js';
import type { SagaContext, SagaStep } from './saga-types.js';
import {
  type DeadLetterSink,
  type UndoCounters,
  type UndoOutcome,
  type UndoTask,
  type UnwindHooks,
  unwind,
} from './unwind.js';

/** Everything one undo phase needs. */
export interface UndoPhase {
  name: string;
  steps: readonly SagaStep<unknown>[];
  writer: SagaLogWriter;
  ctx: SagaContext<unknown>;
  live: LiveErrors;
  options: ResolvedSagaOptions;
  sink: DeadLetterSink | undefined;
  counters: UndoCounters;
}

/** Why a saga undo was dead-lettered (the payload's `reason`). */
export type SagaDeadLetterReason = 'undo-failed' | 'undo-interrupted' | 'step-interrupted';

/** Undoes the completed (and interrupted) steps up to the failed one, last first. */
export function undoSteps(phase: UndoPhase): Promise<UndoOutcome[]> {
  const log = phase.writer.log;
  const last = log.failedStep ?? log.steps.length - 1;
  const tasks: UndoTask[] = [];
  for (let i = 0; i <= last; i++) {
    const s = log.steps[i];
    if (s && (s.state === 'completed' || s.state === 'interrupted')) {
      const task = taskOf(phase, i);
      if (task) tasks.push(task);
    }
  }
  const already = new Set<string>();
  const { writer, counters } = phase;
  return unwind(tasks, {
    ...hooksOf(phase, already),
    claim: async (task) => {
      const s = stepOf(phase, task);
      if (s.undo === 'undone' || s.undo === 'failed' || s.undo === 'unknown') {
        already.add(task.id);
        return loggedOutcome(task, s);
      }
      if (s.state === 'interrupted' || s.undo === 'started') {
        // Unknown: it may have acted (in the process that crashed), so it counts as a failure here.
        counters.failed++;
        const error = new Error(
          s.state === 'interrupted'
            ? `Step '${s.name}' was interrupted by a crash, so its undo was not run: check whether it acted.`
            : `The undo of '${s.name}' was interrupted by a crash and is not run twice: check whether it acted.`,
        );
        s.undo = 'unknown';
        s.undoError = errorRecord(error);
        await writer.write();
        return { id: task.id, name: task.name, status: 'unknown', attempts: 0, error };
      }
      counters.pending--;
      s.undo = 'started';
      await writer.write();
      return true;
    },
  });
}

/**
 * Runs the failed undo of step `index` once more (a dead letter's replay), under the retry policy.
 * The caller has checked that it is logged `failed`; its dead letter exists, so none is added.
 */
export async function retryUndoStep(phase: UndoPhase, index: number): Promise<UndoOutcome | undefined> {
  const task = taskOf(phase, index);
  if (!task) return undefined;
  const [outcome] = await unwind([task], {
    ...hooksOf(phase, new Set()),
    deadLetter: undefined,
    claim: async (): Promise<true> => {
      stepOf(phase, task).undo = 'started';
      await phase.writer.write();
      return true;
    },
  });
  return outcome;
}

function taskOf(phase: UndoPhase, i: number): UndoTask | undefined {
  const s = phase.writer.log.steps[i];
  const step = phase.steps[i];
  const undo = step?.undo;
  if (!s || !undo) return undefined;
  return { id: String(i), name: s.name, run: (signal) => undo.call(step, phase.ctx, s.result, signal) };
}

const stepOf = (phase: UndoPhase, task: UndoTask) => phase.writer.log.steps[Number(task.id)] as SagaLogStep;

/** The record, report and dead-letter hooks both undo paths share. */
function hooksOf(phase: UndoPhase, already: Set<string>): Omit<UnwindHooks, 'claim'> {
  const { writer, ctx, live, options, sink, counters, name } = phase;
  const log = writer.log;
  const events = options.events;
  const correlationId = getContext()?.correlationId;
  // Attempts logged before this phase (a retried undo adds its new ones to them).
  const before = log.steps.map((x) => x.undoAttempts ?? 0);
  return {
    record: (task, outcome) => {
      const s = stepOf(phase, task);
      s.undo = outcome.status;
      if (outcome.attempts > 0) s.undoAttempts = (before[Number(task.id)] ?? 0) + outcome.attempts;
      if (outcome.error !== undefined) {
        s.undoError = errorRecord(outcome.error);
        live.undo.set(Number(task.id), outcome.error);
      }
      if (outcome.deadLetterId !== undefined) s.deadLetterId = outcome.deadLetterId;
      return writer.write();
    },
    report: (task, outcome) => {
      if (outcome.status === 'undone' || already.has(task.id) || !events.active) return;
      events.emit({
        type: 'saga.compensation-failed',
        policy: name,
        key: ctx.sagaId,
        correlationId,
        sagaId: ctx.sagaId,
        step: task.name,
        status: outcome.status as 'failed' | 'unknown',
        error: outcome.error,
        deadLetterId: outcome.deadLetterId ?? stepOf(phase, task).deadLetterId,
      });
    },
    deadLetter: sink
      ? (task, outcome) => {
          const s = stepOf(phase, task);
          const reason: SagaDeadLetterReason =
            s.state === 'interrupted'
              ? 'step-interrupted'
              : outcome.status === 'unknown'
                ? 'undo-interrupted'
                : 'undo-failed';
          return sink.add({
            type: options.deadLetterType,
            payload: {
              sagaId: ctx.sagaId,
              saga: name,
              step: s.name,
              stepIndex: Number(task.id),
              reason,
              input: log.input,
              result: s.result,
            },
            error: outcome.error,
            context: { correlationId, sagaId: ctx.sagaId, saga: name, reason },
          });
        }
      : undefined,
    ...(options.retry ? { retry: options.retry } : {}),
    counters,
  };
}

/** The outcome a log already holds (nothing runs). */
function loggedOutcome(task: UndoTask, s: SagaLogStep): UndoOutcome {
  const outcome: UndoOutcome = {
    id: task.id,
    name: task.name,
    status: s.undo as UndoOutcome['status'],
    attempts: 0,
  };
  const error = reviveError(s.undoError);
  if (error) outcome.error = error;
  if (s.deadLetterId !== undefined) outcome.deadLetterId = s.deadLetterId;
  return outcome;
}
