/**
 * Correlation IDs: accepted from the caller only when short and made of a safe character set,
 * so a hostile value can never reach logs or response headers (no CR/LF, no spaces, no quotes).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHeaders } from './headers.js';

/** Longest correlation ID accepted from a caller. */
export const MAX_CORRELATION_ID_LENGTH = 128;

// Letters, digits and `-_.:/+=@`: covers UUIDs, ULIDs, base64 and `service:id` forms.
const SAFE = /^[A-Za-z0-9\-_.:/+=@]{1,128}$/;

/** Returns `value` when it is an acceptable correlation ID (1–128 chars of `[A-Za-z0-9-_.:/+=@]`), else undefined. */
export function acceptCorrelationId(value: unknown): string | undefined {
  return typeof value === 'string' && value.length <= MAX_CORRELATION_ID_LENGTH && SAFE.test(value)
    ? value
    : undefined;
}

/** A fresh correlation ID (a random UUID v4). */
export function newCorrelationId(): string {
  return randomUUID();
}

/**
 * The first valid correlation ID among the headers named in `acceptNames` (lower-case), in order.
 * A repeated header (an array) counts only through its first element.
 */
export function correlationFromHeaders(
  headers: IncomingHeaders,
  acceptNames: readonly string[],
): string | undefined {
  for (let i = 0; i < acceptNames.length; i++) {
    const raw = headers[acceptNames[i] as string];
    if (raw === undefined) continue;
    const id = acceptCorrelationId(Array.isArray(raw) ? raw[0] : raw);
    if (id !== undefined) return id;
  }
  return undefined;
}

/** Makes a correlation ID for a request that brought none (e.g. a ULID, or `svc-<uuid>`). */
export type CorrelationIdGenerator = () => string;
