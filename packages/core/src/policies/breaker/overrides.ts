/**
 * Manual breaker overrides: one for every key, plus per-key ones in an LRU bounded like the
 * breakers (operators and other replicas' messages add to it, so it must not grow without end).
 * The LRU is made on the first per-key override: lru-cache allocates its arrays for `max` up
 * front (2.4 MB at 100k keys), which a policy that is never overridden per key should not pay.
 */
import { LRUCache } from 'lru-cache';
import type { BreakerOverride } from './options.js';

/** The overrides of one breaker policy. */
export class Overrides {
  /** The override for every key without one of its own. */
  global: BreakerOverride = 'none';
  private perKey: LRUCache<string, BreakerOverride> | undefined;

  constructor(private readonly maxKeys: number) {}

  /** The override in force for `key`. */
  of(key: string): BreakerOverride {
    if (this.perKey === undefined || this.perKey.size === 0) return this.global;
    return this.perKey.get(key) ?? this.global;
  }

  /** The key's own override, if it has one. */
  own(key: string): BreakerOverride | undefined {
    return this.perKey?.peek(key);
  }

  /** Sets the override of `key`, or of every key (clearing the per-key ones) when `key` is undefined. */
  set(key: string | undefined, ov: BreakerOverride): void {
    if (key === undefined) {
      this.global = ov;
      this.perKey?.clear();
    } else if (ov === 'none') this.perKey?.delete(key);
    else {
      this.perKey ??= new LRUCache({ max: this.maxKeys });
      this.perKey.set(key, ov);
    }
  }

  /** Forgets every override. */
  clear(): void {
    this.global = 'none';
    this.perKey = undefined;
  }
}
