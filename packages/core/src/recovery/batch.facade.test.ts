import { afterEach, describe, expect, it, vi } from 'vitest';
import { isInvalidConfigError } from '../errors/bulwark-error.js';
import { type Bulwark, createBulwark } from '../registry/bulwark.js';
import { memoryRecords } from '../stores/records.js';
import { CHECKPOINT_KIND } from './batch-checkpoint.js';

let bw: Bulwark | undefined;
afterEach(async () => {
  await bw?.close();
  bw = undefined;
});

describe('bulwark.batch', () => {
  it('runs each item under the named policy and checkpoints to bulwark.records under the name', async () => {
    const records = memoryRecords();
    bw = createBulwark({
      policies: { 'tenants-api': { retry: { maxAttempts: 3, initialDelay: 0 } } },
      records,
    });
    const attempts = new Map<string, number>();
    const r = await bw.batch(
      'tenants-api',
      [{ id: 'acme' }, { id: 'globex' }],
      async (t) => {
        const n = (attempts.get(t.id) ?? 0) + 1;
        attempts.set(t.id, n);
        if (n < 3) throw new Error('503 from the tenant API');
        return n;
      },
      { checkpoint: { every: 1 } },
    );
    expect(r).toMatchObject({ name: 'tenants-api', id: 'tenants-api', status: 'complete', succeeded: 2 });
    expect([...attempts.values()]).toEqual([3, 3]);
    expect(await records.records(CHECKPOINT_KIND).get('tenants-api')).toMatchObject({
      status: 'finished',
      done: 2,
    });
    const again = await bw.batch('tenants-api', [{ id: 'acme' }, { id: 'globex' }], async () => 0, {
      resume: true,
    });
    expect(again.resumed).toBe(2);
    await records.close();
  });

  it("a policy's deadLetter keeps each failed item as the entry's payload; the report names the entry", async () => {
    bw = createBulwark({ policies: { sync: { deadLetter: 'tenants.sync' } }, records: memoryRecords() });
    const r = await bw.batch(
      'sync',
      [{ id: 'acme' }, { id: 'globex' }],
      async (t) => {
        if (t.id === 'globex') throw new Error('503 from the tenant API');
      },
      { checkpoint: false, continueOnError: true },
    );
    const id = r.failures[0]?.deadLetterId;
    expect(id).toMatch(/^dl-/);
    const entry = await bw.deadLetters.get(id as string);
    expect(entry).toMatchObject({ type: 'tenants.sync', payload: { id: 'globex' } });
  });

  it('emits its events on the registry stream', async () => {
    bw = createBulwark({ policies: { p: {} }, records: memoryRecords() });
    const finished = vi.fn();
    bw.events.on('batch.finished', finished);
    await bw.batch('p', ['a'], async () => 1);
    expect(finished).toHaveBeenCalledWith(
      expect.objectContaining({ policy: 'p', batch: 'p', status: 'complete' }),
    );
  });

  it('opens no record store when it neither checkpoints nor resumes', async () => {
    const records = { durable: false, records: vi.fn(), close: vi.fn() };
    bw = createBulwark({ policies: { p: {} }, records: records as never });
    const r = await bw.batch('p', ['a', 'b'], async () => 1, { checkpoint: false });
    expect(r.status).toBe('complete');
    expect(records.records).not.toHaveBeenCalled();
  });

  it('refuses an unknown policy with the closest name', async () => {
    bw = createBulwark({ policies: { 'tenants-api': {} } });
    const e = await bw.batch('tenant-api', ['a'], async () => 1).catch((x: unknown) => x);
    expect(isInvalidConfigError(e)).toBe(true);
    expect((e as Error).message).toContain('tenants-api');
  });
});
