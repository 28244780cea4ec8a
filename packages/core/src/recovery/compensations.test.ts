import { afterEach, describe, expect, it, vi } from 'vitest';
import { isBulwarkError } from '../errors/bulwark-error.js';
import { CompensationManager } from './compensations.js';
import { FakeDeadLetters, recordingEvents } from './saga.test-helper.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('CompensationManager', () => {
  it('runs an operation’s compensations last first, sync and async, each once', async () => {
    const m = new CompensationManager({ retry: false });
    const order: string[] = [];
    m.register('op-1', () => {
      order.push('a');
    });
    m.register('op-1', async () => {
      await Promise.resolve();
      order.push('b');
    });
    m.register('op-1', () => {
      order.push('c');
    });
    m.register('op-2', () => {
      order.push('other');
    });
    const first = await m.compensate('op-1');
    const second = await m.compensate('op-1');
    expect(order).toEqual(['c', 'b', 'a']);
    expect(first.ok).toBe(true);
    expect(first.compensated).toHaveLength(3);
    expect(second).toEqual({ operationId: 'op-1', ok: true, compensated: [], failed: [] });
    expect(m.stats()).toEqual({
      registered: 4,
      executed: 3,
      successful: 3,
      failed: 0,
      pending: 1,
      operations: 1,
    });
  });

  it('is a no-op when nothing is registered', async () => {
    const { events, seen } = recordingEvents();
    const m = new CompensationManager({ events });
    expect(await m.compensate('nothing')).toEqual({
      operationId: 'nothing',
      ok: true,
      compensated: [],
      failed: [],
    });
    expect(seen).toEqual([]);
  });

  it('records a failing compensation and still runs the others', async () => {
    const { events, seen } = recordingEvents();
    const deadLetters = new FakeDeadLetters();
    const m = new CompensationManager({ retry: false, events, deadLetters });
    const ran: string[] = [];
    m.register('op', () => ran.push('first'), { name: 'delete file' });
    m.register(
      'op',
      () => {
        throw new Error('disk gone');
      },
      { name: 'revert row' },
    );
    m.register('op', async () => ran.push('last'));
    const r = await m.compensate('op');
    expect(ran).toEqual(['last', 'first']);
    expect(r.ok).toBe(false);
    expect(r.failed).toEqual([
      expect.objectContaining({ step: 'revert row', status: 'failed', attempts: 1, deadLetterId: 'dl-1' }),
    ]);
    expect((r.failed[0]!.error as Error).message).toBe('disk gone');
    expect(isBulwarkError(r.error) && r.error.code).toBe('SAGA_COMPENSATION_FAILED');
    expect(deadLetters.entries[0]).toMatchObject({
      type: 'compensation',
      payload: { operationId: 'op', name: 'revert row' },
    });
    expect(seen.map((e) => e.type)).toEqual(['compensation.failed', 'compensation.finished']);
    expect(seen[1]).toMatchObject({ operationId: 'op', successful: 2, failed: 1 });
    expect(m.stats()).toMatchObject({ registered: 3, executed: 3, successful: 2, failed: 1, pending: 0 });
  });

  it('retries a failing compensation with backoff before giving up', async () => {
    vi.useFakeTimers();
    const m = new CompensationManager({ retry: { maxAttempts: 3, initialDelay: 100, jitter: 'none' } });
    const at: number[] = [];
    const start = Date.now();
    m.register('op', () => {
      at.push(Date.now() - start);
      if (at.length < 3) throw new Error('flaky');
    });
    const p = m.compensate('op');
    await vi.runAllTimersAsync();
    const r = await p;
    expect(r.ok).toBe(true);
    expect(at).toEqual([0, 100, 300]);
  });

  it('is bounded: one operation too many is refused, none evicted', async () => {
    const m = new CompensationManager({ maxOperations: 2, maxPerOperation: 2 });
    m.register('a', () => {});
    m.register('b', () => {});
    m.register('b', () => {});
    expect(() => m.register('c', () => {})).toThrow(
      /2 operations already hold compensations \(maxOperations\)/,
    );
    expect(() => m.register('b', () => {})).toThrow(expect.objectContaining({ code: 'COMPENSATIONS_FULL' }));
    expect(m.registered('a')).toHaveLength(1);
    expect(m.discard('a')).toBe(1);
    m.register('c', () => {});
    expect(m.stats()).toMatchObject({ pending: 3, operations: 2 });
  });

  it('validates its options and arguments', () => {
    expect(() => new CompensationManager({ maxOperations: 0 })).toThrow(
      /maxOperations: expected a positive integer/,
    );
    expect(() => new CompensationManager({ maxSize: 3 } as never)).toThrow(/did you mean 'maxOperations'/);
    const m = new CompensationManager();
    expect(() => m.register('', () => {})).toThrow(TypeError);
    expect(() => m.register('op', 'x' as never)).toThrow(TypeError);
  });
});
