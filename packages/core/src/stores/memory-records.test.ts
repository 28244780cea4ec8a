import { describe, expect, it } from 'vitest';
import { describeRecordStore } from './records.conformance.js';
import { compareIds, memoryRecords } from './records.js';

describeRecordStore('memoryRecords', { open: () => memoryRecords(), durable: false });

describe('memoryRecords', () => {
  it('bounds each kind: a new id beyond the bound rejects, replacing one still works', async () => {
    const store = memoryRecords({ maxRecordsPerKind: 2 });
    const r = store.records('a');
    await r.put('1', 1);
    await r.put('2', 2);
    await expect(r.put('3', 3)).rejects.toThrow(/maxRecordsPerKind/);
    await expect(r.insert('3', 3)).rejects.toThrow(/maxRecordsPerKind/);
    expect(await r.insert('1', 9)).toBe(false);
    await r.put('2', 'two');
    expect(await r.count()).toBe(2);
    await store.records('b').put('3', 3);
  });

  it('makes room from expired records before refusing', async () => {
    const r = memoryRecords({ maxRecordsPerKind: 1 }).records('a');
    await r.put('old', 1, { ttlMs: 1 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await r.put('new', 2);
    expect(await r.list()).toMatchObject([{ id: 'new', value: 2 }]);
  });

  it('refuses bad options naming the key, the value and the fix', () => {
    expect(() => memoryRecords({ maxRecordsPerKind: 0 })).toThrow(
      /memoryRecords\.maxRecordsPerKind.*0.*whole number/s,
    );
    expect(() => memoryRecords({ maxRecords: 5 } as never)).toThrow(
      /memoryRecords\.maxRecords.*maxRecordsPerKind/,
    );
  });

  it('compareIds is code point order', () => {
    const ids = ['\u{10000}', '\uE000', '\uD7FF', 'z'];
    expect([...ids].sort(compareIds)).toEqual(['z', '\uD7FF', '\uE000', '\u{10000}']);
    expect(compareIds('a', 'a')).toBe(0);
    expect(compareIds('a', 'ab')).toBeLessThan(0);
  });
});
