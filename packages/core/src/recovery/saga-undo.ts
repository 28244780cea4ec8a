/**
 * A saga's undo phase: which steps to undo, and how each undo's claim, outcome and dead letter are
 * logged around the shared runner (recovery/unwind.ts). The log decides at-most-once: an undo runs
 * only when its step has no undo state yet, and `started` is written (and awaited) before it runs.
 */
import { getContext } from '../context/context.js';
import type { SagaContext, SagaStep } from './saga.js';
import { errorRecord, reviveError } from './saga-error.js';
import type { LiveErrors, SagaLogStep, SagaLogWriter } from './saga-log.js';
import type { ResolvedSagaOptions } from './saga-options.js';
import { type DeadLetterSink, type UndoCounters, type UndoOutcome, type UndoTask, unwind } from './unwind.js';

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
  const { writer, ctx, live, options, sink, counters, name, steps } = phase;
  const log = writer.log;
  const last = log.failedStep ?? log.steps.length - 1;
  const tasks: UndoTask[] = [];
  for (let i = 0; i <= last; i++) {
    const s = log.steps[i];
    const step = steps[i];
    const undo = step?.undo;
    if (!s || !undo || (s.state !== 'completed' && s.state !== 'interrupted')) continue;
    tasks.push({ id: String(i), name: s.name, run: (signal) => undo.call(step, ctx, s.result, signal) });
  }
  const already = new Set<string>();
  const events = options.events;
  const correlationId = getContext()?.correlationId;
  const stepOf = (task: UndoTask) => log.steps[Number(task.id)] as SagaLogStep;
  return unwind(tasks, {
    claim: async (task) => {
      const s = stepOf(task);
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
    record: (task, outcome) => {
      const s = stepOf(task);
      s.undo = outcome.status;
      if (outcome.attempts > 0) s.undoAttempts = outcome.attempts;
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
        deadLetterId: outcome.deadLetterId,
      });
    },
    deadLetter: sink
      ? (task, outcome) => {
          const s = stepOf(task);
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
  });
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
