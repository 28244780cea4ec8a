import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BoundedMap } from './bounded-map.js';

describe('BoundedMap', () => {
  it('evicts the least recently used key (touching the newest key again is free)', () => {
    const evicted: string[] = [];
    const m = new BoundedMap<string, number>(2, (k) => evicted.push(k));
    m.set('a', 1);
    m.set('b', 2);
    m.get('b');
    m.get('b');
    m.get('a'); // a newest, b oldest
    m.set('c', 3);
    expect(evicted).toEqual(['b']);
    expect([...m.entries()].map(([k]) => k)).toEqual(['a', 'c']);
  });

  it('behaves like a reference LRU for any sequence of operations (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ kind: fc.constant('peek' as const), key: fc.integer({ min: 0, max: 5 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 80 }), (max, ops) => {
        const m = new BoundedMap<number, number>(max);
        let ref: number[] = []; // oldest first
        ops.forEach(({ kind, key }, i) => {
          if (kind === 'get') {
            const had = ref.includes(key);
            expect(m.get(key) !== undefined).toBe(had);
            if (had) ref = [...ref.filter((k) => k !== key), key];
          } else if (kind === 'peek') {
            expect(m.peek(key) !== undefined).toBe(ref.includes(key));
          } else if (kind === 'set') {
            m.set(key, i);
            if (ref.includes(key)) ref = ref.filter((k) => k !== key);
            else if (ref.length >= max) ref = ref.slice(1);
            ref.push(key);
          } else {
            m.delete(key);
            ref = ref.filter((k) => k !== key);
          }
          expect([...m.entries()].map(([k]) => k)).toEqual(ref);
        });
      }),
    );
  });

  it('calls onEvict only for entries pushed out by the bound, and for each entry on clear', () => {
    const evicted: string[] = [];
    const m = new BoundedMap<string, number>(2, (k, v) => evicted.push(`${k}=${v}`));
    m.set('a', 1);
    m.set('a', 2); // overwrite: not an eviction
    m.set('b', 3);
    m.delete('b'); // delete: not an eviction
    expect(m.has('b')).toBe(false);
    m.set('c', 4);
    m.set('d', 5);
    expect(evicted).toEqual(['a=2']);
    m.clear();
    expect(evicted).toEqual(['a=2', 'c=4', 'd=5']);
    expect(m.size).toBe(0);
    expect([...m.entries()]).toEqual([]);
  });

  it('stays at its bound under churn, evicting in recency order (a new key on every call)', () => {
    const evicted: number[] = [];
    const m = new BoundedMap<number, number>(100, (k) => evicted.push(k));
    for (let i = 0; i < 1000; i++) expect(m.getOrCreate(i, () => i * 2)).toBe(i * 2);
    expect(m.size).toBe(100);
    expect(evicted).toEqual(Array.from({ length: 900 }, (_, i) => i));
    expect(m.getOrCreate(950, () => -1)).toBe(1900); // present: not re-created
    expect([...m.entries()].at(-1)).toEqual([950, 1900]);
    expect(m.peek(900)).toBe(1800);
    expect([...m.entries()][0]).toEqual([900, 1800]); // peek leaves recency alone
  });
});
