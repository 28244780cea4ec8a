/**
 * The plain shapes of the dead-letter queue: an entry as stored (JSON, so a durable store can hold
 * it and a restart reads it back unchanged), the filters, the stats and the replay report.
 */
import type { ErrorCategory } from '../errors/codes.js';

/**
 * Where an entry stands:
 * - `pending`: added, not retried yet (waiting for its first retry, or for a replay when its
 *   error is permanent or no handler is registered);
 * - `in-progress`: its handler is running now (one run per entry at a time);
 * - `retrying`: a retry failed and the next one is scheduled (`nextAttemptAt`);
 * - `failed`: exhausted (`maxAttempts` retries failed, or a retry failed permanently); only a
 *   `replay` runs it again;
 * - `recovered`: a retry succeeded.
 */
export type DeadLetterStatus = 'pending' | 'in-progress' | 'retrying' | 'failed' | 'recovered';

/** Every status, in the order of an entry's life. */
export const DEAD_LETTER_STATUSES: readonly DeadLetterStatus[] = [
  'pending',
  'in-progress',
  'retrying',
  'failed',
  'recovered',
];

/** A failure as an entry keeps it: the code and suggestion a person can act on, never a stack. */
export interface DeadLetterError {
  /** Bulwark's code (`CIRCUIT_OPEN`, `RETRY_EXHAUSTED`…), `HTTP_ERROR`, or `INTERNAL_ERROR` for other errors. */
  code: string;
  /** The category from the one classifier (errors/classify.ts). */
  category: ErrorCategory;
  /** The error's message (cut to 1,024 characters). */
  message: string;
  /** What a person can do about it. */
  suggestion: string;
  /** The error's `name` (`TypeError`, `RetryExhaustedError`…), when it has one. */
  name?: string;
  /** The message of its `cause` (what a `RETRY_EXHAUSTED` wraps), when it has one. */
  cause?: string;
}

/** One retry of an entry, as its history keeps it. */
export interface DeadLetterAttempt {
  /** When it started (epoch ms). */
  at: number;
  /** How long the handler ran. */
  durationMs: number;
  /** `interrupted`: the process stopped (crash, `close()`) while the handler ran. */
  outcome: 'recovered' | 'failed' | 'interrupted';
  /** The failure's code (absent when recovered). */
  code?: string;
  /** The failure's message (absent when recovered). */
  message?: string;
}

/** One dead letter: a failed operation with what is needed to run it again. */
export interface DeadLetterEntry {
  /** Time-sortable id (`dl-…`): list order is age order. */
  id: string;
  /** The kind of operation; picks the handler (`handle(type, fn)`). */
  type: string;
  /** Where it stands. */
  status: DeadLetterStatus;
  /** The input the caller handed over (JSON), given to the handler; `null` when none. */
  payload: unknown;
  /** Extra JSON data from the caller (`add({ context })`; the pipeline puts `policy` and `key`). */
  context: Record<string, unknown>;
  /** Correlation ID of the request (or job) in which it failed. */
  correlationId?: string;
  /** W3C trace id of that request; a retry continues the trace. */
  traceId?: string;
  /** The failure that dead-lettered it. */
  error: DeadLetterError;
  /** The latest retry's failure, once a retry failed. */
  lastError?: DeadLetterError;
  /** Retries run so far (interrupted ones included). */
  attempts: number;
  /** Retries allowed before the entry is `failed`. */
  maxAttempts: number;
  /** The latest retries (at most `historyLimit`), oldest first. */
  history: DeadLetterAttempt[];
  /** When it was added (epoch ms). */
  createdAt: number;
  /** When it last changed (epoch ms). */
  updatedAt: number;
  /** When the auto-retry loop runs it next (epoch ms); absent when nothing is scheduled. */
  nextAttemptAt?: number;
  /** The backoff delay used before the latest retry (decorrelated jitter grows from it). */
  lastDelayMs?: number;
  /** When it became `recovered` or `failed` (epoch ms). */
  settledAt?: number;
  /** When it was archived (epoch ms); only on archived entries. */
  archivedAt?: number;
}

/** What `add()` takes. */
export interface AddDeadLetterInput {
  /** The kind of operation (`[A-Za-z0-9._:-]{1,128}`), e.g. `'orders.sync'`. */
  type: string;
  /** The input needed to run it again: JSON (stored as `JSON.stringify` makes it). Default `null`. */
  payload?: unknown;
  /** The failure. */
  error: unknown;
  /** Extra JSON data kept with the entry (tenant, saga id…). */
  context?: Record<string, unknown>;
  /** Retries allowed for this entry. Default: the queue's `maxAttempts`. */
  maxAttempts?: number;
}

/** What a handler is given besides the payload. */
export interface DeadLetterRun {
  /** The entry (a copy, `in-progress`, `attempts` not yet counting this retry). */
  entry: DeadLetterEntry;
  /** Aborted when the queue closes; pass it to the work. */
  signal: AbortSignal;
  /** This retry's number (1 = the first retry). */
  attempt: number;
}

/**
 * Runs a dead-lettered operation again; resolving marks the entry recovered, throwing counts a
 * failed retry. Handlers should be idempotent: after a crash mid-run the entry runs again.
 */
export type DeadLetterHandler<P = unknown> = (payload: P, run: DeadLetterRun) => unknown;

/** Selects entries; every given field must match (a list matches any of its values). */
export interface DeadLetterFilter {
  /** Entry ids. */
  id?: string | readonly string[];
  /** Operation types. */
  type?: string | readonly string[];
  /** Statuses. */
  status?: DeadLetterStatus | readonly DeadLetterStatus[];
  /** Error codes (of the failure that dead-lettered the entry, or of its latest retry). */
  code?: string | readonly string[];
  /** Correlation ID. */
  correlationId?: string;
  /** Added before this time (epoch ms, exclusive). */
  before?: number;
  /** Added at or after this time (epoch ms). */
  after?: number;
  /** At most this many entries (oldest first). */
  limit?: number;
  /** Read the archive instead of the queue (list and purge only). */
  archived?: boolean;
}

/** What `stats()` answers. Totals count since the queue was opened in this process. */
export interface DeadLetterStats {
  /** Failures added. */
  totalFailed: number;
  /** Retries run (auto-retry and replay). */
  totalRetried: number;
  /** Entries that recovered. */
  totalRecovered: number;
  /** Entries that became `failed` (exhausted). */
  totalExhausted: number;
  /** Adds refused because the queue was full. */
  totalRefused: number;
  /** Entries in the queue now (any status; the archive excluded). */
  currentSize: number;
  /** The bound on `currentSize`. */
  maxSize: number;
  /** Entries per type. */
  byType: Record<string, number>;
  /** Entries per status (every status present, 0 included). */
  byStatus: Record<DeadLetterStatus, number>;
  /** True while the auto-retry loop runs. */
  autoRetry: boolean;
}

/** What `replay()` answers: the ids by outcome. */
export interface ReplayReport {
  /** Ran and succeeded. */
  recovered: string[];
  /** Ran and failed (now `retrying` or `failed`). */
  failed: string[];
  /** Not run, with the reason. */
  skipped: { id: string; reason: 'not-found' | 'in-progress' | 'already-recovered' | 'no-handler' }[];
}
