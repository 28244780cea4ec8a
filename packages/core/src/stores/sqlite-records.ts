/**
 * The embedded durable {@link RecordStore}: one SQLite file through `node:sqlite` (built into
 * Node 22.13+ and 24: no native build, no download at install), in WAL mode with
 * `synchronous=FULL`, so a commit is on disk (the WAL fsynced) before a write resolves.
 *
 * Grouped commit (the default): the first write of a tick opens a transaction (`BEGIN IMMEDIATE`,
 * which takes the write lock, so `insert` is atomic across processes too) and schedules its COMMIT
 * on `setImmediate`; every write issued before that joins it, and each write's promise resolves
 * once that COMMIT returned. One fsync then serves every write of the tick: 64 concurrent puts
 * cost one commit instead of 64. `sync: 'each'` commits every write on its own (the benchmark's
 * baseline). Reads run at once on the same connection, so they see this process's writes that are
 * still waiting for their commit.
 *
 * One table with a `kind` column rather than a table per kind: kinds appear at run time, and one
 * schema means no DDL (and no table names built from strings) after opening; the primary key
 * (kind, id) is the index `list` walks in id order, and one partial index on `expires_at` lets
 * every commit purge a few expired rows of any kind.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { assertValid, type Check, oneOf, shape, text } from '../util/checks.js';
import { lazyRequire } from '../util/lazy-require.js';
import {
  attempt,
  checkId,
  checkKind,
  checkListOptions,
  closedStoreError,
  encode,
  expiryOf,
  MAX_KINDS,
  type RecordPutOptions,
  type RecordStore,
  type Records,
  type RecordValue,
  type StoredRecord,
  tooManyKinds,
} from './records.js';

/** Options of {@link durableRecords}. */
export interface DurableRecordsOptions {
  /** The database file; relative paths resolve against `process.cwd()`. Default `.bulwark/bulwark.db`. */
  path?: string;
  /**
   * `'grouped'` (default): the writes of one tick share one transaction and one fsync, and each
   * resolves after that commit. `'each'`: every write is its own transaction (slower; for comparison).
   */
  sync?: 'grouped' | 'each';
}

/** The default file, under the working directory. */
export const DEFAULT_RECORDS_PATH = '.bulwark/bulwark.db';
/** How long a write waits for another process's write lock before it fails (ms). */
const BUSY_TIMEOUT_MS = 5000;
/** Expired rows deleted at most per commit: enough to keep up, small enough to stay cheap. */
const PURGE_STEP = 64;

type Sqlite = typeof import('node:sqlite');
let sqlite: Sqlite | undefined;

/**
 * `node:sqlite`, loaded on first use (importing core never loads it). Node 22 prints
 * `ExperimentalWarning: SQLite is an experimental feature` once on load: that one warning is
 * dropped, only during this load; every other warning passes (Node 24 prints none).
 */
