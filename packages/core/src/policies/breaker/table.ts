/**
 * The keyed breakers of one policy, stored as a table: one row per key, one typed-array column
 * per field (state, since, consecutive failures, probes in flight, generation, the rolling
 * window's bucket counters and their running totals). No object, closure or timer per key:
 * 100k keys fit in a few MB, a call touches a handful of array cells, and time only moves when a
 * call (or a read) looks at the clock. The window rotates lazily: each row remembers the index
 * of its newest bucket and clears the buckets a call skipped over.
 *
 * Rows live on two intrusive LRU lists, closed and not closed; a new key past `maxKeys` takes
 * the row of the least recently used closed breaker, and only when every breaker is open or
 * half-open the least recently used of those.
 */

/** Breaker states as stored. */
export const CLOSED = 0;
/** Open: calls are rejected until `resetTimeout` has passed since `since`. */
export const OPEN = 1;
/** Half-open: probes may run. */
export const HALF_OPEN = 2;

const NONE = -1;
const INITIAL_ROWS = 16;

/** Window totals of one row. */
export interface Totals {
  calls: number;
  failures: number;
  slow: number;
}

/** One policy's keyed breaker rows. */
export class BreakerTable {
  /** key → row. */
  readonly rows = new Map<string, number>();
  keys: Array<string | undefined> = [];
  state: Uint8Array;
  /** Epoch ms the current open or half-open period began. */
  since: Float64Array;
  /** Index (epoch ms / bucketMs) of the newest bucket of each row. */
  head: Float64Array;
  consecutive: Int32Array;
  probes: Uint16Array;
  probeSuccesses: Uint16Array;
  /** Bumped on every transition and reuse, so an outcome of an older period is ignored. */
  generation: Int32Array;
  rejects: Uint32Array;
  totalCalls: Int32Array;
  totalFailures: Int32Array;
  totalSlow: Int32Array;
  calls: Int32Array;
  failures: Int32Array;
  slow: Int32Array;
  private prev: Int32Array;
  private next: Int32Array;
  /** LRU list heads and tails: index 0 closed, 1 open or half-open. */
  private readonly first = [NONE, NONE];
  private readonly last = [NONE, NONE];
  private capacity = 0;
  /** Rows from `free` on hold no key (clear() makes every row free again). */
  private free = 0;

  constructor(
    readonly maxKeys: number,
    readonly buckets: number,
    readonly bucketMs: number,
    readonly trackSlow: boolean,
  ) {
    this.state = new Uint8Array(0);
    this.since = new Float64Array(0);
    this.head = new Float64Array(0);
    this.consecutive = new Int32Array(0);
    this.probes = new Uint16Array(0);
    this.probeSuccesses = new Uint16Array(0);
    this.generation = new Int32Array(0);
    this.rejects = new Uint32Array(0);
    this.totalCalls = new Int32Array(0);
    this.totalFailures = new Int32Array(0);
    this.totalSlow = new Int32Array(0);
    this.calls = new Int32Array(0);
    this.failures = new Int32Array(0);
    this.slow = new Int32Array(0);
    this.prev = new Int32Array(0);
    this.next = new Int32Array(0);
  }

  /** Keys in use. */
  get size(): number {
    return this.rows.size;
  }

  /** The row of `key`, created (or taken from an evicted key) when missing, and marked as used. */
  row(key: string): number {
    const r = this.rows.get(key);
    if (r !== undefined) {
      this.touch(r);
      return r;
    }
    return this.create(key);
  }

  /** Moves row `r` to the front of its LRU list. */
  touch(r: number): void {
    const list = this.state[r] === CLOSED ? 0 : 1;
    if (this.first[list] === r) return;
    this.unlink(r, list);
    this.pushFront(r, list);
  }

  /** Changes the state of row `r`, moving it to the front of the matching LRU list and bumping its generation. */
  setState(r: number, state: number): void {
    const from = this.state[r] === CLOSED ? 0 : 1;
    const to = state === CLOSED ? 0 : 1;
    this.unlink(r, from);
    this.state[r] = state;
    this.pushFront(r, to);
    this.generation[r] = ((this.generation[r] as number) + 1) | 0;
  }

  /** Rotates row `r`'s window to the bucket of `now`, clearing the buckets that passed. */
  rotate(r: number, now: number): number {
    const bucket = Math.floor(now / this.bucketMs);
    const head = this.head[r] as number;
    if (bucket <= head) return head;
    const n = this.buckets;
    const base = r * n;
    if (bucket - head >= n) this.clearWindow(r);
    else {
      for (let b = head + 1; b <= bucket; b++) {
        const i = base + (b % n);
        this.totalCalls[r] = (this.totalCalls[r] as number) - (this.calls[i] as number);
        this.totalFailures[r] = (this.totalFailures[r] as number) - (this.failures[i] as number);
        this.calls[i] = 0;
        this.failures[i] = 0;
        if (this.trackSlow) {
          this.totalSlow[r] = (this.totalSlow[r] as number) - (this.slow[i] as number);
          this.slow[i] = 0;
        }
      }
    }
    this.head[r] = bucket;
    return bucket;
  }

