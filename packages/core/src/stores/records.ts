/**
 * Durable records: one collection per kind of record (dead letters, saga logs, checkpoints,
 * idempotency records), in one of three homes: memory (tests, one process), the embedded durable
 * file (`durableRecords`, stores/sqlite-records.ts) and Redis later. Every home passes the same
 * conformance suite (records.conformance.ts).
 *
 * Values are JSON: each home stores `JSON.stringify(value)` and hands back a parsed copy, so a
 * caller can never change stored state by mutating an object it passed in or got back, and the
 * memory home behaves exactly as the file does (`undefined` properties dropped, `NaN` → `null`).
 */
import { CancelledError } from '../errors/bulwark-error.js';
import type { Closeable } from '../types.js';
import { assertValid, type Check, positiveInt, shape } from '../util/checks.js';

/** A JSON value a record may hold. */
export type RecordValue =
  | null
  | boolean
  | number
  | string
  | RecordValue[]
  | { [k: string]: RecordValue | undefined };

/** Options of a write. */
export interface RecordPutOptions {
  /** Expire after this many ms (absent = never). */
  ttlMs?: number;
}

/** A record as listed: its id, value and timestamps. */
export interface StoredRecord<T> {
  /** The record's id within its kind. */
  id: string;
  /** A copy of the stored value. */
  value: T;
  /** When it was last written (epoch ms). */
  updatedAt: number;
  /** When it expires (epoch ms); absent = never. */
  expiresAt?: number;
}

/** One kind of durable record (dead letters, saga logs, checkpoints, idempotency records). */
export interface Records<T extends RecordValue = RecordValue> {
  /** The kind this collection holds. */
  readonly kind: string;
  /** The record's value (a copy), or undefined when absent or expired. */
  get(id: string): Promise<T | undefined>;
  /** Writes (insert or replace). Resolves only once durable (fsynced / committed) in a durable store. */
  put(id: string, value: T, options?: RecordPutOptions): Promise<void>;
  /** Inserts only when absent (or expired); false when present. Atomic (idempotency claims use it). */
  insert(id: string, value: T, options?: RecordPutOptions): Promise<boolean>;
  /** Deletes the record; false when it was absent (or expired). */
  delete(id: string): Promise<boolean>;
  /** In id order (ids the callers make are time-sortable), `after` exclusive, up to `limit` (default all). */
  list(options?: { after?: string; limit?: number }): Promise<StoredRecord<T>[]>;
  /** Records held, expired ones excluded. */
  count(): Promise<number>;
}

/** Where records live: memory (tests, one process), the embedded durable file, Redis later. */
export interface RecordStore extends Closeable {
  /** `kind`: [a-z0-9.-]{1,64}. The same kind returns the same collection. */
  records<T extends RecordValue = RecordValue>(kind: string): Records<T>;
  /** True when a put that resolved survives a crash (memory: false). */
  readonly durable: boolean;
}

/** Options of {@link memoryRecords}. */
export interface MemoryRecordsOptions {
  /** Records one kind holds at most; a write of a new id beyond it rejects. Default 100000. */
  maxRecordsPerKind?: number;
}

// ---------------------------------------------------------------------------------------------
// Shared by every home (internal): argument checks, JSON encoding, id order.

/** Kinds one store holds at most (kinds are chosen by code, so this only stops a runaway loop). */
export const MAX_KINDS = 1024;
/** The longest id accepted, in UTF-16 code units (callers hash longer client keys). */
export const MAX_ID_LENGTH = 1024;
const KIND = /^[a-z0-9.-]{1,64}$/;

/** Throws unless `kind` matches [a-z0-9.-]{1,64}. */
export function checkKind(kind: unknown): asserts kind is string {
  if (typeof kind !== 'string' || !KIND.test(kind))
    throw new TypeError(
      `Expected a record kind of 1 to 64 characters from [a-z0-9.-]; got ${JSON.stringify(kind)}. ` +
        "Use a name such as 'dead-letters' or 'saga.orders'.",
    );
}

/** A lone surrogate: not Unicode, so UTF-8 (SQLite, Redis) would store U+FFFD instead. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Throws unless `id` is a non-empty string of at most {@link MAX_ID_LENGTH} characters of
 * well-formed Unicode (a lone surrogate could not come back unchanged from a UTF-8 store).
 */
