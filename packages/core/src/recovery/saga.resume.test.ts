/**
 * Resuming from logs as a crash leaves them (written by hand here; saga.crash.test.ts makes a
 * real process die): what ran is not run again, what was interrupted is never run twice.
 */
import { describe, expect, it } from 'vitest';
import { memoryRecords } from '../stores/records.js';
import { createSaga, type SagaStep } from './saga.js';
import { FakeDeadLetters, recordingEvents } from './saga.test-helper.js';
import { SAGA_LOG_KIND, type SagaLog } from './saga-log.js';

function setup(log: SagaLog, opts: { idempotentB?: boolean } = {}) {
  const records = memoryRecords();
  const kind = records.records<SagaLog>(SAGA_LOG_KIND);
  const deadLetters = new FakeDeadLetters();
  const { events, seen } = recordingEvents();
  const ran: string[] = [];
  const steps: SagaStep[] = ['a', 'b', 'c'].map((name) => ({
    name,
    ...(name === 'b' && opts.idempotentB ? { idempotent: true } : {}),
    do: () => {
      ran.push(`do ${name}`);
      if (name === 'c') throw new Error('c failed');
      return name;
    },
    undo: (_ctx, r) => void ran.push(`undo ${name}:${r}`),
  }));
  const saga = createSaga('s', steps, { records, deadLetters, events, retry: false });
  return { saga, kind, ran, deadLetters, seen, put: () => kind.put('id', log) };
}

const base = { name: 's', startedAt: 0, runs: 1 } as const;

describe('saga resume', () => {
  it('does not run a completed step again and goes on from the next one', async () => {
    const t = setup({ ...base, status: 'running', steps: [{ name: 'a', state: 'completed', result: 'A' }] });
    await t.put();
    const r = await t.saga.resume('id');
    expect(t.ran).toEqual(['do b', 'do c', 'undo b:b', 'undo a:A']);
    expect(r).toMatchObject({ resumed: true, status: 'compensated', compensated: ['b', 'a'] });
    expect((await t.kind.get('id'))?.runs).toBe(2);
  });

  it('never runs an undo again that was started but not recorded done: unknown, dead-lettered, the rest still run', async () => {
    const t = setup({
      ...base,
      status: 'compensating',
      failedStep: 2,
      error: { name: 'Error', message: 'c failed' },
      steps: [
        { name: 'a', state: 'completed', result: 'A' },
        { name: 'b', state: 'completed', result: 'B', undo: 'started' },
        { name: 'c', state: 'failed' },
      ],
    });
    await t.put();
    const r = await t.saga.run(undefined, { id: 'id' });
    expect(t.ran).toEqual(['undo a:A']);
    expect(r.status).toBe('failed');
    expect(r.compensated).toEqual(['a']);
    expect(r.failed).toEqual([
      expect.objectContaining({ step: 'b', status: 'unknown', attempts: 0, deadLetterId: 'dl-1' }),
    ]);
    expect((r.error as Error).message).toBe('c failed');
    expect(t.deadLetters.entries[0]?.payload).toMatchObject({
      sagaId: 'id',
      step: 'b',
      reason: 'undo-interrupted',
    });
    expect(t.seen.find((e) => e.type === 'saga.compensation-failed')).toMatchObject({
      step: 'b',
      status: 'unknown',
    });
    expect(t.saga.stats()).toMatchObject({ executed: 1, successful: 1, failed: 1, pending: 0 });
    // A second resume finds it finished: nothing runs, nothing is dead-lettered twice.
    await t.saga.run(undefined, { id: 'id' });
    expect(t.ran).toEqual(['undo a:A']);
    expect(t.deadLetters.entries).toHaveLength(1);
  });

  it('undoes the completed steps when a non-idempotent step was interrupted, and dead-letters that step', async () => {
    const t = setup({
      ...base,
      status: 'running',
      steps: [
        { name: 'a', state: 'completed', result: 'A' },
        { name: 'b', state: 'started' },
      ],
    });
    await t.put();
    const r = await t.saga.resume('id');
    expect(t.ran).toEqual(['undo a:A']);
    expect(r).toMatchObject({ status: 'failed', failedStep: 'b', compensated: ['a'] });
    expect(r.failed).toEqual([expect.objectContaining({ step: 'b', status: 'unknown' })]);
    expect(t.deadLetters.entries[0]?.payload).toMatchObject({ step: 'b', reason: 'step-interrupted' });
    expect((await t.kind.get('id'))?.steps[1]).toMatchObject({
      state: 'interrupted',
      undo: 'unknown',
      deadLetterId: 'dl-1',
    });
  });

  it('runs an interrupted idempotent step again', async () => {
    const t = setup(
      {
        ...base,
        status: 'running',
        steps: [
          { name: 'a', state: 'completed', result: 'A' },
          { name: 'b', state: 'started' },
        ],
      },
      { idempotentB: true },
    );
    await t.put();
    const r = await t.saga.resume('id');
    expect(t.ran).toEqual(['do b', 'do c', 'undo b:b', 'undo a:A']);
    expect(r.status).toBe('compensated');
  });

  it('skips undos already done and dead-letters a failure whose dead letter was not recorded, without running it again', async () => {
    const t = setup({
      ...base,
      status: 'compensating',
      failedStep: 2,
      steps: [
        { name: 'a', state: 'completed', result: 'A' },
        {
          name: 'b',
          state: 'completed',
          result: 'B',
          undo: 'failed',
          undoAttempts: 3,
          undoError: { name: 'Error', message: 'down' },
        },
        { name: 'c', state: 'failed' },
      ],
    });
    await t.put();
    const r = await t.saga.resume('id');
    expect(t.ran).toEqual(['undo a:A']);
    expect(t.deadLetters.entries).toHaveLength(1);
    expect(r.failed[0]).toMatchObject({ step: 'b', status: 'failed', deadLetterId: 'dl-1' });
    expect((r.failed[0]!.error as Error).message).toBe('down');
  });

  it('keeps the saga unfinished when dead-lettering fails, and dead-letters it on the next resume', async () => {
    const records = memoryRecords();
    const deadLetters = new FakeDeadLetters();
    deadLetters.fail = 1;
    let calls = 0;
    const saga = createSaga(
      's',
      [
        {
          name: 'a',
          do: () => 1,
          undo: () => {
            calls++;
            throw new Error('nope');
          },
        },
        {
          name: 'b',
          do: () => {
            throw new Error('b failed');
          },
        },
      ],
      { records, deadLetters, retry: false },
    );
    const r = await saga.run(undefined, { id: 'x' });
    expect(r.failed[0]).toMatchObject({ step: 'a', status: 'failed' });
    expect(r.failed[0]?.deadLetterId).toBeUndefined();
    const kind = records.records<SagaLog>(SAGA_LOG_KIND);
    const logged = (await kind.get('x')) as SagaLog;
    expect(logged).toMatchObject({
      status: 'compensating',
      steps: [{ undo: 'failed', undoError: { message: 'nope' } }, {}],
    });
    expect(await saga.unfinished()).toEqual(['x']);
    const again = await saga.resume('x');
    expect(again.status).toBe('failed');
    expect((await kind.get('x'))?.status).toBe('failed');
    expect(calls).toBe(1);
    expect(again.failed[0]?.deadLetterId).toBe('dl-1');
  });
});
