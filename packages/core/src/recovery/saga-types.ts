/** The shapes a saga is made of and reports: steps, the context they see, run options, statistics. */
import type { RecordStore, RecordValue } from '../stores/records.js';
import type { CompensationStats, DeadLetterSink } from './unwind.js';

/** What every step of a saga sees. */
export interface SagaContext<I> {
  /** The saga's id. */
  readonly sagaId: string;
  /** The saga's name. */
  readonly name: string;
  /** The input the saga was started with (its JSON copy, from the log). */
  readonly input: I;
  /** Results of the steps completed so far, by step name. */
  readonly results: Readonly<Record<string, RecordValue | undefined>>;
  /** True when this run resumed a log written before. */
  readonly resumed: boolean;
}

/** What a step's `do` may return: JSON (it is logged, so `undo` gets it after a restart too). */
// biome-ignore lint/suspicious/noConfusingVoidType: a step that returns nothing (`() => { work(); }`) must type-check.
export type StepResult = RecordValue | undefined | void;

/** One step of a saga. `do` and `undo` may be sync or async. */
export interface SagaStep<I = RecordValue | undefined> {
  /** Unique within the saga; it names the step in the log, results and events. */
  name: string;
  /** The work. Its result is logged and handed to `undo`. */
  do(ctx: SagaContext<I>, signal: AbortSignal): StepResult | Promise<StepResult>;
  /** Undoes the work, given `do`'s result; retried on failure, then dead-lettered. */
  undo?(ctx: SagaContext<I>, result: RecordValue | undefined, signal: AbortSignal): unknown;
  /** Safe to run again when a crash interrupted it (a resume runs it again instead of undoing). Default false. */
  idempotent?: boolean;
}

/** Per-run options. */
export interface SagaRunOptions {
  /** The saga's id: give one to resume it after a crash by running again. Default: a new time-sortable id. */
  id?: string;
  /** Aborts the steps (the undos still run: a half-undone saga is worse than a finished undo). */
  signal?: AbortSignal;
}

/** Statistics of one saga definition in this process. */
export interface SagaStats extends CompensationStats {
  /** Runs started (including resumes). */
  started: number;
  /** Runs in which every step completed. */
  completed: number;
  /** Runs undone completely after a failed step. */
  compensated: number;
  /** Runs whose undo did not fully succeed. */
  compensationFailed: number;
  /** Runs going on now. */
  running: number;
}

/** Late-bound collaborators (the facade creates its store and dead-letter queue on first use). */
export interface SagaDeps {
  records?: () => RecordStore;
  deadLetters?: () => DeadLetterSink | undefined;
}
