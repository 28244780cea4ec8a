/**
 * The compensation manager: the orchestrator's simple shape of undo. Code registers a
 * compensation per operation before (or right after) doing each part of it, and calls
 * `compensate(operationId)` when the operation fails; the compensations run last first, sync or
 * async, each at most once, through the same runner as sagas (recovery/unwind.ts). A failing one
 * is retried, then recorded (result, events, statistics, dead letter) while the others still run.
 *
 * It lives in memory: a compensation is a function, which no store can hold. For undo that must
 * survive a crash, use a saga (recovery/saga.ts), whose log is durable.
 */
import { randomUUID } from 'node:crypto';
import { getContext } from '../context/context.js';
import { BulwarkError } from '../errors/bulwark-error.js';
import { SagaCompensationFailedError, type UndoFailure } from './saga-error.js';
import {
  type CompensationsOptions,
  type ResolvedCompensationsOptions,
  resolveCompensationsOptions,
} from './saga-options.js';
import { type CompensationStats, UndoCounters, type UndoOutcome, type UndoTask, unwind } from './unwind.js';

export type { CompensationStats } from './unwind.js';

/** A compensation: sync or async, given a signal that never aborts unless the manager is closed. */
export type CompensationFn = (signal: AbortSignal) => unknown;

/** Statistics of the manager: the undo counts plus the operations currently holding registrations. */
export interface CompensationManagerStats extends CompensationStats {
  /** Operations holding at least one compensation not yet run. */
  operations: number;
}

/** What `compensate(operationId)` did. */
export interface CompensationResult {
  /** The operation. */
  operationId: string;
  /** True when every compensation succeeded (also when there was nothing to run). */
  ok: boolean;
  /** Ids of the compensations that succeeded, in the order they ran (last registered first). */
  compensated: string[];
  /** The compensations that failed on every attempt, with their errors and dead-letter ids. */
  failed: UndoFailure[];
  /** A SAGA_COMPENSATION_FAILED error summarising `failed`; absent when `ok`. */
  error?: SagaCompensationFailedError;
}

interface Entry {
  readonly id: string;
  readonly name: string;
  readonly fn: CompensationFn;
  state: 'pending' | 'running' | 'done';
}

/**
 * Registers compensations per operation and runs them last first on `compensate()`.
 * Bounded: at most `maxOperations` operations and `maxPerOperation` compensations each; one
 * more is refused with a COMPENSATIONS_FULL error rather than evicting an older registration,
 * since an evicted compensation would be lost without trace.
 */
export class CompensationManager {
  private readonly options: ResolvedCompensationsOptions;
  private readonly byOperation = new Map<string, Entry[]>();
  private readonly counters = new UndoCounters();
  private readonly closer = new AbortController();

  constructor(options: CompensationsOptions = {}) {
    this.options = resolveCompensationsOptions(options);
  }

  /** Registers `fn` for `operationId` and returns its id. */
  register(operationId: string, fn: CompensationFn, options: { name?: string } = {}): string {
    if (typeof operationId !== 'string' || operationId === '')
      throw new TypeError(`Expected \`operationId\` to be a non-empty string, got ${String(operationId)}.`);
    if (typeof fn !== 'function') throw new TypeError(`Expected a compensation function, got ${typeof fn}.`);
    let entries = this.byOperation.get(operationId);
    if (!entries) {
      if (this.byOperation.size >= this.options.maxOperations) throw this.full('maxOperations', operationId);
      entries = [];
      this.byOperation.set(operationId, entries);
    } else if (entries.length >= this.options.maxPerOperation) {
      throw this.full('maxPerOperation', operationId);
    }
    const id = `${operationId}#${randomUUID()}`;
    entries.push({ id, name: options.name ?? `compensation ${entries.length + 1}`, fn, state: 'pending' });
    this.counters.registered++;
    this.counters.pending++;
    return id;
  }

  /** Ids of the compensations registered for `operationId` and not yet run, in registration order. */
  registered(operationId: string): string[] {
    return (this.byOperation.get(operationId) ?? []).map((e) => e.id);
  }

