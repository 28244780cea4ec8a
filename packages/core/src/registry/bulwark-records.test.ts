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

  // The default (durableRecords() under the working directory) is tested in a child process with
  // its own cwd: test/durability/records.test.ts.
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
