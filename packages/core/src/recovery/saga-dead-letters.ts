/**
 * Replaying a saga's dead letters: the handler the facade registers on `bulwark.deadLetters` for
 * the type `saga.compensation`. It finds the saga definition by the name in the payload and runs
 * the failed undo again (`saga.retryUndo`), so an operator who fixed the cause replays the entry
 * (or the auto-retry loop does) and the saga finishes its compensation. An entry for an undo or a
 * step a crash interrupted is refused, marked permanent: whether it acted is for a person to check.
 */
import { markPermanent } from '../errors/classify.js';
import type { Saga } from './saga.js';
import type { SagaDeadLetterReason } from './saga-undo.js';

/** The payload a saga's dead letter carries (see saga-undo.ts). */
interface SagaDeadLetterPayload {
  sagaId?: unknown;
  saga?: unknown;
  step?: unknown;
  reason?: unknown;
}

/** The saga definitions of one Bulwark instance, by name (the last definition of a name wins). */
export class SagaDefinitions {
  private readonly byName = new Map<string, Saga<never>>();

  /** Remembers `saga` as the definition of its name. */
  add(saga: Saga<never>): void {
    this.byName.set(saga.name, saga);
  }

  /** Number of names defined. */
  get size(): number {
    return this.byName.size;
  }

  /**
   * Runs the failed undo an entry describes again; resolves when it succeeded, rejects with its
   * error when it failed again (the queue counts a failed retry), marked permanent when it must
   * not be retried.
   */
  readonly handle = async (payload: unknown): Promise<void> => {
    const p = (payload ?? {}) as SagaDeadLetterPayload;
    if (typeof p.sagaId !== 'string' || typeof p.saga !== 'string' || typeof p.step !== 'string')
      throw markPermanent(
        new Error('This dead letter has no saga id, saga name and step: it is not a saga undo.'),
      );
    const reason = p.reason as SagaDeadLetterReason;
    if (reason !== 'undo-failed')
      throw markPermanent(
        new Error(
          `The ${reason === 'step-interrupted' ? 'step' : 'undo'} '${p.step}' of saga '${p.sagaId}' was interrupted by a crash: a person must check whether it acted, settle it, then archive this entry.`,
        ),
      );
    const saga = this.byName.get(p.saga);
    // Not permanent: the definition may simply not be registered yet in this process.
    if (!saga)
      throw new Error(`No saga '${p.saga}' is defined in this process; define it with bulwark.saga() first.`);
    const result = await saga.retryUndo(p.sagaId, p.step);
    const failed = result.failed.find((f) => f.step === p.step);
    if (failed) throw failed.error instanceof Error ? failed.error : new Error(String(failed.error));
  };
}
