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
});
