/**
 * Options of the dead-letter queue: the serialisable part (config section `recovery.deadLetters`)
 * and the code-only seams, checked once by {@link checkDeadLetterOptions} and defaulted by
 * {@link resolveDeadLetterOptions} (the resolver contract of util/checks.ts).
 */
import type { BackoffConfig, BackoffKind, JitterKind, RandomFn } from '../policies/backoff.js';
import { checkRetryOptions, resolveRetryOptions } from '../policies/retry.js';
import type { RecordStore } from '../stores/records.js';
import { defaultEvents, type EventStream } from '../telemetry/events.js';
import {
  boolean,
  type Check,
  closest,
  eventStream,
  func,
  Issues,
  isPlainObject,
  join,
  numberIn,
  positiveInt,
  shape,
  throwIfIssues,
  withMethods,
} from '../util/checks.js';
import type { Duration } from '../util/duration.js';

/** The backoff between a queue's retries: the retry policy's settings (policies/backoff.ts). */
export interface DeadLetterBackoffOptions {
  /** Shape of the growth. Default 'exponential'. */
  backoff?: BackoffKind | ((attempt: number, previousDelayMs: number, error: unknown) => number);
  /** Delay before the first retry. Default 1s. */
  initialDelay?: Duration;
  /** Largest delay. Default 10m. */
  maxDelay?: Duration;
  /** Exponential factor. Default 2. */
  factor?: number;
  /** Jitter; `true` is 'full', `false` is 'none'. Default 'full'. */
  jitter?: JitterKind | boolean;
}

/** The serialisable options (config section `recovery.deadLetters`). */
export interface DeadLetterOptions {
  /** Record kind the entries are stored under (the archive uses `<kind>.archive`). Default 'dead-letters'. */
  kind?: string;
  /** Entries the queue holds at most (any status); an add beyond it is refused with `DEAD_LETTER_FULL`. Default 10000. */
  maxSize?: number;
  /** Retries per entry before it is `failed`, unless `add({ maxAttempts })` says otherwise. Default 5. */
  maxAttempts?: number;
  /** Backoff between retries. */
  backoff?: DeadLetterBackoffOptions;
  /** Entries the auto-retry loop runs at once. Default 4. */
  concurrency?: number;
  /** Start the auto-retry loop when the queue is created (else call `start()`). Default false. */
  autoRetry?: boolean;
  /** Delete an entry once it recovered (else it stays, `recovered`, until purged or archived). Default false. */
  removeRecovered?: boolean;
  /** Archived entries kept at most; the oldest beyond it are deleted with a `dead-letter.evicted` event. Default 100000. */
  maxArchived?: number;
  /** Largest payload, as JSON, in bytes (UTF-16 code units). Default 262144 (256 KiB). */
  maxPayloadBytes?: number;
  /** Retries kept in an entry's history (the latest). Default 20. */
  historyLimit?: number;
}

/** The queue's options: the serialisable ones plus where records live and the seams. */
export interface DeadLetterQueueOptions extends DeadLetterOptions {
  /** Where entries live: `memoryRecords()` (tests), `durableRecords({ path })`, or `bulwark.records`. */
  records: RecordStore;
  /** Where events go. Default the process-wide stream. */
  events?: EventStream;
  /** Random source for jitter. Default `Math.random`. */
  random?: RandomFn;
  /** Name in events. Default 'dead-letters'. */
  name?: string;
}

/** Options after {@link resolveDeadLetterOptions}: defaulted, frozen. */
export interface ResolvedDeadLetterOptions {
  readonly name: string;
  readonly kind: string;
  readonly maxSize: number;
  readonly maxAttempts: number;
  readonly backoff: Readonly<BackoffConfig>;
  readonly concurrency: number;
  readonly autoRetry: boolean;
  readonly removeRecovered: boolean;
  readonly maxArchived: number;
  readonly maxPayloadBytes: number;
  readonly historyLimit: number;
  readonly events: EventStream;
  readonly random: RandomFn;
}

/** Retries one entry may be given at most (a bound on the work a single add can cause). */
export const MAX_DEAD_LETTER_ATTEMPTS = 1000;

const DEFAULT_BACKOFF = { initialDelay: '1s', maxDelay: '10m' } as const;
const BACKOFF_KEYS = ['backoff', 'initialDelay', 'maxDelay', 'factor', 'jitter'] as const;

