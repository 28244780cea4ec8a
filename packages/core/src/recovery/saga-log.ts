/**
 * The saga log: one durable record per saga id (kind `saga.log` in the RecordStore), rewritten
 * whole, and awaited, after every change and before the next action. One record per saga makes
 * each write atomic: after a crash the log is exactly the state of the last write that resolved,
 * never half of one. From it a resumed saga knows which steps completed, which undo ran, and
 * which undo was started but never recorded as finished (`unknown`: it is not run again).
 */
import type { Records, RecordValue } from '../stores/records.js';
import {
  type ErrorRecord,
  reviveError,
  SagaCompensationFailedError,
  type UndoFailure,
} from './saga-error.js';

/** The records kind that holds saga logs. */
export const SAGA_LOG_KIND = 'saga.log';

/** Where a saga is: going forward, undoing, or finished one of three ways. */
export type SagaStatus = 'running' | 'compensating' | 'completed' | 'compensated' | 'failed';

/** One step as logged: its forward state, its result, and its undo's state. */
export type SagaLogStep = {
  [k: string]: RecordValue | undefined;
  name: string;
  /** `interrupted`: logged as started, then the process died; whether it acted is unknown. */
  state: 'started' | 'completed' | 'failed' | 'interrupted';
  result?: RecordValue;
  error?: ErrorRecord;
  undo?: 'started' | 'undone' | 'failed' | 'unknown';
  undoAttempts?: number;
  undoError?: ErrorRecord;
  deadLetterId?: string;
};

/** The whole log of one saga. */
export type SagaLog = {
  [k: string]: RecordValue | undefined;
  name: string;
  status: SagaStatus;
  input?: RecordValue;
  /** One entry per step that started, by index. */
  steps: SagaLogStep[];
  /** Index of the step whose failure started the undo. */
  failedStep?: number;
  /** That step's error. */
  error?: ErrorRecord;
  startedAt: number;
  finishedAt?: number;
  /** Runs of this saga (1 + resumes). */
  runs: number;
};

/** What a saga run reports. */
export interface SagaResult {
  /** The saga's id (pass it to `resume()`, or to `run()` again, after a crash). */
  sagaId: string;
  /** The saga's name. */
  name: string;
  /**
   * `completed`: every step did its work. `compensated`: a step failed and every undo needed
   * succeeded. `failed`: a step failed and some undo did not succeed (see `failed`).
   */
  status: 'completed' | 'compensated' | 'failed';
  /** True when `status` is 'completed'. */
  ok: boolean;
  /** True when this run picked up a log written before (a resume). */
  resumed: boolean;
  /** Steps whose `do` completed, in order. */
  completed: string[];
  /** Steps undone, in the order the undos ran (last step first). */
  compensated: string[];
  /** Undos that did not succeed (failed after retries, or unknown after a crash), with dead-letter ids. */
  failed: UndoFailure[];
  /** The step that failed (or was interrupted by a crash), when one did. */
  failedStep?: string;
  /** That step's error (rebuilt from the log after a resume: name, message and code). */
  error?: unknown;
  /** SAGA_COMPENSATION_FAILED summarising `failed`, when it is not empty. */
  compensationError?: SagaCompensationFailedError;
  /** Each completed step's result, by step name (as logged: JSON). */
  results: Record<string, RecordValue | undefined>;
}

/** True for the statuses after which nothing more runs. */
export function isFinished(status: SagaStatus): boolean {
  return status === 'completed' || status === 'compensated' || status === 'failed';
}

/** Live errors of this run, preferred over the records rebuilt from the log. */
export interface LiveErrors {
  step?: unknown;
  undo: Map<number, unknown>;
}

/** The result a log describes. */
export function resultFromLog(sagaId: string, log: SagaLog, resumed: boolean, live?: LiveErrors): SagaResult {
  const completed: string[] = [];
  const results: Record<string, RecordValue | undefined> = {};
  const undone: number[] = [];
  const failed: UndoFailure[] = [];
  for (const [i, s] of log.steps.entries()) {
    if (s.state === 'completed') {
      completed.push(s.name);
      results[s.name] = s.result;
    }
    if (s.undo === 'undone') undone.push(i);
  }
  for (let i = log.steps.length - 1; i >= 0; i--) {
    const s = log.steps[i] as SagaLogStep;
    if (s.undo !== 'failed' && s.undo !== 'unknown') continue;
    failed.push({
      step: s.name,
      id: String(i),
      status: s.undo,
      error: live?.undo.get(i) ?? reviveError(s.undoError),
      attempts: s.undoAttempts ?? 0,
      ...(s.deadLetterId === undefined ? {} : { deadLetterId: s.deadLetterId }),
    });
  }
  const status = log.status === 'running' || log.status === 'compensating' ? 'failed' : log.status;
  const result: SagaResult = {
    sagaId,
    name: log.name,
    status,
    ok: status === 'completed',
    resumed,
    completed,
    compensated: undone.reverse().map((i) => (log.steps[i] as SagaLogStep).name),
    failed,
    results,
  };
  if (log.failedStep !== undefined) {
    result.failedStep = log.steps[log.failedStep]?.name;
    result.error = live?.step ?? reviveError(log.error);
  }
  if (failed.length > 0)
    result.compensationError = new SagaCompensationFailedError(sagaId, failed, result.error);
  return result;
}

/** Writes a saga's log after each change; finished logs expire after the retention. */
export class SagaLogWriter {
  constructor(
    private readonly records: Records<SagaLog>,
    readonly id: string,
    readonly log: SagaLog,
    private readonly retentionMs: number,
  ) {}

  /** Persists the log as it is now; resolves once the store says it is durable. */
  write(): Promise<void> {
    return isFinished(this.log.status)
      ? this.records.put(this.id, this.log, { ttlMs: this.retentionMs })
      : this.records.put(this.id, this.log);
  }
}

/** A new log for a saga about to start. */
export function newLog(name: string, input: RecordValue | undefined): SagaLog {
  const log: SagaLog = { name, status: 'running', steps: [], startedAt: Date.now(), runs: 0 };
  if (input !== undefined) log.input = toJson(input);
  return log;
}

/**
 * The JSON copy of a value, as the log holds it (and as undo and later steps see it, in this
 * process and after a resume alike); undefined when it has no JSON form.
 */
export function toJson(value: unknown): RecordValue | undefined {
  if (value === undefined) return undefined;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? undefined : (JSON.parse(text) as RecordValue);
  } catch {
    return undefined;
  }
}
