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
import { markPermanent } from '../errors/classify.js';
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
import type { SagaContext, SagaDeps, SagaRunOptions, SagaStats, SagaStep } from './saga-types.js';
import { retryUndoStep, type UndoPhase, undoSteps } from './saga-undo.js';
import { UndoCounters } from './unwind.js';

export type { SagaContext, SagaDeps, SagaRunOptions, SagaStats, SagaStep, StepResult } from './saga-types.js';

/** Runs of the same id in one process share one promise (the second call joins the first). */
const inFlight = new WeakMap<Records<SagaLog>, Map<string, Promise<SagaResult>>>();

/** The runs in flight on `records`, by saga id. */
function runsOf(records: Records<SagaLog>): Map<string, Promise<SagaResult>> {
  let map = inFlight.get(records);
  if (!map) {
    map = new Map();
    inFlight.set(records, map);
  }
  return map;
}

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

  /**
   * Runs a failed undo of saga `sagaId` again, under the retry policy (what replaying its dead
   * letter does). Only an undo logged `failed` runs; one already undone is not run again. Resolves
   * with the saga's result: the step is in `compensated` when the undo succeeded (the saga becomes
   * `compensated` once no undo is left failed), still in `failed` otherwise. Rejects, marked
   * permanent, for an `unknown` undo (whether it acted is for a person to find out) and while the
   * saga is running in this process.
   */
  retryUndo(sagaId: string, step: string): Promise<SagaResult> {
    let running: Map<string, Promise<SagaResult>>;
    let records: Records<SagaLog>;
    try {
      records = this.records();
      running = runsOf(records);
    } catch (e) {
      return Promise.reject(e);
    }
    if (running.has(sagaId))
      return Promise.reject(
        new Error(`Saga '${sagaId}' is running in this process; retry its undo once the run has finished.`),
      );
    const p = this.retry(records, sagaId, step).finally(() => running.delete(sagaId));
    running.set(sagaId, p);
    return p;
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
    let map: Map<string, Promise<SagaResult>>;
    try {
      map = runsOf(records);
    } catch (e) {
      return Promise.reject(e);
    }
    const joined = map.get(id);
    if (joined) return joined;
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
      const outcomes = await undoSteps(this.phase(writer, ctx, live));
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

  private async retry(records: Records<SagaLog>, id: string, stepName: string): Promise<SagaResult> {
    const log = await records.get(id);
    if (!log) throw this.badId(id, 'no saga log has this id (it never ran here, or its log expired)');
    this.checkLog(id, log);
    const index = log.steps.findIndex((s) => s.name === stepName);
    const s = log.steps[index];
    if (!s || !this.steps[index]?.undo) throw this.badId(id, `it has no step '${stepName}' with an undo`);
    if (s.undo === 'undone') return resultFromLog(id, log, true);
    if (s.undo !== 'failed')
      throw markPermanent(
        new Error(
          `The undo of '${stepName}' in saga '${id}' is ${s.undo ?? 'not started'}: only a failed undo is run again; an unknown one needs a person to check whether it acted.`,
        ),
      );
    const writer = new SagaLogWriter(records, id, log, this.options.retentionMs);
    // Unfinished while it runs: a crash now leaves it `started`, and a resume reports it unknown.
    log.status = 'compensating';
    const live: LiveErrors = { undo: new Map() };
    const results: Record<string, RecordValue | undefined> = {};
    for (const x of log.steps) if (x.state === 'completed') results[x.name] = x.result;
    const ctx: SagaContext<I> = {
      sagaId: id,
      name: this.name,
      input: log.input as I,
      results,
      resumed: true,
    };
    await retryUndoStep(this.phase(writer, ctx, live), index);
    const left = log.steps.some((x) => x.undo === 'failed' || x.undo === 'unknown');
    log.status = left ? 'failed' : 'compensated';
    log.finishedAt = Date.now();
    await writer.write();
    if (!left && this.options.events.active) {
      const steps = log.steps
        .filter((x) => x.undo === 'undone')
        .map((x) => x.name)
        .reverse();
      const correlationId = getContext()?.correlationId;
      this.options.events.emit({
        type: 'saga.compensated',
        policy: this.name,
        key: id,
        correlationId,
        sagaId: id,
        steps,
      });
    }
    return resultFromLog(id, log, true, live);
  }

  private phase(writer: SagaLogWriter, ctx: SagaContext<I>, live: LiveErrors): UndoPhase {
    return {
      name: this.name,
      steps: this.steps as readonly SagaStep<unknown>[],
      writer,
      ctx,
      live,
      options: this.options,
      sink: this.options.deadLetters ?? this.deps.deadLetters?.(),
      counters: this.counters,
    };
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
