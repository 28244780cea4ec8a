/**
 * The embedded Store: a Map with lazy TTL, an amortised sweep on writes (no timer) and a bound on
 * keys (the least recently written evicted first). The write order is an {@link IdleList}, so a
 * write costs O(1) at the bound under any churn (a new key on every call, as a client rotating
 * IPv6 addresses sends to a rate limiter). Publish/subscribe is in-process and delivered on a
 * microtask, so listeners never run inside `publish`, as with Redis.
 */
import type { Disposable } from '../types.js';
import { IdleList, type IdleNode } from '../util/idle-list.js';
import type { Store } from './store.js';

/** Memory store options. */
export interface MemoryStoreOptions {
  /** Keys kept at most; the least recently written is evicted first. Default 100000. */
  maxKeys?: number;
}

class Entry implements IdleNode<Entry> {
  prevIdle: Entry | undefined = undefined;
  nextIdle: Entry | undefined = undefined;
  onIdleList = false;

  constructor(
    public key: string,
    public value: string,
    /** Epoch ms; Infinity when the key has no TTL. */
    public expiresAt: number,
  ) {}
}

/** Entries examined for expiry on each write: enough to keep up, small enough to stay O(1). */
const SWEEP_STEP = 4;

function checkTtl(ttlMs: number | undefined): void {
  if (ttlMs !== undefined && (typeof ttlMs !== 'number' || !(ttlMs > 0) || !Number.isFinite(ttlMs))) {
    throw new TypeError(
      `Expected \`ttlMs\` to be a positive finite number of ms; got ${JSON.stringify(ttlMs)}.`,
    );
  }
}

/**
 * In-process {@link Store}: the default when no shared store is configured.
 * @example
 * const store = new MemoryStore({ maxKeys: 10_000 });
 * await store.increment('hits:/api', 1, 60_000);
 */
export class MemoryStore implements Store {
  private readonly entries = new Map<string, Entry>();
  /** Least recently written first. */
  private readonly order = new IdleList<Entry>();
  private readonly channels = new Map<string, Set<{ listener: (message: string) => void }>>();
  private readonly maxKeys: number;
  /** The next entry the sweep examines; undefined: start again from the oldest. */
  private sweeper: Entry | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(
        `Expected memory store \`options\` to be an object; got ${JSON.stringify(options)}.`,
      );
    }
    const { maxKeys = 100_000 } = options;
    if (typeof maxKeys !== 'number' || !Number.isInteger(maxKeys) || maxKeys < 1) {
      throw new TypeError(`Expected \`maxKeys\` to be a positive integer; got ${JSON.stringify(maxKeys)}.`);
    }
    this.maxKeys = maxKeys;
  }

  /** Number of keys held, expired ones not yet swept included. */
  get size(): number {
    return this.entries.size;
  }

  async get(key: string): Promise<string | undefined> {
    return this.live(key, Date.now())?.value;
  }

  async set(key: string, value: string, ttlMs?: number): Promise<void> {
    checkTtl(ttlMs);
    const now = Date.now();
    this.sweep(now);
    const old = this.entries.get(key);
    if (old !== undefined) this.remove(old);
    this.insert(key, String(value), ttlMs === undefined ? Number.POSITIVE_INFINITY : now + ttlMs);
  }

  async delete(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (entry !== undefined) this.remove(entry);
  }

  async increment(key: string, by = 1, ttlMs?: number): Promise<number> {
    if (typeof by !== 'number' || !Number.isFinite(by)) {
      throw new TypeError(`Expected \`by\` to be a finite number; got ${JSON.stringify(by)}.`);
    }
    checkTtl(ttlMs);
    const now = Date.now();
    this.sweep(now);
    const entry = this.live(key, now);
    if (entry === undefined) {
      this.insert(key, String(by), ttlMs === undefined ? Number.POSITIVE_INFINITY : now + ttlMs);
      return by;
    }
    const current = Number(entry.value);
    if (entry.value.trim() === '' || !Number.isFinite(current)) {
      throw new TypeError(`Cannot increment key ${JSON.stringify(key)}: its value is not a number.`);
    }
    // Like Redis INCRBY: the TTL set at creation is kept.
    const next = current + by;
    entry.value = String(next);
    this.touch(entry);
    return next;
  }

  async publish(channel: string, message: string): Promise<void> {
    const subs = this.channels.get(channel);
    if (subs === undefined) return;
    for (const sub of subs) {
      queueMicrotask(() => {
        // Unsubscribed (or closed) before delivery: drop, as Redis would.
        if (!subs.has(sub)) return;
        try {
          sub.listener(message);
        } catch {
          // A subscriber's failure must not surface as an uncaught exception in the publisher.
        }
      });
    }
  }

  async subscribe(channel: string, listener: (message: string) => void): Promise<Disposable> {
    if (typeof listener !== 'function') throw new TypeError('Expected `listener` to be a function.');
    let subs = this.channels.get(channel);
    if (subs === undefined) {
      subs = new Set();
      this.channels.set(channel, subs);
    }
    const sub = { listener };
    subs.add(sub);
    const own = subs;
    return {
      dispose: () => {
        own.delete(sub);
        if (own.size === 0 && this.channels.get(channel) === own) this.channels.delete(channel);
      },
    };
  }

  /** Clears every key and subscription; pending deliveries are dropped. Idempotent. */
  close(): void {
    this.entries.clear();
    this.order.clear();
    for (const subs of this.channels.values()) subs.clear();
    this.channels.clear();
    this.sweeper = undefined;
  }

  private live(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.remove(entry);
      return undefined;
    }
    return entry;
  }

  private insert(key: string, value: string, expiresAt: number): void {
    let entry: Entry | undefined;
    if (this.entries.size >= this.maxKeys) {
      // Evict the least recently written and reuse its entry: under churn, a write allocates no entry.
      entry = this.order.oldest;
      if (entry !== undefined) {
        this.remove(entry);
        entry.key = key;
        entry.value = value;
        entry.expiresAt = expiresAt;
      }
    }
    entry ??= new Entry(key, value, expiresAt);
    this.entries.set(key, entry);
    this.order.append(entry);
  }

  /** Makes `entry` the most recently written. */
  private touch(entry: Entry): void {
    if (entry.nextIdle === undefined) return;
    if (this.sweeper === entry) this.sweeper = entry.nextIdle;
    this.order.unlink(entry);
    this.order.append(entry);
  }

  private remove(entry: Entry): void {
    if (this.sweeper === entry) this.sweeper = entry.nextIdle;
    this.order.unlink(entry);
    this.entries.delete(entry.key);
  }

  /** Examines a few entries from a cursor that walks the write order: every key is checked within size / SWEEP_STEP writes. */
  private sweep(now: number): void {
    for (let i = 0; i < SWEEP_STEP; i++) {
      const entry = this.sweeper ?? this.order.oldest;
      if (entry === undefined) return;
      this.sweeper = entry.nextIdle;
      if (entry.expiresAt <= now) this.remove(entry);
      if (this.sweeper === undefined) return;
    }
  }
}

/**
 * Creates a {@link MemoryStore}.
 * @example
 * const policy = rateLimit({ limit: 10, store: memoryStore() });
 */
export function memoryStore(options?: MemoryStoreOptions): MemoryStore {
  return new MemoryStore(options);
}