/** A record kind, as stores accept it. */
const kindCheck: Check = (v, p, out) => {
  if (typeof v !== 'string' || !/^[a-z0-9.-]{1,55}$/.test(v))
    out.add(
      p,
      'a record kind of 1 to 55 characters from [a-z0-9.-]',
      v,
      "e.g. 'dead-letters' or 'orders.dlq'",
    );
};

/** The retry policy's backoff settings, and only those (a queue has no `maxAttempts` per call, no budget). */
const backoffCheck: Check = (v, p, out) => {
  if (!isPlainObject(v))
    return out.add(p, 'backoff options (backoff, initialDelay, maxDelay, factor, jitter)', v);
  const known: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(v)) {
    if ((BACKOFF_KEYS as readonly string[]).includes(key)) known[key] = value;
    else {
      const near = closest(key, BACKOFF_KEYS);
      const fix = near ? `did you mean '${near}'?` : `remove it; known keys: ${BACKOFF_KEYS.join(', ')}`;
      out.add(join(p, key), 'a known key', `unknown key "${key}"`, fix, true);
    }
  }
  checkRetryOptions({ ...DEFAULT_BACKOFF, ...known }, p, out);
};

const attemptsCheck = numberIn(
  1,
  MAX_DEAD_LETTER_ATTEMPTS,
  `a whole number from 1 to ${MAX_DEAD_LETTER_ATTEMPTS}`,
);
const wholeAttempts: Check = (v, p, out) => {
  if (typeof v === 'number' && !Number.isInteger(v)) out.add(p, 'a whole number', v, 'use e.g. 5');
  else attemptsCheck(v, p, out);
};

const optionFields: Record<string, Check> = {
  kind: kindCheck,
  maxSize: positiveInt,
  maxAttempts: wholeAttempts,
  backoff: backoffCheck,
  concurrency: positiveInt,
  autoRetry: boolean,
  removeRecovered: boolean,
  maxArchived: positiveInt,
  maxPayloadBytes: positiveInt,
  historyLimit: positiveInt,
};

const aliases = { maxRetries: 'maxAttempts', size: 'maxSize', max: 'maxSize', autoStart: 'autoRetry' };

const configShape = shape(optionFields, {
  aliases,
  reserved: {
    records: 'set `records` at the top level of the config (createBulwark({ records })), from code',
    events: 'remove it; set `events` at the top level of the config, every part shares it',
  },
  expected: 'dead-letter queue options',
});

const recordsCheck = withMethods(
  'a RecordStore (records, close)',
  ['records', 'close'],
  'pass memoryRecords(), durableRecords({ path }) or bulwark.records',
);

const codeShape = shape(
  {
    ...optionFields,
    records: recordsCheck,
    events: eventStream,
    random: func,
    name: (v, p, out) => {
      if (typeof v !== 'string' || v.trim() === '') out.add(p, 'a non-empty string', v);
    },
  },
  { required: ['records'], aliases, expected: 'dead-letter queue options' },
);

/** Checks the config section `recovery.deadLetters` at `path`, collecting every problem in `issues`. */
export function checkDeadLetterOptions(input: unknown, path: string, issues: Issues): void {
  configShape(input, path, issues);
}

/** Validates and defaults the queue's options once; throws one InvalidConfigError listing every problem. */
export function resolveDeadLetterOptions(input: DeadLetterQueueOptions): ResolvedDeadLetterOptions {
  const issues = new Issues();
  codeShape(input, 'deadLetters', issues);
  throwIfIssues(issues);
  const o = input;
  const retry = resolveRetryOptions({ ...DEFAULT_BACKOFF, ...o.backoff, budget: false });
  return Object.freeze({
    name: o.name ?? 'dead-letters',
    kind: o.kind ?? 'dead-letters',
    maxSize: o.maxSize ?? 10_000,
    maxAttempts: o.maxAttempts ?? 5,
    backoff: retry.backoff,
    concurrency: o.concurrency ?? 4,
    autoRetry: o.autoRetry ?? false,
    removeRecovered: o.removeRecovered ?? false,
    maxArchived: o.maxArchived ?? 100_000,
    maxPayloadBytes: o.maxPayloadBytes ?? 262_144,
    historyLimit: o.historyLimit ?? 20,
    events: o.events ?? defaultEvents,
    random: o.random ?? Math.random,
  });
}
