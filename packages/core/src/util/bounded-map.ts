/**
 * A Map bounded to `max` entries that evicts the least recently used one. Every keyed collection
 * in Bulwark (breakers, bulkheads, buckets per key) lives in one, so many keys cannot exhaust memory.
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  /** The most recently used key when known: touching it again needs no re-insertion. */
  private newest: K | undefined = undefined;
  private hasNewest = false;

  constructor(
    readonly max: number,
    private readonly onEvict?: (key: K, value: V) => void,
  ) {
    if (!Number.isInteger(max) || max < 1)
      throw new TypeError(`Expected \`max\` to be a positive integer, got ${max}.`);
  }

  /** Number of entries. */
  get size(): number {
    return this.map.size;
  }

  /** Reads and marks as recently used. */
  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined && !(this.hasNewest && this.newest === key)) {
      this.map.delete(key);
      this.map.set(key, v);
      this.newest = key;
      this.hasNewest = true;
    }
    return v;
  }

  /** Reads without touching recency. */
  peek(key: K): V | undefined {
    return this.map.get(key);
  }

  /** Returns the value for `key`, creating it with `create` (and evicting the oldest) when absent. */
  getOrCreate(key: K, create: () => V): V {
    const v = this.get(key);
    if (v !== undefined) return v;
    const nv = create();
    this.set(key, nv);
    return nv;
  }

  /** Writes, evicting the least recently used entry when full. */
  set(key: K, value: V): void {
    if (this.map.has(key)) this.map.delete(key);
    else if (this.map.size >= this.max) {
      const oldest = this.map.keys().next();
      if (!oldest.done) {
        const ov = this.map.get(oldest.value) as V;
        this.map.delete(oldest.value);
        this.onEvict?.(oldest.value, ov);
      }
    }
    this.map.set(key, value);
    this.newest = key;
    this.hasNewest = true;
  }

  /** Deletes a key. */
  delete(key: K): boolean {
    if (this.hasNewest && this.newest === key) this.forgetNewest();
    return this.map.delete(key);
  }

  private forgetNewest(): void {
    this.newest = undefined;
    this.hasNewest = false;
  }

  /** Entries, oldest first. */
  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  /** Removes every entry (calling onEvict for each). */
  clear(): void {
    if (this.onEvict) for (const [k, v] of this.map) this.onEvict(k, v);
    this.map.clear();
    this.forgetNewest();
  }
}
