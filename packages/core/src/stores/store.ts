import type { Closeable, Disposable } from '../types.js';

/**
 * Shared state for policies: key-value with TTL, atomic counters and publish/subscribe.
 * The memory store is the default; a Redis store serves several replicas with the same interface.
 */
export interface Store extends Closeable {
  /** Reads a value, or undefined when absent or expired. */
  get(key: string): Promise<string | undefined>;
  /** Writes a value, with an optional time-to-live in ms. */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  /** Deletes a key. */
  delete(key: string): Promise<void>;
  /** Atomically adds `by` (default 1) and returns the new value; the TTL is set when the key is created. */
  increment(key: string, by?: number, ttlMs?: number): Promise<number>;
  /** Publishes a message on a channel. */
  publish(channel: string, message: string): Promise<void>;
  /** Subscribes to a channel. */
  subscribe(channel: string, listener: (message: string) => void): Promise<Disposable>;
}
