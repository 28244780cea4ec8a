/**
 * Pure helpers of the dead-letter queue: time-sortable ids, the description an entry keeps of an
 * error (from the one classifier and the one problem mapping), the slim in-memory summary of an
 * entry, and filter matching.
 */
import { randomUUID } from 'node:crypto';
import { classify } from '../errors/classify.js';
import { toProblem } from '../errors/problem.js';
import type {
  DeadLetterEntry,
  DeadLetterError,
  DeadLetterFilter,
  DeadLetterStatus,
} from './dead-letter-types.js';

/** Longest message an entry keeps. */
const MAX_MESSAGE = 1024;
const TYPE = /^[A-Za-z0-9._:-]{1,128}$/;

let lastMs = 0;
let seq = 0;

/**
 * A new entry id, `dl-<ms:9 base36>-<seq:4 base36><random:8 hex>` (the random part from
 * `randomUUID`, whose entropy is buffered: `randomBytes` per id cost a quarter of `add()`): ids made later sort after
 * earlier ones (within a process even when the clock steps back or stands still, by the
 * sequence), so the store's id order is age order.
 */
export function newDeadLetterId(now: number = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    seq = 0;
  } else seq++;
  return `dl-${lastMs.toString(36).padStart(9, '0')}-${seq.toString(36).padStart(4, '0')}${randomUUID().slice(0, 8)}`;
}

/** Throws a TypeError unless `type` is a valid entry type. */
export function checkType(type: unknown, where: string): asserts type is string {
  if (typeof type !== 'string' || !TYPE.test(type))
    throw new TypeError(
      `Expected \`${where}\` to be 1 to 128 characters from [A-Za-z0-9._:-]; got ${JSON.stringify(type) ?? String(type)}. ` +
        "Name the kind of operation, e.g. 'orders.sync'.",
    );
}

function clip(s: string): string {
  return s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE)}…` : s;
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return typeof error === 'string' ? error : String(error);
  } catch {
    return 'Unprintable error';
  }
}

/**
 * What an entry keeps of a failure: the code and suggestion `toProblem` gives it (so a queued
 * failure reads as its problem document would, defined codes included), the category from
 * `classify`, and the message of the error and of its cause, cut short. Never the stack.
 */
export function describeError(error: unknown): DeadLetterError {
  const problem = toProblem(error, { production: false });
  const d: DeadLetterError = {
    code: problem.code,
    category: classify(error),
    message: clip(messageOf(error)),
    suggestion: problem.suggestion ?? '',
  };
  if (error instanceof Error && error.name) d.name = error.name;
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause !== undefined) d.cause = clip(messageOf(cause));
  return d;
}

/** True when a retry failing with this error should not be tried again by the loop. */
export function isPermanentFailure(d: DeadLetterError): boolean {
  return d.category === 'permanent' || d.category === 'client';
}

/** The fields of an entry the queue keeps in memory, for stats, filters and scheduling. */
export interface EntrySummary {
  type: string;
  status: DeadLetterStatus;
  code: string;
  lastCode: string | undefined;
  correlationId: string | undefined;
  createdAt: number;
  nextAttemptAt: number | undefined;
}

/** The in-memory summary of a stored entry. */
export function summarize(e: DeadLetterEntry): EntrySummary {
  return {
    type: e.type,
    status: e.status,
    code: e.error.code,
    lastCode: e.lastError?.code,
    correlationId: e.correlationId,
    createdAt: e.createdAt,
    nextAttemptAt: e.nextAttemptAt,
  };
}

function has<T>(want: T | readonly T[] | undefined, value: T | undefined): boolean {
  if (want === undefined) return true;
  if (Array.isArray(want)) return (want as readonly T[]).includes(value as T);
  return want === value;
}

/** True when an entry (its id and summary) matches every field the filter gives. */
export function matches(id: string, s: EntrySummary, f: DeadLetterFilter): boolean {
  return (
    has(f.id, id) &&
    has(f.type, s.type) &&
    has(f.status, s.status) &&
    (f.code === undefined || has(f.code, s.code) || has(f.code, s.lastCode)) &&
    (f.correlationId === undefined || f.correlationId === s.correlationId) &&
    (f.before === undefined || s.createdAt < f.before) &&
    (f.after === undefined || s.createdAt >= f.after)
  );
}

const FILTER_KEYS = new Set([
  'id',
  'type',
  'status',
  'code',
  'correlationId',
  'before',
  'after',
  'limit',
  'archived',
]);

/** Throws a TypeError for a filter that is not an object or names an unknown field (a typo must not purge everything). */
export function checkFilter(filter: unknown, where: string): asserts filter is DeadLetterFilter {
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter))
    throw new TypeError(
      `Expected \`${where}\` to be a filter object (e.g. { status: 'failed' }); got ${String(filter)}.`,
    );
  for (const key of Object.keys(filter))
    if (!FILTER_KEYS.has(key))
      throw new TypeError(
        `Unknown filter field \`${key}\` in ${where}; known fields: ${[...FILTER_KEYS].join(', ')}.`,
      );
  const limit = (filter as DeadLetterFilter).limit;
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0))
    throw new TypeError(`Expected \`limit\` in ${where} to be a non-negative integer; got ${String(limit)}.`);
}
