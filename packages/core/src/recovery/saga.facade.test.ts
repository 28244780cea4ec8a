import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBulwark } from '../registry/bulwark.js';
import { memoryRecords } from '../stores/records.js';
import { SAGA_LOG_KIND, type SagaLog } from './saga-log.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('bulwark.saga and bulwark.compensations', () => {
  it('keeps the saga log in bulwark.records and reports to bulwark.events', async () => {
    const records = memoryRecords();
    const bulwark = createBulwark({ records });
    const types: string[] = [];
    bulwark.events.onAny((e) => types.push(e.type));
    const saga = bulwark.saga('signup', [
      { name: 'account', do: () => 'acc-1', undo: () => {} },
      {
        name: 'mail',
        do: () => {
          throw new Error('smtp down');
        },
      },
    ]);
    const r = await saga.run(undefined, { id: 'u-1' });
    expect(r).toMatchObject({ status: 'compensated', compensated: ['account'] });
    expect(await records.records<SagaLog>(SAGA_LOG_KIND).get('u-1')).toMatchObject({
      name: 'signup',
      status: 'compensated',
    });
    expect(types).toEqual(['saga.started', 'saga.step-failed', 'saga.compensated']);
    // A second definition on the same bulwark resumes (here: returns) the same id from the shared log.
    const again = await bulwark
      .saga('signup', [
        { name: 'account', do: () => 'x' },
        { name: 'mail', do: () => 'y' },
      ])
      .run(undefined, { id: 'u-1' });
    expect(again).toMatchObject({ status: 'compensated', resumed: true });
    await bulwark.close();
  });

  it('has one compensation manager, closed with the bulwark', async () => {
    const bulwark = createBulwark({ records: memoryRecords() });
    const failed: string[] = [];
    bulwark.events.on('compensation.failed', (e) => failed.push(e.operationId));
    expect(bulwark.compensations).toBe(bulwark.compensations);
    bulwark.compensations.register('op', () => {
      throw new Error('x');
    });
    vi.useFakeTimers();
    const p = bulwark.compensations.compensate('op');
    await vi.runAllTimersAsync(); // the default undo retry waits out its backoff
    const r = await p;
    expect(r.ok).toBe(false);
    expect(failed).toEqual(['op']);
    await bulwark.close();
    expect(() => bulwark.saga('s', [{ name: 'a', do: () => 1 }])).toThrow(/closed/);
  });
});
