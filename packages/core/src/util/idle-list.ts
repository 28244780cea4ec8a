/**
 * An intrusive doubly-linked list of entries in the order they were appended: O(1) append,
 * unlink and oldest, with no hashing and no allocation. Keyed maps use it as their LRU order
 * (append when an entry becomes idle, unlink when it is used, evict `oldest`).
 */

/** Fields an entry carries to sit on an {@link IdleList}. */
export interface IdleNode<T> {
  /** Older neighbour, while on the list. */
  prevIdle: T | undefined;
  /** Newer neighbour, while on the list. */
  nextIdle: T | undefined;
  /** True while on the list. */
  onIdleList: boolean;
}

/** Entries, oldest first; each entry is on at most one list. */
export class IdleList<T extends IdleNode<T>> {
  private head: T | undefined = undefined;
  private tail: T | undefined = undefined;

  /** The oldest entry, or undefined when empty. */
  get oldest(): T | undefined {
    return this.head;
  }

  /** Appends `e` as the newest entry (it must not be on a list). */
  append(e: T): void {
    e.onIdleList = true;
    e.prevIdle = this.tail;
    e.nextIdle = undefined;
    if (this.tail !== undefined) this.tail.nextIdle = e;
    else this.head = e;
    this.tail = e;
  }

  /** Takes `e` off the list; does nothing when it is not on it. */
  unlink(e: T): void {
    if (!e.onIdleList) return;
    e.onIdleList = false;
    if (e.prevIdle !== undefined) e.prevIdle.nextIdle = e.nextIdle;
    else this.head = e.nextIdle;
    if (e.nextIdle !== undefined) e.nextIdle.prevIdle = e.prevIdle;
    else this.tail = e.prevIdle;
    e.prevIdle = undefined;
    e.nextIdle = undefined;
  }

  /** Forgets every entry. */
  clear(): void {
    for (let e = this.head; e !== undefined; ) {
      const next: T | undefined = e.nextIdle;
      e.onIdleList = false;
      e.prevIdle = undefined;
      e.nextIdle = undefined;
      e = next;
    }
    this.head = undefined;
    this.tail = undefined;
  }
}
