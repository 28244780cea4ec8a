import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryStore, memoryStore } from './memory-store.js';

describe('MemoryStore', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gets, sets and deletes', async () => {
    const s = memoryStore();
    expect(s).toBeInstanceOf(MemoryStore);
    expect(await s.get('a')).toBeUndefined();
    await s.set('a', '1');
    expect(await s.get('a')).toBe('1');
    await s.delete('a');
    expect(await s.get('a')).toBeUndefined();
  });

  it('expires keys lazily on read at their TTL', async () => {
    const s = new MemoryStore();
    await s.set('a', 'x', 100);
    await vi.advanceTimersByTimeAsync(99);
    expect(await s.get('a')).toBe('x');
    await vi.advanceTimersByTimeAsync(1);
    expect(await s.get('a')).toBeUndefined();
    expect(s.size).toBe(0);
  });

  it('sweeps expired keys on writes without any timer', async () => {
    const s = new MemoryStore();
    for (let i = 0; i < 50; i++) await s.set(`k${i}`, 'v', 10);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(10);
    for (let i = 0; i < 20; i++) await s.set(`fresh${i}`, 'v');
    expect(s.size).toBe(20);
  });

  it('increments atomically, setting the TTL only at creation', async () => {
    const s = new MemoryStore();
    expect(await s.increment('c', 1, 1000)).toBe(1);
    await vi.advanceTimersByTimeAsync(600);
    const results = await Promise.all([
      s.increment('c', 2, 1000),
      s.increment('c', 3, 1000),
      s.increment('c'),
    ]);
    expect(results.sort((a, b) => a - b)).toEqual([3, 6, 7]);
    await vi.advanceTimersByTimeAsync(400);
    expect(await s.get('c')).toBeUndefined();
    expect(await s.increment('c', 5, 1000)).toBe(5);
  });

  it('refuses to increment a non-numeric value', async () => {
    const s = new MemoryStore();
    await s.set('t', 'text');
    await expect(s.increment('t')).rejects.toThrow(/not a number/);
    await expect(s.increment('t', Number.NaN)).rejects.toThrow(/`by`/);
  });

  it('validates TTLs and options', async () => {
    const s = new MemoryStore();
    await expect(s.set('a', 'v', 0)).rejects.toThrow(/`ttlMs`.*0/);
    await expect(s.increment('a', 1, -5)).rejects.toThrow(/`ttlMs`/);
    expect(() => new MemoryStore({ maxKeys: 0 })).toThrow(/`maxKeys`.*0/);
    expect(() => new MemoryStore(null as never)).toThrow(/`options`/);
  });

  it('bounds the number of keys, evicting the oldest written', async () => {
    const s = new MemoryStore({ maxKeys: 3 });
    await s.set('a', '1');
    await s.set('b', '2');
    await s.set('c', '3');
    await s.set('a', '1b');
    await s.increment('d');
    expect(s.size).toBe(3);
    expect(await s.get('b')).toBeUndefined();
    expect(await s.get('a')).toBe('1b');
    expect(await s.get('c')).toBe('3');
    expect(await s.get('d')).toBe('1');
  });

  it('delivers published messages asynchronously to current subscribers', async () => {
    const s = new MemoryStore();
    const got: string[] = [];
    const sub = await s.subscribe('ch', (m) => got.push(`1:${m}`));
    await s.subscribe('ch', (m) => got.push(`2:${m}`));
    await s.subscribe('other', (m) => got.push(`x:${m}`));
    const p = s.publish('ch', 'hello');
    expect(got).toEqual([]);
    await p;
    await Promise.resolve();
    expect(got).toEqual(['1:hello', '2:hello']);
    sub.dispose();
    await s.publish('ch', 'again');
    await Promise.resolve();
    expect(got).toEqual(['1:hello', '2:hello', '2:again']);
  });

  it('drops a delivery disposed before it ran, and survives a throwing listener', async () => {
    const s = new MemoryStore();
    const got: string[] = [];
    await s.subscribe('ch', () => {
      throw new Error('listener bug');
    });
    const sub = await s.subscribe('ch', (m) => got.push(m));
    const late = await s.subscribe('ch', (m) => got.push(`late:${m}`));
    void s.publish('ch', 'm');
    late.dispose();
    await vi.advanceTimersByTimeAsync(0);
    expect(got).toEqual(['m']);
    sub.dispose();
  });

  it('close clears keys and subscriptions', async () => {
    const s = new MemoryStore();
    const got: string[] = [];
    await s.set('a', '1');
    await s.subscribe('ch', (m) => got.push(m));
    void s.publish('ch', 'pending');
    s.close();
    s.close();
    await vi.advanceTimersByTimeAsync(0);
    expect(got).toEqual([]);
    expect(s.size).toBe(0);
    expect(await s.get('a')).toBeUndefined();
  });

  it('evicts the least recently written: a counter still being incremented is kept', async () => {
    const s = new MemoryStore({ maxKeys: 2 });
    await s.increment('hot');
    await s.increment('cold');
    await s.increment('hot');
    await s.increment('new');
    expect(await s.get('hot')).toBe('2');
    expect(await s.get('cold')).toBeUndefined();
    expect(s.size).toBe(2);
  });

  it('stays at its bound under churn (a new key on every call) and sweeps behind deletes', async () => {
    const s = new MemoryStore({ maxKeys: 100 });
    for (let i = 0; i < 1000; i++) await s.increment(`ip:${i}`, 1, 1000);
    expect(s.size).toBe(100);
    expect(await s.get('ip:899')).toBeUndefined();
    expect(await s.get('ip:900')).toBe('1');
    for (let i = 900; i < 950; i++) await s.delete(`ip:${i}`);
    await vi.advanceTimersByTimeAsync(1000);
    for (let i = 0; i < 20; i++) await s.set(`fresh${i}`, 'v');
    expect(s.size).toBe(20); // 50 expired keys swept within 20 writes (4 examined per write)
  });

  it('answers like a reference model: the last value written, or nothing once evicted or expired (property)', async () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('set' as const),
        key: fc.integer({ min: 0, max: 6 }),
        ttl: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
      }),
      fc.record({
        kind: fc.constant('incr' as const),
        key: fc.integer({ min: 0, max: 6 }),
        ttl: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
      }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 6 }) }),
      fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 6 }) }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 30 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 60 }), async (max, ops) => {
        const s = new MemoryStore({ maxKeys: max });
        // What a key may hold: its last written value and expiry, or nothing after delete/expiry.
        const ref = new Map<string, { value: string; expiresAt: number }>();
        for (const [i, o] of ops.entries()) {
          const now = Date.now();
          if (o.kind === 'tick') {
            vi.setSystemTime(now + o.ms);
            continue;
          }
          const key = `k${o.key}`;
          const known = ref.get(key);
          const live = known !== undefined && known.expiresAt > now ? known : undefined;
          if (o.kind === 'set') {
            await s.set(key, `v${i}`, o.ttl);
            ref.set(key, { value: `v${i}`, expiresAt: o.ttl === undefined ? Infinity : now + o.ttl });
          } else if (o.kind === 'incr') {
            const got = await s.increment(key, 1, o.ttl).catch(() => 'NaN');
            if (got === 'NaN') expect(live?.value).toMatch(/^v/);
            else {
              // Evicted keys start again at 1; live ones count on and keep their expiry.
              expect([1, live === undefined ? 1 : Number(live.value) + 1]).toContain(got);
              const expiresAt =
                got === 1 ? (o.ttl === undefined ? Infinity : now + o.ttl) : (live?.expiresAt ?? Infinity);
              ref.set(key, { value: String(got), expiresAt });
            }
          } else if (o.kind === 'delete') {
            await s.delete(key);
            ref.delete(key);
          } else {
            const got = await s.get(key);
            if (got !== undefined) expect(got).toBe(live?.value);
          }
          expect(s.size).toBeLessThanOrEqual(max);
        }
        s.close();
      }),
      { numRuns: 200 },
    );
  });
});
