/**
 * The dead-letter queue's book: the entries in their `Records` collection, the archive in a second
 * one, and the slim in-memory summary of every entry (bounded by `maxSize`: adds beyond it are
 * refused). Loading reads every entry once; an entry a crash left `in-progress` becomes an
 * interrupted retry.
 */
import type { RecordStore, Records, RecordValue } from '../stores/records.js';
import { type EntrySummary, matches, summarize } from './dead-letter-entry.js';
import {
  DEAD_LETTER_STATUSES,
  type DeadLetterAttempt,
  type DeadLetterEntry,
  type DeadLetterFilter,
} from './dead-letter-types.js';

/** Entries read per page. */
const PAGE = 1000;

/** Appends one retry to an entry's history, keeping the latest `limit`. */
export function recordAttempt(entry: DeadLetterEntry, attempt: DeadLetterAttempt, limit: number): void {
  entry.history.push(attempt);
  if (entry.history.length > limit) entry.history.splice(0, entry.history.length - limit);
}

/** True for a stored value shaped like an entry (a foreign or damaged record is skipped, not trusted). */
function isEntry(e: unknown): e is DeadLetterEntry {
  const v = e as Partial<DeadLetterEntry> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.type === 'string' &&
    typeof v.status === 'string' &&
    DEAD_LETTER_STATUSES.includes(v.status) &&
    Array.isArray(v.history) &&
    typeof v.attempts === 'number' &&
    typeof v.maxAttempts === 'number'
  );
}

const asValue = (e: DeadLetterEntry): RecordValue => e as unknown as RecordValue;

/** Where a queue's entries live, and what it knows of them without reading the store. */
export class EntryBook {
  /** Every entry's summary, by id. */
  readonly index = new Map<string, EntrySummary>();
  private readonly entries: Records;
  private readonly archived: Records;
  private loading: Promise<void> | undefined;
  private loaded = false;

  constructor(
    store: RecordStore,
    private readonly kind: string,
    private readonly historyLimit: number,
    /** Told about a record that is not an entry (it is skipped). */
    private readonly onForeign: (id: string, error: Error) => void,
  ) {
    this.entries = store.records(kind);
    this.archived = store.records(`${kind}.archive`);
  }

  /** True once every entry's summary is read. */
  get isLoaded(): boolean {
    return this.loaded;
  }

  /** Reads every entry's summary once (again after a failed attempt). */
  load(): Promise<void> {
    if (this.loaded) return Promise.resolve();
    this.loading ??= this.readAll().then(
      () => {
        this.loaded = true;
      },
      (error) => {
        this.loading = undefined;
        throw error;
      },
    );
    return this.loading;
  }

  /** Writes a new entry (resolves once durable), then indexes it. */
  async insert(entry: DeadLetterEntry): Promise<void> {
    await this.entries.put(entry.id, asValue(entry));
    this.index.set(entry.id, summarize(entry));
  }

  /** Writes a changed entry (resolves once durable) and refreshes its summary if it is still indexed. */
  async save(entry: DeadLetterEntry): Promise<void> {
    await this.entries.put(entry.id, asValue(entry));
    if (this.index.has(entry.id)) this.index.set(entry.id, summarize(entry));
  }

  /** Deletes an entry from the queue. */
  async remove(id: string): Promise<boolean> {
    this.index.delete(id);
    return this.entries.delete(id);
  }

  /** The queue's entry (a copy), or undefined. */
  async read(id: string): Promise<DeadLetterEntry | undefined> {
    const v = await this.entries.get(id);
    return v === undefined ? undefined : (v as unknown as DeadLetterEntry);
  }

  /** The archived entry (a copy), or undefined. */
  async readArchived(id: string): Promise<DeadLetterEntry | undefined> {
    const v = await this.archived.get(id);
    return v === undefined ? undefined : (v as unknown as DeadLetterEntry);
  }

  /** Ids of the queue's entries matching `filter`, oldest first, leaving out those `skip` names. */
  select(filter: DeadLetterFilter, skip?: (id: string) => boolean): string[] {
    const ids: string[] = [];
    for (const [id, s] of this.index) if (matches(id, s, filter) && !skip?.(id)) ids.push(id);
    ids.sort();
    return filter.limit === undefined ? ids : ids.slice(0, filter.limit);
  }

  /** Moves one entry to the archive: archive first, then delete, so a crash between leaves it in both, never in neither. */
  async moveToArchive(id: string, now: number): Promise<boolean> {
    const entry = await this.read(id);
    if (entry === undefined) return false;
    entry.archivedAt = now;
    await this.archived.put(id, asValue(entry));
    await this.remove(id);
    return true;
  }

  /** The archived entries matching `filter`, oldest first. */
  async archivedMatching(filter: DeadLetterFilter): Promise<DeadLetterEntry[]> {
    const out: DeadLetterEntry[] = [];
    for await (const r of pages(this.archived)) {
      const e = r.value as unknown as DeadLetterEntry;
      if (!isEntry(e) || !matches(r.id, summarize(e), filter)) continue;
      out.push(e);
      if (filter.limit !== undefined && out.length >= filter.limit) break;
    }
    return out;
  }

  /** Deletes one archived entry. */
  deleteArchived(id: string): Promise<boolean> {
    return this.archived.delete(id);
  }

  /** Deletes the oldest archived entries beyond `max`; returns them (id and type). */
  async trimArchive(max: number): Promise<{ id: string; type: string }[]> {
    const excess = (await this.archived.count()) - max;
    if (excess <= 0) return [];
    const evicted: { id: string; type: string }[] = [];
    for (const r of await this.archived.list({ limit: excess })) {
      await this.archived.delete(r.id);
      evicted.push({ id: r.id, type: (r.value as { type?: unknown } | null)?.type as string });
    }
    return evicted;
  }

  private async readAll(): Promise<void> {
    const interrupted: DeadLetterEntry[] = [];
    for await (const r of pages(this.entries)) {
      const e = r.value as unknown;
      if (!isEntry(e)) {
        this.onForeign(
          r.id,
          new TypeError(`Record '${r.id}' of kind '${this.kind}' is not a dead letter; skipped.`),
        );
        continue;
      }
      this.index.set(r.id, summarize(e));
      if (e.status === 'in-progress') interrupted.push(e);
    }
    const now = Date.now();
    for (const e of interrupted) {
      // The process stopped while the handler ran. Counted, so a poison entry that crashes the
      // process cannot crash-loop it forever.
      e.attempts++;
      const durationMs = Math.max(0, now - e.updatedAt);
      recordAttempt(e, { at: e.updatedAt, durationMs, outcome: 'interrupted' }, this.historyLimit);
      e.updatedAt = now;
      if (e.attempts >= e.maxAttempts) {
        e.status = 'failed';
        e.settledAt = now;
        delete e.nextAttemptAt;
      } else {
        e.status = 'retrying';
        e.nextAttemptAt = now;
      }
      await this.save(e);
    }
  }
}

/** Every record of a collection, in id order, a page at a time. */
async function* pages(records: Records): AsyncGenerator<{ id: string; value: RecordValue }> {
  let after: string | undefined;
  for (;;) {
    const page = await records.list(after === undefined ? { limit: PAGE } : { after, limit: PAGE });
    yield* page;
    if (page.length < PAGE) return;
    after = page[page.length - 1]?.id;
  }
}
