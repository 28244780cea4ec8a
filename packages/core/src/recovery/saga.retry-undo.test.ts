import { describe, expect, it } from 'vitest';
import { isPermanent } from '../errors/classify.js';
import { memoryRecords } from '../stores/records.js';
import { createSaga } from './saga.js';
import { FakeDeadLetters, recordingEvents } from './saga.test-helper.js';
import { SAGA_LOG_KIND, type SagaLog } from './saga-log.js';

function setup() {
  const records = memoryRecords();
  const deadLetters = new FakeDeadLetters();
  const { events, types } = recordingEvents();
  let mailUp = false;
  let undoCalls = 0;
  const saga = createSaga(
    'signup',
    [
      { name: 'account', do: () => 'acc-1', undo: () => {} },
      {
        name: 'welcome',
        do: () => 'mail-1',
        undo: (_ctx, r) => {
          undoCalls++;
          if (!mailUp) throw new Error(`cannot recall ${r}`);
        },
      },
      {
        name: 'billing',
        do: () => {
          throw new Error('card declined');
        },
      },
    ],
    { records, deadLetters, events, retry: false },
  );
  return {
    saga,
    records,
    deadLetters,
    types,
    up: () => {
      mailUp = true;
    },
    calls: () => undoCalls,
  };
}

describe('saga.retryUndo (a dead letter replayed)', () => {
  it('runs a failed undo again and completes the compensation when it succeeds', async () => {
    const t = setup();
    const first = await t.saga.run(undefined, { id: 'u-1' });
    expect(first).toMatchObject({ status: 'failed', compensated: ['account'] });
    expect(t.deadLetters.entries[0]?.payload).toMatchObject({
      sagaId: 'u-1',
      step: 'welcome',
      reason: 'undo-failed',
    });
    const still = await t.saga.retryUndo('u-1', 'welcome');
    expect(still.failed[0]).toMatchObject({
      step: 'welcome',
      status: 'failed',
      attempts: 2,
      deadLetterId: 'dl-1',
    });
    t.up();
    const r = await t.saga.retryUndo('u-1', 'welcome');
    expect(r).toMatchObject({ status: 'compensated', compensated: ['welcome', 'account'], failed: [] });
    expect(t.calls()).toBe(3);
    expect(await t.records.records<SagaLog>(SAGA_LOG_KIND).get('u-1')).toMatchObject({
      status: 'compensated',
      steps: [{ undo: 'undone' }, { undo: 'undone', undoAttempts: 3 }, { state: 'failed' }],
    });
    expect(t.types().filter((x) => x === 'saga.compensated')).toHaveLength(1);
    // Undone now: asking again runs nothing.
    await t.saga.retryUndo('u-1', 'welcome');
    expect(t.calls()).toBe(3);
    expect(t.deadLetters.entries).toHaveLength(1);
  });

  it('refuses an unknown undo (a person decides) and a saga running in this process', async () => {
    const t = setup();
    const kind = t.records.records<SagaLog>(SAGA_LOG_KIND);
    await kind.put('u-2', {
      name: 'signup',
      status: 'failed',
      failedStep: 2,
      startedAt: 0,
      runs: 1,
      steps: [
        { name: 'account', state: 'completed', undo: 'undone' },
        { name: 'welcome', state: 'completed', undo: 'unknown' },
        { name: 'billing', state: 'failed' },
      ],
    });
    const refused = await t.saga.retryUndo('u-2', 'welcome').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(/is unknown: only a failed undo is run again/);
    expect(isPermanent(refused)).toBe(true);
    await expect(t.saga.retryUndo('u-2', 'nope')).rejects.toThrow(/no step 'nope' with an undo/);
    const running = t.saga.run(undefined, { id: 'u-3' });
    await expect(t.saga.retryUndo('u-3', 'welcome')).rejects.toThrow(/is running in this process/);
    await running;
    expect(t.calls()).toBe(1);
  });
});
