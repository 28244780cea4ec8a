import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeRecordStore } from './records.conformance.js';
import { durableRecords } from './sqlite-records.js';

const dir = mkdtempSync(join(tmpdir(), 'bulwark-records-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const paths = new WeakMap<object, string>();
const fresh = (sync: 'grouped' | 'each') => () => {
  const path = join(dir, `conformance-${sync}-${++n}.db`);
  const store = durableRecords({ path, sync });
  paths.set(store, path);
  return store;
};
const reopen = (sync: 'grouped' | 'each') => (closed: object) =>
  durableRecords({ path: paths.get(closed) as string, sync });

describeRecordStore('durableRecords (grouped commit)', {
  open: fresh('grouped'),
  reopen: reopen('grouped'),
  durable: true,
});
describeRecordStore("durableRecords (sync: 'each')", {
  open: fresh('each'),
  reopen: reopen('each'),
  durable: true,
});

describe('durableRecords', () => {
  it('commits the writes of one tick in one transaction, each resolved after COMMIT', async () => {
    const path = join(dir, 'grouped.db');
    const store = durableRecords({ path });
    const r = store.records('a');
    const writes = Array.from({ length: 100 }, (_, i) => r.put(`k${i}`, i));
    // Not committed yet: another connection sees nothing until the tick's COMMIT.
    const other = durableRecords({ path });
    expect(await other.records('a').count()).toBe(0);
    await Promise.all(writes);
    expect(await other.records('a').count()).toBe(100);
    await Promise.all([store.close(), other.close()]);
  });

  it('sees its own writes before they are committed', async () => {
    const store = durableRecords({ path: join(dir, 'own.db') });
    const r = store.records('a');
    const put = r.put('x', 1);
    expect(await r.get('x')).toBe(1);
    await put;
    await store.close();
  });

  it('close() commits what is pending, then writes reject with a clear error', async () => {
    const path = join(dir, 'close.db');
    const store = durableRecords({ path });
    const r = store.records('a');
    const put = r.put('x', 1);
    await store.close();
    await put;
    await expect(r.put('y', 2)).rejects.toThrow(/durable record store is closed/);
    const again = durableRecords({ path });
    expect(await again.records('a').get('x')).toBe(1);
    await again.close();
  });

  it('creates the folder on first use, never before', async () => {
    const path = join(dir, 'nested', 'deeper', 'records.db');
    const store = durableRecords({ path });
    expect(existsSync(join(dir, 'nested'))).toBe(false);
    await store.records('a').put('x', 1);
    expect(existsSync(path)).toBe(true);
    await store.close();
  });

  it('refuses bad options naming the key, the value and the fix', () => {
    expect(() => durableRecords({ path: 42 as never })).toThrow(
      /durableRecords\.path.*non-empty string.*42/s,
    );
    expect(() => durableRecords({ sync: 'always' as never })).toThrow(
      /durableRecords\.sync.*'grouped', 'each'.*"always"/s,
    );
    expect(() => durableRecords({ sync: 'eech' as never })).toThrow(/did you mean 'each'/);
    expect(() => durableRecords({ file: 'x' } as never)).toThrow(
      /durableRecords\.file.*known keys: path, sync/s,
    );
  });
});
