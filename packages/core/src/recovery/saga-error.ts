/**
 * The error a saga (or a compensate() call) reports when some undo did not succeed, and the plain
 * records errors become in the saga log (a log holds JSON, not Error objects).
 */
import { BulwarkError, isBulwarkError } from '../errors/bulwark-error.js';
import type { RecordValue } from '../stores/records.js';

/** An undo that did not succeed: it failed on every attempt, or is unknown after a crash. */
export interface UndoFailure {
  /** The step (saga) or compensation name. */
  step: string;
  /** The step index (saga) or compensation id. */
  id: string;
  /** `failed`: it threw on every attempt; `unknown`: a crash interrupted it, so it was not run again. */
  status: 'failed' | 'unknown';
  /** Its last error, or why it is unknown. */
  error: unknown;
  /** Attempts made by this process (0 when decided from the saga log). */
  attempts: number;
  /** The dead letter that holds it, when dead-lettering succeeded. */
  deadLetterId?: string;
}

/** Some undo actions did not succeed; `failures` lists them, `cause` is the error that started the undo. */
export class SagaCompensationFailedError extends BulwarkError {
  /** The saga id, or the operation id for `compensations.compensate()`. */
  readonly sagaId: string;
  /** Every undo that did not succeed, with its dead-letter id. */
  readonly failures: readonly UndoFailure[];

  constructor(sagaId: string, failures: readonly UndoFailure[], cause?: unknown, what = 'saga') {
    const names = failures.map((f) => `${f.step} (${f.status})`).join(', ');
    super('SAGA_COMPENSATION_FAILED', {
      message: `${failures.length} undo action(s) of ${what} '${sagaId}' did not succeed: ${names}.`,
      ...(cause === undefined ? {} : { cause }),
    });
    this.name = 'SagaCompensationFailedError';
    this.sagaId = sagaId;
    this.failures = failures;
  }
}

/** True for a {@link SagaCompensationFailedError}, even from another copy of the package. */
export function isSagaCompensationFailedError(e: unknown): e is SagaCompensationFailedError {
  return isBulwarkError(e) && e.code === 'SAGA_COMPENSATION_FAILED';
}

/** An error as the saga log stores it. */
export interface ErrorRecord {
  [k: string]: RecordValue | undefined;
  name: string;
  message: string;
  code?: string;
}

/** The loggable part of an error: name, message and code (never the stack). */
export function errorRecord(error: unknown): ErrorRecord {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(error) };
}

/** An Error rebuilt from its record (after a resume, the original object is gone). */
export function reviveError(record: ErrorRecord | undefined): Error | undefined {
  if (!record) return undefined;
  const e = new Error(record.message) as Error & { code?: string };
  e.name = record.name;
  if (record.code !== undefined) e.code = record.code;
  return e;
}