export function checkId(id: unknown, name = 'id'): asserts id is string {
  if (typeof id === 'string' && LONE_SURROGATE.test(id))
    throw new TypeError(
      `Expected \`${name}\` to be well-formed Unicode; got a string with a lone surrogate. Hash such keys (e.g. sha256) before using them as ids.`,
    );
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH)
    throw new TypeError(
      `Expected \`${name}\` to be a non-empty string of at most ${MAX_ID_LENGTH} characters; got ${
        typeof id === 'string' ? `a string of ${id.length}` : (JSON.stringify(id) ?? String(id))
      }. Hash long keys (e.g. sha256) before using them as ids.`,
    );
}

/** The expiry (epoch ms) of a write at `now`, or undefined; throws on a bad `ttlMs`. */
export function expiryOf(options: RecordPutOptions | undefined, now: number): number | undefined {
  const ttlMs = options?.ttlMs;
  if (ttlMs === undefined) return undefined;
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0)
    throw new TypeError(
      `Expected \`ttlMs\` to be a positive finite number of ms; got ${JSON.stringify(ttlMs) ?? String(ttlMs)}. ` +
        'Leave it out for a record that never expires.',
    );
  return now + ttlMs;
}

/** The JSON text stored for `value`; throws when it is not JSON. */
export function encode(value: unknown): string {
  const text = JSON.stringify(value);
  if (typeof text !== 'string')
    throw new TypeError(
      `Expected a JSON value for the record; got ${typeof value}. Use null to store nothing.`,
    );
  return text;
}

/** Throws unless `limit`/`after` of a `list` call are valid. */
export function checkListOptions(options: { after?: string; limit?: number } | undefined): void {
  if (options === undefined) return;
  if (options.after !== undefined) checkId(options.after, 'after');
  const limit = options.limit;
  if (limit !== undefined && !(typeof limit === 'number' && Number.isInteger(limit) && limit >= 0))
    throw new TypeError(
      `Expected \`limit\` to be a whole number of at least 0; got ${JSON.stringify(limit)}.`,
    );
}

/**
 * Id order: by Unicode code point, which is the byte order of UTF-8 (SQLite's BINARY collation
 * and Redis sorted-set lexicographic order), so every home lists in the same order. JavaScript's
 * `<` compares UTF-16 code units, which differs only past U+FFFF; this fixes that case up.
 */
export function compareIds(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Surrogates (0xD800–0xDFFF) encode code points above 0xFFFF: they sort after 0xE000–0xFFFF.
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** The error a call on a closed store rejects with. */
export function closedStoreError(what: string): CancelledError {
  return new CancelledError({
    message: `The ${what} is closed.`,
    suggestion: 'Open a new store (or create a new Bulwark); close() is the last call on a store.',
  });
}

/** Runs `fn` and turns a throw into a rejection (the Records methods never throw synchronously). */
export function attempt<R>(fn: () => R | Promise<R>): Promise<R> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}

// ---------------------------------------------------------------------------------------------
// The memory home.

interface Slot {
  text: string;
  updatedAt: number;
  /** Epoch ms; undefined = never. */
  expiresAt: number | undefined;
}

class MemoryKind implements Records {
  private readonly slots = new Map<string, Slot>();
  /** Ids in id order, rebuilt on the next `list` after an id was added or removed. */
  private sorted: string[] | undefined = [];
  /** Records with an expiry held: when 0, `count` is the map's size. */
  private expiring = 0;

  constructor(
    readonly kind: string,
    private readonly max: number,
    private readonly isClosed: () => boolean,
  ) {}

  get(id: string): Promise<RecordValue | undefined> {
    return this.call(() => {
      checkId(id);
      const slot = this.live(id, Date.now());
      return slot === undefined ? undefined : (JSON.parse(slot.text) as RecordValue);
    });
  }

  put(id: string, value: RecordValue, options?: RecordPutOptions): Promise<void> {
    return this.call(() => {
      checkId(id);
      const now = Date.now();
      this.write(id, encode(value), now, expiryOf(options, now));
    });
  }

  insert(id: string, value: RecordValue, options?: RecordPutOptions): Promise<boolean> {
    return this.call(() => {
      checkId(id);
      const now = Date.now();
      const text = encode(value);
      const expiresAt = expiryOf(options, now);
      if (this.live(id, now) !== undefined) return false;
      this.write(id, text, now, expiresAt);
      return true;
    });
  }

  delete(id: string): Promise<boolean> {
    return this.call(() => {
      checkId(id);
      const present = this.live(id, Date.now()) !== undefined;
      if (present) this.remove(id);
      return present;
    });
  }

