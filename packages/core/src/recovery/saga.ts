/**
 * Sagas: a list of steps, each with `do` and an optional `undo`. When a step fails, the undos of
 * the steps that completed run last first (recovery/unwind.ts, the runner compensations share),
 * each at most once, also across a crash: every change is written to the saga log (saga-log.ts)
 * and awaited before the next action, so a resumed saga knows exactly what is done.
 *
 * After a crash (a resume):
 * - a step logged `completed` is not run again; its result comes from the log;
 * - a step logged `started` may or may not have acted. A step marked `idempotent` is run again;
 *   any other is `interrupted`: the saga undoes the completed steps, and since the interrupted
 *   step's undo might undo something that never happened (or its do may have acted), the undo is
 *   not run and a dead letter asks a person to check;
 * - an undo logged `started` but not `undone` is `unknown`: it is NOT run again (at most once:
 *   running it twice could refund twice), it is dead-lettered for a person, and the remaining
 *   undos still run.
 */
import { randomUUID } from 'node:crypto';
import { getContext } from '../context/context.js';
import { InvalidConfigError } from '../errors/bulwark-error.js';
import { memoryRecords, type RecordStore, type Records, type RecordValue } from '../stores/records.js';
import { Issues, throwIfIssues } from '../util/checks.js';
import { abortReason, NEVER_ABORTED_SIGNAL } from '../util/time.js';
import { errorRecord } from './saga-error.js';
import {
  isFinished,
  type LiveErrors,
  newLog,
  resultFromLog,
  SAGA_LOG_KIND,
  type SagaLog,
  type SagaLogStep,
  SagaLogWriter,
  type SagaResult,
  toJson,
} from './saga-log.js';
import {
  checkSagaSteps,
  type ResolvedSagaOptions,
  resolveSagaOptions,
  type SagaOptions,
} from './saga-options.js';
import { undoSteps } from './saga-undo.js';
import { type CompensationStats, type DeadLetterSink, UndoCounters } from './unwind.js';

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

/** Runs of the same id in one process share one promise (the second call joins the first). */
const inFlight = new WeakMap<Records<SagaLog>, Map<string, Promise<SagaResult>>>();

/** A new time-sortable saga id. */
export function newSagaId(): string {
  return `${Date.now().toString(36).padStart(10, '0')}-${randomUUID()}`;
}

/** A saga definition: run it, resume it, list the unfinished ones. Build it with {@link createSaga}. */
export class Saga<I extends RecordValue | undefined = RecordValue | undefined> {
  /** The saga's name (in the log, events and dead letters). */
  readonly name: string;
  private readonly steps: readonly SagaStep<I>[];
  private readonly options: ResolvedSagaOptions;
  private readonly deps: SagaDeps;
  private ownStore: RecordStore | undefined;
  private readonly counters = new UndoCounters();
  private readonly runs = { started: 0, completed: 0, compensated: 0, compensationFailed: 0, running: 0 };

  constructor(name: string, steps: readonly SagaStep<I>[], options: SagaOptions = {}, deps: SagaDeps = {}) {
    const issues = new Issues();
    if (typeof name !== 'string' || name.trim() === '') issues.add('saga.name', 'a non-empty string', name);
    checkSagaSteps(steps, 'saga.steps', issues);
    throwIfIssues(issues);
    this.name = name;
    this.steps = Object.freeze([...steps]);
    this.options = resolveSagaOptions(name, options);
    this.deps = deps;
  }

  /** Runs the saga; with the id of an unfinished saga, resumes it; with a finished one's, returns its result. */
  run(input: I, options: SagaRunOptions = {}): Promise<SagaResult> {
    return this.start(options.id ?? newSagaId(), input, false, options.signal);
  }

  /** Resumes the saga `sagaId` from its log (rejects when there is no log of that id). */
  resume(sagaId: string, options: { signal?: AbortSignal } = {}): Promise<SagaResult> {
    return this.start(sagaId, undefined, true, options.signal);
  }

