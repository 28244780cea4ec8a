import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { isBulwarkError } from '../errors/bulwark-error.js';
import { memoryRecords, type RecordStore, type RecordValue } from '../stores/records.js';
import { createSaga, type SagaContext, type SagaStep } from './saga.js';
import { FakeDeadLetters, recordingEvents } from './saga.test-helper.js';
import { SAGA_LOG_KIND, type SagaLog } from './saga-log.js';

afterEach(() => {
  vi.useRealTimers();
});

/** Steps a..n that log what they do and undo; `failAt` makes that step's do throw. */
function steps(names: string[], log: string[], failAt?: string): SagaStep[] {
  return names.map((name, i) => ({
    name,
    do: i % 2 === 0 ? () => act(name, log, failAt) : async () => act(name, log, failAt),
    undo:
      i % 2 === 0
        ? (_ctx, r) => void log.push(`undo ${name}:${r}`)
        : async (_ctx, r) => void log.push(`undo ${name}:${r}`),
  }));
}
function act(name: string, log: string[], failAt?: string): string {
  if (name === failAt) throw new Error(`${name} failed`);
  log.push(`do ${name}`);
  return `${name}-result`;
}
const logOf = (store: RecordStore, id: string) => store.records<SagaLog>(SAGA_LOG_KIND).get(id);