  list(options?: { after?: string; limit?: number }): Promise<StoredRecord<RecordValue>[]> {
    return this.call(() => {
      checkListOptions(options);
      const limit = options?.limit ?? Number.POSITIVE_INFINITY;
      const now = Date.now();
      this.sorted ??= [...this.slots.keys()].sort(compareIds);
      const ids = this.sorted;
      const after = options?.after;
      let i = after === undefined ? 0 : firstAfter(ids, after);
      const out: StoredRecord<RecordValue>[] = [];
      const expired: string[] = [];
      for (; i < ids.length && out.length < limit; i++) {
        const id = ids[i] as string;
        const slot = this.slots.get(id);
        if (slot === undefined) continue;
        if (slot.expiresAt !== undefined && slot.expiresAt <= now) {
          expired.push(id);
          continue;
        }
        const record: StoredRecord<RecordValue> = {
          id,
          value: JSON.parse(slot.text) as RecordValue,
          updatedAt: slot.updatedAt,
        };
        if (slot.expiresAt !== undefined) record.expiresAt = slot.expiresAt;
        out.push(record);
      }
      for (const id of expired) this.remove(id);
      return out;
    });
  }

  count(): Promise<number> {
    return this.call(() => {
      if (this.expiring > 0) this.purge(Date.now());
      return this.slots.size;
    });
  }

  clear(): void {
    this.slots.clear();
    this.sorted = [];
    this.expiring = 0;
  }

  private call<R>(fn: () => R): Promise<R> {
    if (this.isClosed()) return Promise.reject(closedStoreError('memory record store'));
    return attempt(fn);
  }

  /** The slot of `id` unless absent or expired (an expired one is removed). */
  private live(id: string, now: number): Slot | undefined {
    const slot = this.slots.get(id);
    if (slot?.expiresAt !== undefined && slot.expiresAt <= now) {
      this.remove(id);
      return undefined;
    }
    return slot;
  }

  private write(id: string, text: string, now: number, expiresAt: number | undefined): void {
    const old = this.slots.get(id);
    if (old === undefined) {
      if (this.slots.size >= this.max && this.expiring > 0) this.purge(now);
      if (this.slots.size >= this.max)
        throw new RangeError(
          `The memory record store holds ${this.max} records of kind '${this.kind}' (maxRecordsPerKind); ` +
            'delete records you no longer need, or raise maxRecordsPerKind in memoryRecords({ maxRecordsPerKind }).',
        );
      this.sorted = undefined;
    } else if (old.expiresAt !== undefined) this.expiring--;
    if (expiresAt !== undefined) this.expiring++;
    this.slots.set(id, { text, updatedAt: now, expiresAt });
  }

  private remove(id: string): void {
    const slot = this.slots.get(id);
    if (slot === undefined) return;
    if (slot.expiresAt !== undefined) this.expiring--;
    this.slots.delete(id);
    this.sorted = undefined;
  }

  private purge(now: number): void {
    for (const [id, slot] of this.slots)
      if (slot.expiresAt !== undefined && slot.expiresAt <= now) this.remove(id);
  }
}

/** Index of the first id in `ids` (sorted) greater than `after`. */
function firstAfter(ids: readonly string[], after: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareIds(ids[mid] as string, after) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

class MemoryRecordStore implements RecordStore {
  readonly durable = false;
  private readonly kinds = new Map<string, MemoryKind>();
  private closed = false;

  constructor(private readonly maxPerKind: number) {}

  records<T extends RecordValue = RecordValue>(kind: string): Records<T> {
    checkKind(kind);
    if (this.closed) throw closedStoreError('memory record store');
    let records = this.kinds.get(kind);
    if (records === undefined) {
      if (this.kinds.size >= MAX_KINDS) throw tooManyKinds();
      records = new MemoryKind(kind, this.maxPerKind, () => this.closed);
      this.kinds.set(kind, records);
    }
    return records as unknown as Records<T>;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const records of this.kinds.values()) records.clear();
  }
}

/** The error of one kind too many. */
export function tooManyKinds(): RangeError {
  return new RangeError(
    `A record store holds at most ${MAX_KINDS} kinds; kinds name what records are for ('dead-letters', 'saga.orders'), never a per-request value.`,
  );
}

const memoryOptions: Check = shape({ maxRecordsPerKind: positiveInt }, { expected: 'memoryRecords options' });

/**
 * A {@link RecordStore} in memory: for tests and single-process use where nothing must survive a
 * restart (`durable` is false). Bounded per kind; expired records are absent at once and purged lazily.
 * @example
 * const bulwark = createBulwark({ records: memoryRecords() });
 * await bulwark.records.records('checkpoints').put('run-1', { done: 3 });
 */
export function memoryRecords(options: MemoryRecordsOptions = {}): RecordStore {
  assertValid(memoryOptions, options, 'memoryRecords');
  return new MemoryRecordStore(options.maxRecordsPerKind ?? 100_000);
}
