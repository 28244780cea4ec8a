/**
 * A Map bounded to `max` entries that evicts the least recently used one. Keyed collections in
 * Bulwark (rate-limit buckets, stale answers, timeouts per route) live in one, so many keys cannot
 * exhaust memory.
 *
 * The recency order is an {@link IdleList} (an intrusive linked list), so every operation is O(1)
 * at any size and under any churn: no scan for the oldest entry. (A `Map` re-inserted in
 * recency order costs 16–300 µs per eviction under churn, as its head fills with deleted slots.)
 */
import { IdleList, type IdleNode } from './idle-list.js';

class Slot<K, V> implements IdleNode<Slot<K, V>> {
  prevIdle: Slot<K, V> | undefined = undefined;
  nextIdle: Slot<K, V> | undefined = undefined;
  onIdleList = false;

  constructor(
    public key: K,
    public value: V,
  ) {}
}

/** A least-recently-used map with a fixed bound; `onEvict` hears every entry pushed out by the bound. */
export class BoundedMap<K, V> {
  private readonly slots = new Map<K, Slot<K, V>>();
  /** Oldest first; the newest entry is the list's tail. */
  private readonly order = new IdleList<Slot<K, V>>();

  constructor(
    readonly max: number,
    private readonly onEvict?: (key: K, value: V) => void,
  ) {
    if (!Number.isInteger(max) || max < 1)
      throw new TypeError(`Expected \`max\` to be a positive integer, got ${max}.`);
  }

  /** Number of entries. */
  get size(): number {
    return this.slots.size;
  }

  /** Reads and marks as recently used. */
  get(key: K): V | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    this.touch(slot);
    return slot.value;
  }

  /** Reads without touching recency. */
  peek(key: K): V | undefined {
    return this.slots.get(key)?.value;
  }

  /** True when `key` is present (recency untouched). */
  has(key: K): boolean {
    return this.slots.has(key);
  }

  /** Returns the value for `key`, creating it with `create` (and evicting the oldest) when absent. */
  getOrCreate(key: K, create: () => V): V {
    const slot = this.slots.get(key);
    if (slot !== undefined) {
      this.touch(slot);
      return slot.value;
    }
    const value = create();
    this.insert(key, value);
    return value;
  }

  /** Writes, evicting the least recently used entry when full. */
  set(key: K, value: V): void {
    const slot = this.slots.get(key);
    if (slot === undefined) {
      this.insert(key, value);
      return;
    }
    slot.value = value;
    this.touch(slot);
  }

  /** Deletes a key (without calling onEvict). */
  delete(key: K): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.order.unlink(slot);
    return this.slots.delete(key);
  }

  /** Entries, oldest first. */
  *entries(): IterableIterator<[K, V]> {
    for (let s = this.order.oldest; s !== undefined; s = s.nextIdle) yield [s.key, s.value];
  }

  /** Removes every entry (calling onEvict for each). */
  clear(): void {
    const onEvict = this.onEvict;
    if (onEvict) for (let s = this.order.oldest; s !== undefined; s = s.nextIdle) onEvict(s.key, s.value);
    this.slots.clear();
    this.order.clear();
  }

  /** Makes `slot` the newest entry; free when it already is. */
  private touch(slot: Slot<K, V>): void {
    if (slot.nextIdle === undefined) return;
    this.order.unlink(slot);
    this.order.append(slot);
  }

  private insert(key: K, value: V): void {
    const oldest = this.slots.size >= this.max ? this.order.oldest : undefined;
    if (oldest === undefined) {
      const slot = new Slot(key, value);
      this.slots.set(key, slot);
      this.order.append(slot);
      return;
    }
    // Evict the oldest and reuse its slot: under churn, inserting allocates nothing.
    const { key: oldKey, value: oldValue } = oldest;
    this.order.unlink(oldest);
    this.slots.delete(oldKey);
    oldest.key = key;
    oldest.value = value;
    this.slots.set(key, oldest);
    this.order.append(oldest);
    this.onEvict?.(oldKey, oldValue);
  }
}