function loadSqlite(): Sqlite {
  if (sqlite !== undefined) return sqlite;
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    const name = typeof warning === 'string' ? type : warning.name;
    const message = typeof warning === 'string' ? warning : warning.message;
    if (name === 'ExperimentalWarning' && message.startsWith('SQLite is an experimental feature')) return;
    return (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    sqlite = lazyRequire<Sqlite>('node:sqlite');
  } finally {
    process.emitWarning = emitWarning;
  }
  return sqlite;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS bulwark_records (
  kind TEXT NOT NULL,
  id TEXT NOT NULL,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER,
  PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bulwark_records_expiry ON bulwark_records (expires_at) WHERE expires_at IS NOT NULL;
`;
const LIVE = '(expires_at IS NULL OR expires_at > ?)';
const UPSERT = `INSERT INTO bulwark_records (kind, id, value, updated_at, expires_at) VALUES (?, ?, ?, ?, ?)
  ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, expires_at = excluded.expires_at`;

interface Row {
  id: string;
  value: string;
  updated_at: number;
  expires_at: number | null;
}

/** The prepared statements, shared by every kind (the kind is a parameter). */
class Statements {
  readonly get: StatementSync;
  readonly put: StatementSync;
  readonly insert: StatementSync;
  readonly delete: StatementSync;
  readonly list: StatementSync;
  readonly count: StatementSync;
  readonly purge: StatementSync;

  constructor(db: DatabaseSync) {
    this.get = db.prepare(`SELECT value FROM bulwark_records WHERE kind = ? AND id = ? AND ${LIVE}`);
    this.put = db.prepare(UPSERT);
    this.insert = db.prepare(`${UPSERT} WHERE bulwark_records.expires_at <= ?`);
    this.delete = db.prepare('DELETE FROM bulwark_records WHERE kind = ? AND id = ? RETURNING expires_at');
    this.list = db.prepare(
      `SELECT id, value, updated_at, expires_at FROM bulwark_records WHERE kind = ? AND id > ? AND ${LIVE} ORDER BY id LIMIT ?`,
    );
    this.count = db.prepare(`SELECT count(*) AS n FROM bulwark_records WHERE kind = ? AND ${LIVE}`);
    this.purge = db.prepare(
      `DELETE FROM bulwark_records WHERE (kind, id) IN (SELECT kind, id FROM bulwark_records WHERE expires_at <= ? LIMIT ${PURGE_STEP})`,
    );
  }
}

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

/** The writes waiting for one COMMIT. */
type Group = Waiter[];

class SqliteKind implements Records {
  constructor(
    readonly kind: string,
    private readonly store: SqliteRecordStore,
  ) {}

  get(id: string): Promise<RecordValue | undefined> {
    return this.store.read(() => {
      checkId(id);
      const row = this.store.statements().get.get(this.kind, id, Date.now()) as { value: string } | undefined;
      return row === undefined ? undefined : (JSON.parse(row.value) as RecordValue);
    });
  }

  put(id: string, value: RecordValue, options?: RecordPutOptions): Promise<void> {
    return this.store.write(
      () => this.row(id, value, options),
      (row) => {
        this.store.statements().put.run(...row);
      },
    );
  }

  insert(id: string, value: RecordValue, options?: RecordPutOptions): Promise<boolean> {
    return this.store.write(
      () => this.row(id, value, options),
      (row) => Number(this.store.statements().insert.run(...row, row[3]).changes) > 0,
    );
  }

  delete(id: string): Promise<boolean> {
    return this.store.write(
      () => checkId(id),
      () => {
        const row = this.store.statements().delete.get(this.kind, id) as
          | { expires_at: number | null }
          | undefined;
        return row !== undefined && (row.expires_at === null || row.expires_at > Date.now());
      },
    );
  }

  list(options?: { after?: string; limit?: number }): Promise<StoredRecord<RecordValue>[]> {
    return this.store.read(() => {
      checkListOptions(options);
      const rows = this.store
        .statements()
        .list.all(this.kind, options?.after ?? '', Date.now(), options?.limit ?? -1) as unknown as Row[];
      return rows.map((row) => {
        const record: StoredRecord<RecordValue> = {
          id: row.id,
          value: JSON.parse(row.value) as RecordValue,
          updatedAt: row.updated_at,
        };
        if (row.expires_at !== null) record.expiresAt = row.expires_at;
        return record;
      });
    });
  }

  count(): Promise<number> {
    return this.store.read(() => {
      const row = this.store.statements().count.get(this.kind, Date.now()) as { n: number };
      return row.n;
    });
  }

  /** The checked row of a write: kind, id, JSON, updated_at, expires_at. */
  private row(id: string, value: RecordValue, options: RecordPutOptions | undefined) {
    checkId(id);
    const now = Date.now();
    return [this.kind, id, encode(value), now, expiryOf(options, now) ?? null] as const;
  }
}

class SqliteRecordStore implements RecordStore {
  readonly durable = true;
  private readonly kinds = new Map<string, SqliteKind>();
  private db: DatabaseSync | undefined;
  private prepared: Statements | undefined;
  /** The writes of the open transaction (grouped mode), committed on setImmediate. */
  private group: Group | undefined;
  private closed = false;

  constructor(
    private readonly path: string | undefined,
    private readonly each: boolean,
  ) {}

  records<T extends RecordValue = RecordValue>(kind: string): Records<T> {
    checkKind(kind);
    if (this.closed) throw closedStoreError('durable record store');
    let records = this.kinds.get(kind);
    if (records === undefined) {
      if (this.kinds.size >= MAX_KINDS) throw tooManyKinds();
      this.open();
      records = new SqliteKind(kind, this);
      this.kinds.set(kind, records);
    }
    return records as unknown as Records<T>;
  }

  /** The statements of the open database (open() ran in records()). */
  statements(): Statements {
    if (this.prepared === undefined) throw closedStoreError('durable record store');
    return this.prepared;
  }

  read<R>(fn: () => R): Promise<R> {
    if (this.closed) return Promise.reject(closedStoreError('durable record store'));
    return attempt(fn);
  }

  /**
   * Checks a write's arguments (`check`, outside any transaction), runs it inside a transaction
   * and resolves with its result once committed.
   */
  write<A, R>(check: () => A, run: (args: A) => R): Promise<R> {
    if (this.closed) return Promise.reject(closedStoreError('durable record store'));
    let args: A;
    try {
      args = check();
    } catch (e) {
      return Promise.reject(e);
    }
    const fn = () => run(args);
    const db = this.db as DatabaseSync;
    if (this.each) {
      return attempt(() => {
        db.exec('BEGIN IMMEDIATE');
        try {
          const result = fn();
          db.exec('COMMIT');
          return result;
        } catch (e) {
          rollback(db);
          throw e;
        }
      });
    }
    let group = this.group;
    if (group === undefined) {
      try {
        db.exec('BEGIN IMMEDIATE');
      } catch (e) {
        return Promise.reject(e);
      }
      const opened: Group = [];
      group = opened;
      this.group = opened;
      setImmediate(() => this.commit(opened));
    }
    let result: R;
    try {
      result = fn();
    } catch (e) {
      // Some errors (disk full, I/O) make SQLite roll the whole transaction back: the writes
      // before this one are then lost, and must say so now rather than at COMMIT.
      if ((db as { isTransaction?: boolean }).isTransaction === false) this.fail(group, e);
      return Promise.reject(e);
    }
    return new Promise<R>((resolve, reject) => {
      group.push({ resolve: () => resolve(result), reject });
    });
  }

  /** Commits `group` (unless it already ended) and settles its writes. */
  private commit(group: Group): void {
    if (this.group !== group) return;
    this.group = undefined;
    const db = this.db as DatabaseSync;
    try {
      this.statements().purge.run(Date.now());
      db.exec('COMMIT');
    } catch (e) {
      rollback(db);
      for (const w of group) w.reject(e);
      return;
    }
    for (const w of group) w.resolve();
  }

  private fail(group: Group, error: unknown): void {
    if (this.group === group) this.group = undefined;
    for (const w of group.splice(0)) w.reject(error);
  }

  private open(): void {
    if (this.db !== undefined) return;
    const { DatabaseSync } = loadSqlite();
    const file = resolve(process.cwd(), this.path ?? DEFAULT_RECORDS_PATH);
    mkdirSync(dirname(file), { recursive: true });
    const db = new DatabaseSync(file);
    try {
      db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = FULL');
      db.exec(SCHEMA);
      this.prepared = new Statements(db);
    } catch (e) {
      db.close();
      throw e;
    }
    this.db = db;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const group = this.group;
    if (group !== undefined) this.commit(group);
    this.prepared = undefined;
    this.db?.close();
    this.db = undefined;
  }
}

function rollback(db: DatabaseSync): void {
  try {
    db.exec('ROLLBACK');
  } catch {
    // No transaction left to roll back: SQLite already did.
  }
}

const durableOptions: Check = shape(
  {
    path: text,
    sync: oneOf(['grouped', 'each']),
  },
  { expected: 'durableRecords options' },
);

/**
 * The embedded durable {@link RecordStore}: one SQLite file (`node:sqlite`, WAL, `synchronous=FULL`);
 * a write resolves once committed to disk. Opened (and its folder created) on first use.
 * @example
 * const store = durableRecords({ path: 'data/records.db' });
 * await store.records('checkpoints').put('run-1', { done: 3 });
 * await store.close();
 */
export function durableRecords(options: DurableRecordsOptions = {}): RecordStore {
  assertValid(durableOptions, options, 'durableRecords');
  return new SqliteRecordStore(options.path, options.sync === 'each');
}
