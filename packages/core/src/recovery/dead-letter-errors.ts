/**
 * The dead-letter queue's own error (a full queue refuses, never drops) and the link from a
 * caller's error to the entry that holds its operation (`error.deadLetterId`).
 */
import { BulwarkError, type BulwarkErrorOptions, isBulwarkError } from '../errors/bulwark-error.js';

/** The queue holds `maxSize` entries, so the failure was not queued (`DEAD_LETTER_FULL`, 503). */
export class DeadLetterFullError extends BulwarkError {
  /** The bound that was reached. */
  readonly maxSize: number;
  constructor(maxSize: number, options: BulwarkErrorOptions = {}) {
    super('DEAD_LETTER_FULL', {
      message: `The dead-letter queue is full (${maxSize} entries); the failure was not queued.`,
      ...options,
    });
    this.name = 'DeadLetterFullError';
    this.maxSize = maxSize;
  }
}

/** Guard for {@link DeadLetterFullError}, even from another copy of the package. */
export function isDeadLetterFullError(e: unknown): e is BulwarkError {
  return isBulwarkError(e) && e.code === 'DEAD_LETTER_FULL';
}

/** An error whose operation was dead-lettered: it carries the entry's id. */
export type DeadLettered<E = Error> = E & {
  /** Id of the dead-letter entry holding the failed operation (`bulwark.deadLetters.get(id)`). */
  readonly deadLetterId: string;
};

/**
 * The id of the dead-letter entry a policy with `deadLetter` made for this failure, or undefined.
 * @example
 * try { await bulwark.run('orders', sync, { payload: order }); }
 * catch (e) { log.warn({ deadLetterId: deadLetterIdOf(e) }, 'queued for retry'); }
 */
export function deadLetterIdOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const id = (error as { deadLetterId?: unknown }).deadLetterId;
  return typeof id === 'string' ? id : undefined;
}

/** True when `error` carries the id of its dead-letter entry. */
export function isDeadLettered(error: unknown): error is DeadLettered {
  return deadLetterIdOf(error) !== undefined;
}

/**
 * Writes `deadLetterId` on the caller's error (enumerable, so loggers show it; read-only). The
 * error keeps its class, so `isCircuitOpenError(e)` and friends still hold. A value that is not
 * an extensible object (a thrown string, a frozen error) is left as it is: its id then reaches the
 * operator only through the `dead-letter.added` event.
 */
export function attachDeadLetterId(error: unknown, id: string): void {
  if (typeof error !== 'object' || error === null || !Object.isExtensible(error)) return;
  if (Object.hasOwn(error, 'deadLetterId')) return;
  Object.defineProperty(error, 'deadLetterId', { value: id, enumerable: true, writable: false });
}
