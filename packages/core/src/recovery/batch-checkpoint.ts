/**
 * A batch's progress in the record store (kind `batch.checkpoints`): a head record `<id>` (status,
 * times, counts) and append-only segments `<id>#<seq>`, each holding the keys finished since the
 * previous write. Appending keeps the total written O(items) — rewriting one growing list of keys
 * every 100 items would be O(items²) for a large batch. A resumed run lists the segments (ids sort
 * in write order) to learn which keys are done.
 *
 * Writes are serialised (one at a time, in order). A write that fails is kept and rethrown by the
 * next `add`/`finish`, so the batch rejects instead of claiming progress it did not save.
 */
import type { Records, RecordValue } from '../stores/records.js';

/** The record kind holding checkpoints. */
export const CHECKPOINT_KIND = 'batch.checkpoints';

/** Status of a checkpointed run. */
export type CheckpointStatus = 'running' | 'finished' | 'stopped' | 'rolled-back';

/** The head record of a run. */
export interface CheckpointHead {
  [k: string]: RecordValue | undefined;
  name: string;
  status: CheckpointStatus;
  /** Epoch ms. */
  startedAt: number;
  /** Epoch ms of the last write. */
  updatedAt: number;
  /** Keys written as done so far. */
  done: number;
  /** Segments written so far. */
  segments: number;
}

interface Segment {
  [k: string]: RecordValue | undefined;
  done: string[];
  /** Results by key (only when the batch can roll back: `undo` needs them after a resume). */
  results?: { [key: string]: RecordValue | undefined };
}

/** What an earlier run left. */
export interface Progress {
  /** The head, when there was a run. */
  head: CheckpointHead | undefined;
  /** Keys done, in the order they were written. */
  done: string[];
  /** Their results (when kept). */
  results: Map<string, unknown>;
}

const SEGMENTS_PER_PAGE = 500;

/** The JSON form of a result, or null when it has none (functions, cycles, BigInt...). */
function jsonable(value: unknown): RecordValue {
  if (value === undefined) return null;
  try {
    const text = JSON.stringify(value);
    return text === undefined ? null : (JSON.parse(text) as RecordValue);
  } catch {
    return null;
  }
}

/** One run's checkpoint writer (and reader of the previous run's). */
export class Checkpoint {
  private pending: string[] = [];
  private pendingResults: { [key: string]: RecordValue | undefined } = {};
  private seq = 0;
  private done = 0;
  private startedAt = Date.now();
  private chain: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight: Promise<void> | undefined;
  /** Writes made (head and segments), for the report. */
  writes = 0;

  constructor(
    private readonly records: Records,
    private readonly id: string,
    private readonly name: string,
    private readonly every: number,
    private readonly intervalMs: number,
    private readonly keepResults: boolean,
  ) {}

  private segmentId(seq: number): string {
    return `${this.id}#${String(seq).padStart(10, '0')}`;
  }

  /** Reads what an earlier run under this id saved. */
  async load(): Promise<Progress> {
    const head = (await this.records.get(this.id)) as CheckpointHead | undefined;
    const done: string[] = [];
    const results = new Map<string, unknown>();
    const prefix = `${this.id}#`;
    let after = prefix;
    for (;;) {
      const page = await this.records.list({ after, limit: SEGMENTS_PER_PAGE });
      for (const r of page) {
        if (!r.id.startsWith(prefix)) return this.loaded(head, done, results);
        const seg = r.value as Segment;
        for (const key of seg.done) done.push(key);
        if (seg.results) for (const [k, v] of Object.entries(seg.results)) results.set(k, v);
        this.seq = Math.max(this.seq, Number(r.id.slice(prefix.length)));
        after = r.id;
      }
      if (page.length < SEGMENTS_PER_PAGE) return this.loaded(head, done, results);
    }
  }

  private loaded(head: CheckpointHead | undefined, done: string[], results: Map<string, unknown>): Progress {
    this.done = done.length;
    if (head) this.startedAt = head.startedAt;
    return { head, done, results };
  }

  /** Deletes the earlier run's head and segments (a fresh run, or after a rollback). */
  async clear(): Promise<void> {
    const prefix = `${this.id}#`;
    for (;;) {
      const page = await this.records.list({ after: prefix, limit: SEGMENTS_PER_PAGE });
      const mine = page.filter((r) => r.id.startsWith(prefix));
      for (const r of mine) await this.records.delete(r.id);
      if (mine.length < SEGMENTS_PER_PAGE) break;
    }
    await this.records.delete(this.id);
    this.seq = 0;
    this.done = 0;
    this.startedAt = Date.now();
  }

  /** Writes the head with `status`. */
  head(status: CheckpointStatus): Promise<void> {
    return this.enqueue(() => this.putHead(status));
  }

  private async putHead(status: CheckpointStatus): Promise<void> {
    const head: CheckpointHead = {
      name: this.name,
      status,
      startedAt: this.startedAt,
      updatedAt: Date.now(),
      done: this.done,
      segments: this.seq,
    };
    await this.records.put(this.id, head);
    this.writes++;
  }

  /** Notes a finished key; every `every` keys a write starts (a promise is returned to wait on while the previous one is still running). */
  add(key: string, result: unknown): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure.error);
    this.pending.push(key);
    if (this.keepResults) this.pendingResults[key] = jsonable(result);
    if (this.pending.length >= this.every) {
      // The write overlaps the next items' work; the batch waits only when the previous write is
      // still in flight (at most two outstanding), so a slow fsync slows the batch, never piles up.
      const previous = this.inFlight;
      const write = this.flush();
      write.catch(() => {
        // Kept in this.failure; the next add() or finish() rethrows it.
      });
      this.inFlight = write;
      return previous;
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush().catch(() => {
          // Kept in this.failure; the next add() or finish() rethrows it.
        });
      }, this.intervalMs);
      this.timer.unref?.();
    }
    return undefined;
  }

  /** Writes the pending keys as one segment (nothing when none is pending). */
  flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.pending.length === 0) return this.failure ? Promise.reject(this.failure.error) : this.chain;
    const seg: Segment = { done: this.pending };
    if (this.keepResults) seg.results = this.pendingResults;
    this.pending = [];
    this.pendingResults = {};
    const seq = ++this.seq;
    return this.enqueue(async () => {
      await this.records.put(this.segmentId(seq), seg);
      this.done += seg.done.length;
      this.writes++;
    });
  }

  private enqueue(write: () => Promise<void>): Promise<void> {
    const next = this.chain.then(() => {
      if (this.failure) throw this.failure.error;
      return write().catch((error: unknown) => {
        this.failure ??= { error };
        throw error;
      });
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Flushes, then writes the head with its final status. */
  async finish(status: CheckpointStatus): Promise<void> {
    await this.flush();
    await this.head(status);
  }

  /** Stops the interval timer (pending keys are dropped: call finish() first to keep them). */
  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
