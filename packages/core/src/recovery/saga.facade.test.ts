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

  it('replaying a saga dead letter runs the failed undo again and finishes the compensation', async () => {
    const bulwark = createBulwark({ records: memoryRecords() });
    let up = false;
    let calls = 0;
    const saga = bulwark.saga(
      'refund',
      [
        {
          name: 'charge',
          do: () => 'ch-1',
          undo: () => {
            calls++;
            if (!up) throw new Error('PSP down');
          },
        },
        {
          name: 'ship',
          do: () => {
            throw new Error('no stock');
          },
        },
      ],
      { retry: false },
    );
    const first = await saga.run(undefined, { id: 'r-1' });
    const id = first.failed[0]?.deadLetterId as string;
    expect(first.status).toBe('failed');
    expect(await bulwark.deadLetters.replay(id)).toMatchObject({ failed: [id] });
    up = true;
    expect(await bulwark.deadLetters.replay(id)).toMatchObject({ recovered: [id] });
    expect(calls).toBe(3);
    expect(await saga.run(undefined, { id: 'r-1' })).toMatchObject({
      status: 'compensated',
      compensated: ['charge'],
    });
    await bulwark.close();
  });

  it('refuses to replay an undo a crash interrupted, and lets the app handle the type itself', async () => {
    const records = memoryRecords();
    await records.records<SagaLog>(SAGA_LOG_KIND).put('r-2', {
      name: 'refund',
      status: 'compensating',
      failedStep: 1,
      startedAt: 0,
      runs: 1,
      steps: [
        { name: 'charge', state: 'completed', undo: 'started' },
        { name: 'ship', state: 'failed' },
      ],
    });
    const bulwark = createBulwark({ records });
    let calls = 0;
    const steps = [
      { name: 'charge', do: () => 'x', undo: () => void calls++ },
      { name: 'ship', do: () => 'y' },
    ];
    const r = await bulwark.saga('refund', steps, { retry: false }).resume('r-2');
    const id = r.failed[0]?.deadLetterId as string;
    expect(r.failed[0]).toMatchObject({ status: 'unknown' });
    expect(await bulwark.deadLetters.replay(id)).toMatchObject({ failed: [id] });
    expect(await bulwark.deadLetters.get(id)).toMatchObject({ status: 'failed' });
    expect(calls).toBe(0);
    await bulwark.close();

    const own = createBulwark({ records: memoryRecords() });
    const mine = own.deadLetters.handle('saga.compensation', () => {});
    // The app's handler was there first: defining a saga keeps it instead of throwing.
    expect(() => own.saga('refund', steps)).not.toThrow();
    mine.dispose();
    await own.close();
  });

  it('takes defaults from config recovery.sagas and recovery.compensations (code, env), validated at start-up', async () => {
    const bulwark = createBulwark(
      { records: memoryRecords(), recovery: { sagas: { retry: false }, compensations: { retry: false } } },
      { env: { BULWARK_RECOVERY__COMPENSATIONS__MAX_OPERATIONS: '1' }, file: false },
    );
    let calls = 0;
    const r = await bulwark
      .saga('s', [
        {
          name: 'a',
          do: () => 1,
          undo: () => {
            calls++;
            throw new Error('no');
          },
        },
        {
          name: 'b',
          do: () => {
            throw new Error('b');
          },
        },
      ])
      .run(undefined);
    expect(r.failed[0]?.attempts).toBe(1);
    expect(calls).toBe(1);
    bulwark.compensations.register('op-1', () => {});
    expect(() => bulwark.compensations.register('op-2', () => {})).toThrow(
      /1 operations already hold compensations/,
    );
    await bulwark.close();
    expect(() =>
      createBulwark({ recovery: { sagas: { retention: '1 week' as never }, compensation: {} } as never }),
    ).toThrow(
      /recovery\.sagas\.retention: expected a duration[\s\S]*recovery\.compensation: .*did you mean 'compensations'/,
    );
  });
});