  /** Ids of this saga's logs that are not finished (a crash stopped them), oldest first. */
  async unfinished(): Promise<string[]> {
    const records = this.records();
    const ids: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await records.list({ ...(after === undefined ? {} : { after }), limit: 500 });
      for (const r of page) if (r.value.name === this.name && !isFinished(r.value.status)) ids.push(r.id);
      if (page.length < 500) return ids;
      after = page[page.length - 1]?.id;
    }
  }

  /** Counts in this process since the definition was created; `pending` and `running` are current. */
  stats(): SagaStats {
    return { ...this.counters.snapshot(), ...this.runs };
  }

  private records(): Records<SagaLog> {
    let store = this.options.records ?? this.deps.records?.();
    if (!store) {
      this.ownStore ??= memoryRecords();
      store = this.ownStore;
    }
    return store.records<SagaLog>(SAGA_LOG_KIND);
  }

  private start(
    id: string,
    input: I | undefined,
    resumeOnly: boolean,
    signal?: AbortSignal,
  ): Promise<SagaResult> {
    if (typeof id !== 'string' || id === '' || id.length > 200)
      return Promise.reject(new TypeError(`Expected a saga id of 1 to 200 characters, got ${String(id)}.`));
    let records: Records<SagaLog>;
    try {
      records = this.records();
    } catch (e) {
      return Promise.reject(e);
    }
    let running = inFlight.get(records);
    if (!running) {
      running = new Map();
      inFlight.set(records, running);
    }
    const joined = running.get(id);
    if (joined) return joined;
    const map = running;
    const p = this.execute(records, id, input, resumeOnly, signal ?? NEVER_ABORTED_SIGNAL).finally(() =>
      map.delete(id),
    );
    map.set(id, p);
    return p;
  }

  private async execute(
    records: Records<SagaLog>,
    id: string,
    input: I | undefined,
    resumeOnly: boolean,
    signal: AbortSignal,
  ): Promise<SagaResult> {
    let log = await records.get(id);
    let resumed = log !== undefined;
    if (!log) {
      if (resumeOnly) throw this.badId(id, 'no saga log has this id (it never ran here, or its log expired)');
      const fresh = newLog(this.name, input);
      if (await records.insert(id, fresh)) log = fresh;
      else {
        log = await records.get(id);
        resumed = true;
        if (!log) throw this.badId(id, 'its log vanished while it was being created');
      }
    }
    this.checkLog(id, log);
    if (isFinished(log.status)) return resultFromLog(id, log, resumed);
    const writer = new SagaLogWriter(records, id, log, this.options.retentionMs);
    log.runs++;
    await writer.write();
    this.runs.started++;
    this.runs.running++;
    const events = this.options.events;
    const correlationId = getContext()?.correlationId;
    const base = { policy: this.name, key: id, correlationId, sagaId: id } as const;
    if (events.active) events.emit({ type: 'saga.started', ...base, resumed });
    const started = Date.now();
    const results: Record<string, RecordValue | undefined> = {};
    const ctx: SagaContext<I> = { sagaId: id, name: this.name, input: log.input as I, results, resumed };
    const live: LiveErrors = { undo: new Map() };
    let registered = 0;
    for (const s of log.steps) if (s.state === 'completed') results[s.name] = s.result;
    // Undos registered before a crash are pending in this process now.
    for (const [i, s] of log.steps.entries())
      if (s.state === 'completed' && this.steps[i]?.undo && s.undo === undefined) registered++;
    this.counters.registered += registered;
    this.counters.pending += registered;
    try {
      if (log.status === 'running') {
        const more = await this.forward(writer, ctx, signal, live);
        registered += more;
        if (log.status === 'running') {
          log.status = 'completed';
          log.finishedAt = Date.now();
          await writer.write();
          this.counters.pending -= registered;
          this.runs.completed++;
          if (events.active)
            events.emit({ type: 'saga.completed', ...base, durationMs: Date.now() - started });
          return resultFromLog(id, log, resumed, live);
        }
      }
      const outcomes = await undoSteps({
        name: this.name,
        steps: this.steps as readonly SagaStep<unknown>[],
        writer,
        ctx,
        live,
        options: this.options,
        sink: this.options.deadLetters ?? this.deps.deadLetters?.(),
        counters: this.counters,
      });
      // A failure the dead-letter queue did not take keeps the saga unfinished: `unfinished()`
      // lists it and a resume dead-letters it (without running the undo again).
      const undelivered = outcomes.some((o) => o.status !== 'undone' && o.deadLetterError !== undefined);
      log.status = outcomes.every((o) => o.status === 'undone')
        ? 'compensated'
        : undelivered
          ? 'compensating'
          : 'failed';
      if (log.status !== 'compensating') log.finishedAt = Date.now();
      await writer.write();
      if (log.status === 'compensated') {
        this.runs.compensated++;
        if (events.active)
          events.emit({ type: 'saga.compensated', ...base, steps: outcomes.map((o) => o.name) });
      } else this.runs.compensationFailed++;
      return resultFromLog(id, log, resumed, live);
    } finally {
      this.runs.running--;
    }
  }

  /** Runs the steps not completed yet; returns how many undos it registered. */
  private async forward(
    writer: SagaLogWriter,
    ctx: SagaContext<I>,
    signal: AbortSignal,
    live: LiveErrors,
  ): Promise<number> {
    const log = writer.log;
    let registered = 0;
    for (const [i, step] of this.steps.entries()) {
      const logged = log.steps[i];
      if (logged?.state === 'completed') continue;
      let error: unknown;
      if (logged?.state === 'started' && !step.idempotent) {
        logged.state = 'interrupted';
        error = new Error(`Step '${step.name}' was interrupted by a crash; whether it acted is unknown.`);
        logged.error = errorRecord(error);
      } else if (signal.aborted) {
        // Never started: logged as failed so the result names the step the abort stopped at.
        error = abortReason(signal);
        log.steps[i] = { name: step.name, state: 'failed', error: errorRecord(error) };
      } else {
        const entry: SagaLogStep = { name: step.name, state: 'started' };
        log.steps[i] = entry;
        await writer.write();
        try {
          const result = toJson(await step.do(ctx, signal));
          entry.state = 'completed';
          if (result !== undefined) entry.result = result;
          (ctx.results as Record<string, RecordValue | undefined>)[step.name] = result;
          await writer.write();
          if (step.undo) {
            registered++;
            this.counters.registered++;
            this.counters.pending++;
          }
          continue;
        } catch (e) {
          error = e;
          entry.state = 'failed';
          entry.error = errorRecord(e);
        }
      }
      log.status = 'compensating';
      log.failedStep = i;
      log.error = errorRecord(error);
      live.step = error;
      await writer.write();
      const events = this.options.events;
      if (events.active)
        events.emit({
          type: 'saga.step-failed',
          policy: this.name,
          key: ctx.sagaId,
          correlationId: getContext()?.correlationId,
          sagaId: ctx.sagaId,
          step: step.name,
          error,
        });
      return registered;
    }
    return registered;
  }

  private checkLog(id: string, log: SagaLog): void {
    if (log.name !== this.name) throw this.badId(id, `it belongs to saga '${log.name}'`);
    for (const [i, s] of log.steps.entries())
      if (this.steps[i]?.name !== s.name)
        throw this.badId(
          id,
          `its log has step ${i} '${s.name}' where this definition has '${this.steps[i]?.name ?? 'nothing'}'`,
        );
  }

  private badId(id: string, why: string): InvalidConfigError {
    return new InvalidConfigError([
      {
        path: `saga '${this.name}' id`,
        expected: 'the id of a saga of this definition',
        received: `'${id}': ${why}`,
        fix: 'resume a saga with the definition that started it; keep step names and order when changing a saga that may have unfinished runs',
      },
    ]);
  }
}

/**
 * Creates a saga for plain code (the facade's `bulwark.saga()` wires its store, dead letters and events).
 * @example
 * const order = createSaga('order', [
 *   { name: 'reserve', do: () => stock.reserve(sku), undo: (_ctx, r) => stock.release(r) },
 *   { name: 'charge', do: () => payments.charge(42), undo: (_ctx, r) => payments.refund(r) },
 * ], { records: durableRecords({ path: './data/bulwark.db' }), deadLetters });
 * const result = await order.run(undefined, { id: 'order-42' });
 */
export function createSaga<I extends RecordValue | undefined = RecordValue | undefined>(
  name: string,
  steps: readonly SagaStep<I>[],
  options?: SagaOptions,
): Saga<I> {
  return new Saga(name, steps, options);
}