  /** Records one call's outcome in row `r`'s window at `now`. */
  record(r: number, now: number, failed: boolean, slow: boolean): void {
    const bucket = this.rotate(r, now);
    const i = r * this.buckets + (bucket % this.buckets);
    this.calls[i] = (this.calls[i] as number) + 1;
    this.totalCalls[r] = (this.totalCalls[r] as number) + 1;
    if (failed) {
      this.failures[i] = (this.failures[i] as number) + 1;
      this.totalFailures[r] = (this.totalFailures[r] as number) + 1;
    }
    if (slow) {
      this.slow[i] = (this.slow[i] as number) + 1;
      this.totalSlow[r] = (this.totalSlow[r] as number) + 1;
    }
  }

  /** Empties row `r`'s window. */
  clearWindow(r: number): void {
    const base = r * this.buckets;
    this.calls.fill(0, base, base + this.buckets);
    this.failures.fill(0, base, base + this.buckets);
    if (this.trackSlow) this.slow.fill(0, base, base + this.buckets);
    this.totalCalls[r] = 0;
    this.totalFailures[r] = 0;
    this.totalSlow[r] = 0;
  }

  /** The window totals of row `r` at `now`. */
  totals(r: number, now: number): Totals {
    this.rotate(r, now);
    return {
      calls: this.totalCalls[r] as number,
      failures: this.totalFailures[r] as number,
      slow: this.totalSlow[r] as number,
    };
  }

  /** Every key, most recently used first within closed, then within open or half-open. */
  *allKeys(): IterableIterator<string> {
    for (const list of [0, 1]) {
      for (let r = this.first[list] as number; r !== NONE; r = this.next[r] as number) {
        const k = this.keys[r];
        if (k !== undefined) yield k;
      }
    }
  }

  /** Forgets every key. Rows keep their generation, so late outcomes of forgotten calls are ignored. */
  clear(): void {
    this.rows.clear();
    for (let r = 0; r < this.capacity; r++) this.keys[r] = undefined;
    this.first[0] = this.first[1] = this.last[0] = this.last[1] = NONE;
    this.free = 0;
  }

  private create(key: string): number {
    let r: number;
    if (this.free < this.capacity || this.grow()) r = this.free++;
    else r = this.evict();
    this.keys[r] = key;
    this.rows.set(key, r);
    this.state[r] = CLOSED;
    this.generation[r] = ((this.generation[r] as number) + 1) | 0;
    this.since[r] = 0;
    this.consecutive[r] = 0;
    this.probes[r] = 0;
    this.probeSuccesses[r] = 0;
    this.rejects[r] = 0;
    this.clearWindow(r);
    // An empty window needs no clock: the first record rotates it to the current bucket.
    this.head[r] = 0;
    this.pushFront(r, 0);
    return r;
  }

  /** Takes the row of the least recently used closed key (else the least recently used of all). */
  private evict(): number {
    const list = this.last[0] !== NONE ? 0 : 1;
    const r = this.last[list] as number;
    this.unlink(r, list);
    const k = this.keys[r];
    if (k !== undefined) this.rows.delete(k);
    return r;
  }

  private grow(): boolean {
    if (this.capacity >= this.maxKeys) return false;
    const cap = Math.min(this.maxKeys, Math.max(INITIAL_ROWS, this.capacity * 2));
    const n = this.buckets;
    const slowCap = this.trackSlow ? cap * n : 0;
    this.state = resize(this.state, new Uint8Array(cap));
    this.since = resize(this.since, new Float64Array(cap));
    this.head = resize(this.head, new Float64Array(cap));
    this.consecutive = resize(this.consecutive, new Int32Array(cap));
    this.probes = resize(this.probes, new Uint16Array(cap));
    this.probeSuccesses = resize(this.probeSuccesses, new Uint16Array(cap));
    this.generation = resize(this.generation, new Int32Array(cap));
    this.rejects = resize(this.rejects, new Uint32Array(cap));
    this.totalCalls = resize(this.totalCalls, new Int32Array(cap));
    this.totalFailures = resize(this.totalFailures, new Int32Array(cap));
    this.totalSlow = resize(this.totalSlow, new Int32Array(cap));
    this.calls = resize(this.calls, new Int32Array(cap * n));
    this.failures = resize(this.failures, new Int32Array(cap * n));
    this.slow = resize(this.slow, new Int32Array(slowCap));
    this.prev = resize(this.prev, new Int32Array(cap));
    this.next = resize(this.next, new Int32Array(cap));
    this.capacity = cap;
    return true;
  }

  private unlink(r: number, list: number): void {
    const p = this.prev[r] as number;
    const n = this.next[r] as number;
    if (p === NONE) {
      if (this.first[list] === r) this.first[list] = n;
    } else this.next[p] = n;
    if (n === NONE) {
      if (this.last[list] === r) this.last[list] = p;
    } else this.prev[n] = p;
    this.prev[r] = NONE;
    this.next[r] = NONE;
  }

  private pushFront(r: number, list: number): void {
    const f = this.first[list] as number;
    this.prev[r] = NONE;
    this.next[r] = f;
    if (f !== NONE) this.prev[f] = r;
    this.first[list] = r;
    if (this.last[list] === NONE) this.last[list] = r;
  }
}

function resize<T extends { length: number; set(a: ArrayLike<number>): void }>(old: T, fresh: T): T {
  fresh.set(old as unknown as ArrayLike<number>);
  return fresh;
}
