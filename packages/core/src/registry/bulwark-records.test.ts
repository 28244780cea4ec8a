import { describe, expect, it } from 'vitest';
import { memoryRecords } from '../stores/records.js';
import { createBulwark } from './bulwark.js';

describe('createBulwark({ records })', () => {
  it('exposes the given store and leaves it open on close()', async () => {
    const records = memoryRecords();
    const bulwark = createBulwark({ records }, { env: false, file: false });
    expect(bulwark.records).toBe(records);
    await bulwark.close();
    await records.records('a').put('x', 1);
    expect(await records.records('a').get('x')).toBe(1);
  });

  it('creates one default store on first access and closes it on close()', async () => {
    const bulwark = createBulwark({}, { env: false, file: false });
    const store = bulwark.records;
    expect(bulwark.records).toBe(store);
    const r = store.records('a');
    await r.put('x', 1);
    await bulwark.close();
    await expect(r.get('x')).rejects.toThrow(/closed/);
    expect(() => bulwark.records.records('b')).toThrow(/closed/);
  });

  it('opens nothing once closed', async () => {
    const bulwark = createBulwark({}, { env: false, file: false });
    await bulwark.close();
    expect(() => bulwark.records).toThrow(/closed/);
  });

  it('refuses something that is not a RecordStore, naming the key and the fix', () => {
    expect(() => createBulwark({ records: {} as never }, { env: false, file: false })).toThrow(
      /records: expected a RecordStore.*memoryRecords\(\)/s,
    );
  });
});