describe('saga', () => {
  it('runs every step in order and reports them completed', async () => {
    const { events, types } = recordingEvents();
    const log: string[] = [];
    const saga = createSaga('order', steps(['a', 'b', 'c'], log), { events });
    const r = await saga.run(undefined, { id: 'o-1' });
    expect(log).toEqual(['do a', 'do b', 'do c']);
    expect(r).toMatchObject({ sagaId: 'o-1', status: 'completed', ok: true, completed: ['a', 'b', 'c'] });
    expect(r.compensated).toEqual([]);
    expect(r.results).toEqual({ a: 'a-result', b: 'b-result', c: 'c-result' });
    expect(types()).toEqual(['saga.started', 'saga.completed']);
    expect(saga.stats()).toMatchObject({
      registered: 3,
      executed: 0,
      pending: 0,
      started: 1,
      completed: 1,
      running: 0,
    });
  });

  it('undoes the completed steps last first when a step fails, with their results', async () => {
    const { events, seen, types } = recordingEvents();
    const log: string[] = [];
    const saga = createSaga('order', steps(['a', 'b', 'c', 'd'], log, 'c'), { events });
    const r = await saga.run(undefined);
    expect(log).toEqual(['do a', 'do b', 'undo b:b-result', 'undo a:a-result']);
    expect(r).toMatchObject({
      status: 'compensated',
      ok: false,
      completed: ['a', 'b'],
      compensated: ['b', 'a'],
      failed: [],
      failedStep: 'c',
    });
    expect((r.error as Error).message).toBe('c failed');
    expect(types()).toEqual(['saga.started', 'saga.step-failed', 'saga.compensated']);
    expect(seen[2]).toMatchObject({ sagaId: r.sagaId, steps: ['b', 'a'] });
    expect(saga.stats()).toMatchObject({
      registered: 2,
      executed: 2,
      successful: 2,
      failed: 0,
      pending: 0,
      compensated: 1,
    });
  });

  it('retries a failing undo with backoff, dead-letters it with the saga id, and still runs the others', async () => {
    vi.useFakeTimers();
    const { events, seen } = recordingEvents();
    const deadLetters = new FakeDeadLetters();
    const ran: string[] = [];
    const attemptsAt: number[] = [];
    const start = Date.now();
    const saga = createSaga(
      'transfer',
      [
        { name: 'debit', do: () => ({ amount: 5 }), undo: () => void ran.push('credit back') },
        {
          name: 'notify',
          do: () => 'n-1',
          undo: () => {
            attemptsAt.push(Date.now() - start);
            throw Object.assign(new Error('mail server down'), { code: 'ECONNREFUSED' });
          },
        },
        {
          name: 'credit',
          do: () => {
            throw new Error('account closed');
          },
        },
      ],
      { events, deadLetters, retry: { maxAttempts: 3, initialDelay: '1s', jitter: 'none' } },
    );
    const p = saga.run({ from: 'A', to: 'B' }, { id: 't-1' });
    await vi.runAllTimersAsync();
    const r = await p;
    expect(attemptsAt).toEqual([0, 1000, 3000]);
    expect(ran).toEqual(['credit back']);
    expect(r.status).toBe('failed');
    expect(r.compensated).toEqual(['debit']);
    expect(r.failed).toEqual([
      expect.objectContaining({ step: 'notify', status: 'failed', attempts: 3, deadLetterId: 'dl-1' }),
    ]);
    expect(isBulwarkError(r.compensationError) && r.compensationError.code).toBe('SAGA_COMPENSATION_FAILED');
    expect((r.compensationError!.cause as Error).message).toBe('account closed');
    expect(deadLetters.entries).toEqual([
      expect.objectContaining({
        type: 'saga.compensation',
        payload: expect.objectContaining({
          sagaId: 't-1',
          saga: 'transfer',
          step: 'notify',
          reason: 'undo-failed',
          result: 'n-1',
          input: { from: 'A', to: 'B' },
        }),
      }),
    ]);
    const failedEvent = seen.find((e) => e.type === 'saga.compensation-failed');
    expect(failedEvent).toMatchObject({
      sagaId: 't-1',
      step: 'notify',
      status: 'failed',
      deadLetterId: 'dl-1',
    });
    expect(seen.filter((e) => e.type === 'retry.scheduled')).toHaveLength(2);
    expect(saga.stats()).toMatchObject({ executed: 2, successful: 1, failed: 1, compensationFailed: 1 });
  });

  it('writes the log before each action: an undo sees itself logged as started', async () => {
    const records = memoryRecords();
    const seenStates: unknown[] = [];
    const saga = createSaga(
      's',
      [
        {
          name: 'a',
          do: async () => {
            seenStates.push((await logOf(records, 'x'))?.steps[0]?.state);
            return 1;
          },
          undo: async () => {
            seenStates.push((await logOf(records, 'x'))?.steps[0]?.undo);
          },
        },
        {
          name: 'b',
          do: () => {
            throw new Error('no');
          },
        },
      ],
      { records, retry: false },
    );
    await saga.run(undefined, { id: 'x' });
    expect(seenStates).toEqual(['started', 'started']);
    expect(await logOf(records, 'x')).toMatchObject({
      status: 'compensated',
      failedStep: 1,
      steps: [
        { name: 'a', state: 'completed', result: 1, undo: 'undone', undoAttempts: 1 },
        { name: 'b', state: 'failed' },
      ],
    });
  });

  it('runs nothing again for the id of a finished saga, and joins a run in progress', async () => {
    const log: string[] = [];
    const saga = createSaga('s', steps(['a', 'b'], log, 'b'));
    const [r1, r2] = await Promise.all([
      saga.run(undefined, { id: 'same' }),
      saga.run(undefined, { id: 'same' }),
    ]);
    expect(r2).toBe(r1);
    const r3 = await saga.run(undefined, { id: 'same' });
    expect(log).toEqual(['do a', 'undo a:a-result']);
    expect(r3).toMatchObject({ status: 'compensated', compensated: ['a'], failedStep: 'b', resumed: true });
    expect((r3.error as Error).message).toBe('b failed');
  });

  it('hands steps and undos the logged JSON copy of results and input', async () => {
    let seen: SagaContext<RecordValue | undefined> | undefined;
    const saga = createSaga('json', [
      { name: 'a', do: () => ({ when: new Date(0) as unknown as string }) },
      {
        name: 'b',
        do: (ctx) => {
          seen = ctx;
        },
      },
    ]);
    const r = await saga.run({ n: 1 });
    expect(seen?.results.a).toEqual({ when: '1970-01-01T00:00:00.000Z' });
    expect(seen?.input).toEqual({ n: 1 });
    expect(r.results).toEqual({ a: { when: '1970-01-01T00:00:00.000Z' }, b: undefined });
  });

  it('stops at an aborted signal and undoes what completed', async () => {
    const ac = new AbortController();
    const log: string[] = [];
    const saga = createSaga('s', [
      {
        name: 'a',
        do: () => {
          ac.abort();
          return 1;
        },
        undo: () => void log.push('undo a'),
      },
      { name: 'b', do: () => void log.push('do b') },
    ]);
    const r = await saga.run(undefined, { signal: ac.signal });
    expect(log).toEqual(['undo a']);
    expect(r).toMatchObject({ status: 'compensated', failedStep: 'b' });
    expect((r.error as Error).name).toBe('CancelledError');
  });

  it('lists unfinished sagas and refuses an id of another saga or definition', async () => {
    const records = memoryRecords();
    const kind = records.records<SagaLog>(SAGA_LOG_KIND);
    await kind.put('u-1', { name: 's', status: 'running', steps: [], startedAt: 0, runs: 1 });
    await kind.put('u-2', { name: 'other', status: 'running', steps: [], startedAt: 0, runs: 1 });
    await kind.put('u-3', {
      name: 's',
      status: 'running',
      steps: [{ name: 'zz', state: 'completed' }],
      startedAt: 0,
      runs: 1,
    });
    const saga = createSaga('s', [{ name: 'a', do: () => 1 }], { records });
    expect(await saga.unfinished()).toEqual(['u-1', 'u-3']);
    await expect(saga.resume('u-2')).rejects.toThrow(/belongs to saga 'other'/);
    await expect(saga.resume('u-3')).rejects.toThrow(/step 0 'zz' where this definition has 'a'/);
    await expect(saga.resume('none')).rejects.toThrow(/no saga log has this id/);
    expect((await saga.resume('u-1')).status).toBe('completed');
    expect(await saga.unfinished()).toEqual(['u-3']);
  });

  it('validates the steps and options, naming key, value and fix', () => {
    expect(() => createSaga('s', [])).toThrow(/saga.steps: expected a non-empty array of steps/);
    expect(() =>
      createSaga('s', [
        { name: 'a', do: () => 1 },
        { name: 'a', do: () => 2 },
      ]),
    ).toThrow(/saga.steps\[1\].name: expected a name no other step has, got "a"/);
    expect(() => createSaga('s', [{ name: 'a' } as never])).toThrow(
      /saga.steps\[0\].do: expected a function \(required\)/,
    );
    expect(() => createSaga('s', [{ name: 'a', do: () => 1, rollback: () => 1 } as never])).toThrow(
      /did you mean 'undo'/,
    );
    expect(() => createSaga('s', [{ name: 'a', do: () => 1 }], { retry: { maxAttempts: 0 } })).toThrow(
      /saga.retry.maxAttempts: expected a positive integer/,
    );
    expect(() => createSaga('s', [{ name: 'a', do: () => 1 }], { ttl: '1h' } as never)).toThrow(
      /did you mean 'retention'/,
    );
    expect(() => createSaga('s', [{ name: 'a', do: () => 1 }], { deadLetters: {} as never })).toThrow(
      /saga.deadLetters: expected a dead-letter queue/,
    );
  });

  it('types steps by the saga input', () => {
    const saga = createSaga<{ sku: string }>('typed', [
      { name: 'a', do: (ctx) => ctx.input.sku, undo: (_ctx, r) => r },
    ]);
    expectTypeOf(saga.run).parameter(0).toEqualTypeOf<{ sku: string }>();
    expectTypeOf<ReturnType<typeof saga.run>>()
      .resolves.toHaveProperty('compensated')
      .toEqualTypeOf<string[]>();
  });
});
