/**
 * The one conformance suite of {@link RecordStore}: every home (memory, the durable file, Redis
 * later) runs it from its own `*.test.ts` with a factory, so the homes cannot drift apart.
 *
 * Time is faked for `Date` only (`toFake: ['Date']`): a durable home commits on `setImmediate`,
 * which must stay real.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RecordStore, RecordValue } from './records.js';

/** How the suite opens a home. */
export interface RecordsHome {
  /** A new, empty store. */
  open(): RecordStore | Promise<RecordStore>;
  /** Opens the same data again after `close()` (durable homes only). */
  reopen?(closed: RecordStore): RecordStore | Promise<RecordStore>;
  /** What `durable` must say. */
  durable: boolean;
}

/** Declares the conformance tests of a {@link RecordStore} home. */
export function describeRecordStore(name: string, home: RecordsHome): void {
  describe(`RecordStore conformance: ${name}`, () => {
    const opened: RecordStore[] = [];
    const open = async () => {
      const store = await home.open();
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      vi.useRealTimers();
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    it('says whether it is durable', async () => {
      expect((await open()).durable).toBe(home.durable);
    });

    it('returns the same collection for the same kind, and refuses bad kinds', async () => {
      const store = await open();
      expect(store.records('dead-letters')).toBe(store.records('dead-letters'));
      expect(store.records('dead-letters').kind).toBe('dead-letters');
      for (const bad of ['', 'Upper', 'with space', 'a_b', 'x'.repeat(65), 42 as unknown as string])
        expect(() => store.records(bad), String(bad)).toThrow(/record kind/);
      expect(() => store.records('x'.repeat(64))).not.toThrow();
    });

    it('reads back what it wrote; absent is undefined', async () => {
      const r = (await open()).records('a');
      const value = { n: 1, s: 'é', list: [1, null, true], nested: { deep: 'x' } };
      await r.put('id-1', value);
      expect(await r.get('id-1')).toEqual(value);
      expect(await r.get('nope')).toBeUndefined();
      for (const v of [null, false, 0, '', 'text', [], [1, [2]]] as RecordValue[]) {
        await r.put('v', v);
        expect(await r.get('v')).toEqual(v);
      }
    });

    it('copies values on put and get, so callers cannot change stored state', async () => {
      const r = (await open()).records<{ items: number[] }>('a');
      const value = { items: [1] };
      await r.put('x', value);
      value.items.push(2);
      const got = await r.get('x');
      expect(got).toEqual({ items: [1] });
      got?.items.push(3);
      expect(await r.get('x')).toEqual({ items: [1] });
      const [listed] = await r.list();
      listed?.value.items.push(4);
      expect(await r.get('x')).toEqual({ items: [1] });
    });

    it('stores JSON: undefined properties dropped, non-JSON values refused', async () => {
      const r = (await open()).records('a');
      await r.put('x', { a: 1, b: undefined });
      expect(await r.get('x')).toStrictEqual({ a: 1 });
      await expect(r.put('y', undefined as unknown as RecordValue)).rejects.toThrow(/JSON value/);
      await expect(r.put('y', 1n as unknown as RecordValue)).rejects.toThrow();
      expect(await r.get('y')).toBeUndefined();
    });

    it('put replaces and moves updatedAt; kinds are separate', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(1_000_000);
      const store = await open();
      const a = store.records('a');
      const b = store.records('b');
      await a.put('x', 1);
      vi.setSystemTime(1_000_500);
      await a.put('x', 2);
      expect(await a.list()).toEqual([{ id: 'x', value: 2, updatedAt: 1_000_500 }]);
      expect(await b.get('x')).toBeUndefined();
      expect(await b.count()).toBe(0);
      await b.put('x', 'other');
      expect(await a.get('x')).toBe(2);
    });

    it('insert only when absent; the stored value is kept when present', async () => {
      const r = (await open()).records('claims');
      expect(await r.insert('k', { owner: 'first' })).toBe(true);
      expect(await r.insert('k', { owner: 'second' })).toBe(false);
      expect(await r.get('k')).toEqual({ owner: 'first' });
    });

    it('insert is atomic: of many concurrent claims of one id exactly one wins', async () => {
      const r = (await open()).records('claims');
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => r.insert('same', i)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await r.get('same')).toBe(results.indexOf(true));
      expect(await r.count()).toBe(1);
    });

    it('delete says whether the record was there', async () => {
      const r = (await open()).records('a');
      await r.put('x', 1);
      expect(await r.delete('x')).toBe(true);
      expect(await r.delete('x')).toBe(false);
      expect(await r.get('x')).toBeUndefined();
      expect(await r.insert('x', 2)).toBe(true);
    });

    it('lists in id order, after exclusive, up to limit', async () => {
      const r = (await open()).records('a');
      const ids = ['0003', '0001', '0010', '0002', '0005'];
      await Promise.all(ids.map((id) => r.put(id, id)));
      const all = await r.list();
      expect(all.map((x) => x.id)).toEqual(['0001', '0002', '0003', '0005', '0010']);
      expect(all.every((x) => x.value === x.id && typeof x.updatedAt === 'number')).toBe(true);
      expect(all.every((x) => !('expiresAt' in x))).toBe(true);
      expect((await r.list({ after: '0002' })).map((x) => x.id)).toEqual(['0003', '0005', '0010']);
      expect((await r.list({ after: '0004', limit: 1 })).map((x) => x.id)).toEqual(['0005']);
      expect((await r.list({ after: '0010' })).map((x) => x.id)).toEqual([]);
      expect(await r.list({ limit: 0 })).toEqual([]);
      expect(await r.count()).toBe(5);
    });

    it('pages through many records without gaps or repeats', async () => {
      const r = (await open()).records('a');
      const ids = Array.from({ length: 250 }, (_, i) => `id-${String(i).padStart(4, '0')}`);
      await Promise.all(ids.map((id, i) => r.put(id, i)));
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await r.list(after === undefined ? { limit: 64 } : { after, limit: 64 });
        if (page.length === 0) break;
        seen.push(...page.map((x) => x.id));
        after = page.at(-1)?.id;
      }
      expect(seen).toEqual(ids);
    });

    it('orders ids by code point (UTF-8 byte order), the same in every home', async () => {
      const r = (await open()).records('a');
      const ids = ['\u{1F600}', '\uFFFF', 'b', 'a', 'ab', 'A', 'é'];
      for (const id of ids) await r.put(id, 1);
      expect((await r.list()).map((x) => x.id)).toEqual(['A', 'a', 'ab', 'b', 'é', '\uFFFF', '\u{1F600}']);
    });

    it('expired records are absent everywhere and may be claimed again', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(2_000_000);
      const r = (await open()).records('idem');
      await r.put('short', 'a', { ttlMs: 100 });
      await r.put('long', 'b', { ttlMs: 10_000 });
      await r.put('forever', 'c');
      expect(await r.get('short')).toBe('a');
      expect((await r.list()).find((x) => x.id === 'short')?.expiresAt).toBe(2_000_100);
      expect(await r.count()).toBe(3);
      vi.setSystemTime(2_000_100);
      expect(await r.get('short')).toBeUndefined();
      expect(await r.count()).toBe(2);
      expect((await r.list()).map((x) => x.id)).toEqual(['forever', 'long']);
      expect(await r.delete('short')).toBe(false);
      expect(await r.insert('long', 'x')).toBe(false);
      vi.setSystemTime(2_010_000);
      expect(await r.insert('long', 'again')).toBe(true);
      expect(await r.get('long')).toBe('again');
      await r.put('forever', 'c2', { ttlMs: 5 });
      vi.setSystemTime(2_010_005);
      expect(await r.count()).toBe(1);
    });

    it('refuses bad ids, ttls and list options', async () => {
      const r = (await open()).records('a');
      await expect(r.put('', 1)).rejects.toThrow(/non-empty string/);
      await expect(r.get(7 as unknown as string)).rejects.toThrow(/non-empty string/);
      await expect(r.put('x'.repeat(1025), 1)).rejects.toThrow(/at most 1024/);
      await expect(r.put('a\uD800b', 1)).rejects.toThrow(/lone surrogate/);
      for (const ttlMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '5s' as unknown as number])
        await expect(r.put('x', 1, { ttlMs }), String(ttlMs)).rejects.toThrow(/ttlMs/);
      await expect(r.list({ limit: -1 })).rejects.toThrow(/limit/);
      await expect(r.list({ after: '' })).rejects.toThrow(/after/);
      expect(await r.count()).toBe(0);
    });

    it('many concurrent puts all land', async () => {
      const r = (await open()).records('bulk');
      await Promise.all(Array.from({ length: 500 }, (_, i) => r.put(`k${i}`, { i })));
      expect(await r.count()).toBe(500);
      expect(await r.get('k499')).toEqual({ i: 499 });
    });

    it('close is idempotent; afterwards every call rejects', async () => {
      const store = await open();
      const r = store.records('a');
      await r.put('x', 1);
      await store.close();
      await store.close();
      await expect(r.put('y', 1)).rejects.toThrow(/closed/);
      await expect(r.get('x')).rejects.toThrow(/closed/);
      await expect(r.insert('y', 1)).rejects.toThrow(/closed/);
      await expect(r.delete('x')).rejects.toThrow(/closed/);
      await expect(r.list()).rejects.toThrow(/closed/);
      await expect(r.count()).rejects.toThrow(/closed/);
      expect(() => store.records('b')).toThrow(/closed/);
    });

    if (home.reopen) {
      const reopen = home.reopen;
      it('keeps what resolved across close and reopen', async () => {
        const store = await open();
        const r = store.records('a');
        await Promise.all([r.put('x', { v: 1 }), r.put('y', 2, { ttlMs: 60_000 }), r.insert('z', 3)]);
        await r.delete('y');
        await store.close();
        const again = await reopen(store);
        opened.push(again);
        expect(await again.records('a').list()).toMatchObject([
          { id: 'x', value: { v: 1 } },
          { id: 'z', value: 3 },
        ]);
      });
    }
  });
}