  /**
   * Runs the compensations of `operationId`, last registered first, each at most once; a no-op
   * (ok, nothing compensated) when none is registered. Never rejects for a failing compensation:
   * the result lists it.
   */
  async compensate(operationId: string): Promise<CompensationResult> {
    const entries = this.byOperation.get(operationId) ?? [];
    // Taken off the map before anything runs: a second compensate() finds nothing, so none runs twice.
    this.byOperation.delete(operationId);
    const events = this.options.events;
    const correlationId = getContext()?.correlationId;
    const byId = new Map(entries.map((e) => [e.id, e]));
    const tasks: UndoTask[] = entries.map((e) => ({ id: e.id, name: e.name, run: e.fn }));
    const outcomes = await unwind(tasks, {
      claim: (task) => {
        const entry = byId.get(task.id) as Entry;
        entry.state = 'running';
        this.counters.pending--;
        return true;
      },
      record: (task) => {
        (byId.get(task.id) as Entry).state = 'done';
      },
      report: (task, outcome) => {
        if (outcome.status === 'undone' || !events.active) return;
        events.emit({
          type: 'compensation.failed',
          policy: 'compensations',
          key: operationId,
          correlationId,
          operationId,
          compensationId: task.id,
          name: task.name,
          error: outcome.error,
          deadLetterId: outcome.deadLetterId,
        });
      },
      deadLetter: this.options.deadLetters
        ? (task, outcome) =>
            (this.options.deadLetters as NonNullable<typeof this.options.deadLetters>).add({
              type: this.options.deadLetterType,
              payload: { operationId, compensationId: task.id, name: task.name, attempts: outcome.attempts },
              error: outcome.error,
              context: { correlationId, reason: 'compensation-failed' },
            })
        : undefined,
      retry: this.options.retry,
      signal: this.closer.signal,
      counters: this.counters,
    });
    const result = toResult(operationId, outcomes);
    if (entries.length > 0 && events.active) {
      events.emit({
        type: 'compensation.finished',
        policy: 'compensations',
        key: operationId,
        correlationId,
        operationId,
        successful: result.compensated.length,
        failed: result.failed.length,
      });
    }
    return result;
  }

  /** Drops the compensations of an operation that succeeded; returns how many were dropped. */
  discard(operationId: string): number {
    const entries = this.byOperation.get(operationId);
    if (!entries) return 0;
    this.byOperation.delete(operationId);
    this.counters.pending -= entries.length;
    return entries.length;
  }

  /** Counts since creation; `pending` and `operations` are the current ones. */
  stats(): CompensationManagerStats {
    return { ...this.counters.snapshot(), operations: this.byOperation.size };
  }

  /** Aborts the signal handed to running compensations and drops every registration. Idempotent. */
  close(): void {
    this.closer.abort();
    for (const id of [...this.byOperation.keys()]) this.discard(id);
  }

  private full(limit: 'maxOperations' | 'maxPerOperation', operationId: string): BulwarkError {
    const max = this.options[limit];
    return new BulwarkError('COMPENSATIONS_FULL', {
      message:
        limit === 'maxOperations'
          ? `Cannot register a compensation for '${operationId}': ${max} operations already hold compensations (maxOperations).`
          : `Cannot register a compensation for '${operationId}': it already holds ${max} (maxPerOperation).`,
    });
  }
}

function toResult(operationId: string, outcomes: readonly UndoOutcome[]): CompensationResult {
  const compensated = outcomes.filter((o) => o.status === 'undone').map((o) => o.id);
  const failed: UndoFailure[] = outcomes
    .filter((o) => o.status !== 'undone')
    .map((o) => ({
      step: o.name,
      id: o.id,
      status: o.status as 'failed' | 'unknown',
      error: o.error,
      attempts: o.attempts,
      ...(o.deadLetterId === undefined ? {} : { deadLetterId: o.deadLetterId }),
    }));
  const result: CompensationResult = { operationId, ok: failed.length === 0, compensated, failed };
  if (failed.length > 0)
    result.error = new SagaCompensationFailedError(operationId, failed, undefined, 'operation');
  return result;
}

/**
 * Creates a compensation manager for plain code (the facade's `bulwark.compensations` wires its events and dead letters).
 * @example
 * const compensations = createCompensations();
 * compensations.register('file-write-123', () => rm('/tmp/out.txt', { force: true }));
 * try { await writeAndIndex(); compensations.discard('file-write-123'); }
 * catch (e) { await compensations.compensate('file-write-123'); throw e; }
 */
export function createCompensations(options?: CompensationsOptions): CompensationManager {
  return new CompensationManager(options);
}
