/** Self-healing on fake timers: action → fresh check → undo when it did not help; backoff; one at a time. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBulwark } from '../registry/bulwark.js';
import type { BulwarkEvent } from '../telemetry/events.js';
import { switchableCheck as dependency } from './health.test-helper.js';

describe('bulwark.health.heal()', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function setup() {
    const b = createBulwark();
    const events: BulwarkEvent[] = [];
    b.events.onAny((e) => {
      if (e.type.startsWith('healing.')) events.push(e);
    });
    const pg = dependency();
    const redis = dependency();
    b.health.register('postgres', { criticality: 'core', check: pg.check, interval: '1h' });
    b.health.register('redis', { criticality: 'optional', check: redis.check, interval: '1h' });
    await vi.advanceTimersByTimeAsync(0); // first checks: both up
    return { b, events, pg, redis };
  }

  /** The dependency is found down (its next check fails). */
  async function goDown(
    b: Awaited<ReturnType<typeof setup>>['b'],
    dep: { state: { ok: boolean } },
    name: string,
  ) {
    dep.state.ok = false;
    await b.health.checkNow(name);
  }

  it('restarts the pool when the dependency turns down, verifies it with a fresh check, and warms the cache once it is up', async () => {
    const { b, events, pg } = await setup();
    const order: string[] = [];
    const healing = b.health.heal('postgres', {
      action: async () => {
        order.push('restart pool');
        pg.state.ok = true;
      },
      onRecovered: async () => {
        order.push('warm cache');
      },
    });
    await goDown(b, pg, 'postgres');
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual(['restart pool', 'warm cache']);
    expect(b.health.status('postgres')).toBe('up');
    expect(events.map((e) => e.type)).toEqual(['healing.started', 'healing.succeeded']);
    expect(healing.history().map((r) => [r.attempt, r.outcome, r.undone])).toEqual([
      [1, 'healed', 'no'],
      [0, 'recovered', 'no'],
    ]);
    expect(healing.running).toBe(false);
    await b.close();
  });

  it('undoes an action the verification does not confirm, waits the backoff, tries again, and gives up after maxAttempts', async () => {
    const { b, events, pg } = await setup();
    const calls: [string, number][] = [];
    const t0 = Date.now();
    b.health.heal('postgres', {
      maxAttempts: 3,
      backoff: { initialDelay: '1s' },
      action: () => {
        calls.push(['action', Date.now() - t0]);
      },
      undo: () => {
        calls.push(['undo', Date.now() - t0]);
      },
    });
    await goDown(b, pg, 'postgres');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toEqual([
      ['action', 0],
      ['undo', 0],
      ['action', 1000],
      ['undo', 1000],
      ['action', 3000],
      ['undo', 3000],
    ]);
    expect(events.map((e) => [e.type, 'reason' in e ? e.reason : undefined])).toEqual([
      ['healing.started', undefined],
      ['healing.failed', 'verify-failed'],
      ['healing.started', undefined],
      ['healing.failed', 'verify-failed'],
      ['healing.started', undefined],
      ['healing.failed', 'verify-failed'],
      ['healing.gave-up', undefined],
    ]);
    await b.close();
  });

  it('undoes an action whose verification does not answer within verifyTimeout', async () => {
    const b = createBulwark();
    let hang = false;
    b.health.register('search', {
      interval: '1h',
      timeout: '1m',
      check: () => (hang ? new Promise<void>(() => {}) : Promise.reject(new Error('down'))),
    });
    await vi.advanceTimersByTimeAsync(0);
    const undo = vi.fn();
    const healing = b.health.heal('search', {
      maxAttempts: 1,
      verifyTimeout: '2s',
      action: () => {
        hang = true;
      },
      undo,
    });
    // Down already when heal() is called: healing starts at once.
    await vi.advanceTimersByTimeAsync(0);
    expect(undo).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(2000);
    expect(undo).toHaveBeenCalledOnce();
    expect(healing.history()[0]).toMatchObject({ outcome: 'verify-timeout', undone: 'yes' });
    await b.close();
  });

  it('undoes an action that made things worse (another dependency went down meanwhile)', async () => {
    const { b, events, pg, redis } = await setup();
    const undo = vi.fn(() => {
      redis.state.ok = true;
    });
    b.health.heal('postgres', {
      maxAttempts: 1,
      action: async () => {
        pg.state.ok = true;
        redis.state.ok = false; // the restart took Redis' connections with it
        await b.health.checkNow('redis');
      },
      undo,
    });
    await goDown(b, pg, 'postgres');
    await vi.advanceTimersByTimeAsync(0);
    expect(undo).toHaveBeenCalledOnce();
    const failed = events.find((e) => e.type === 'healing.failed');
    expect(failed).toMatchObject({ reason: 'worse', undone: 'yes', dependency: 'postgres' });
    expect(String((failed as { error: unknown }).error)).toContain("'redis' went down");
    await b.close();
  });

  it('never runs two actions for one dependency at once', async () => {
    const { b, pg } = await setup();
    let running = 0;
    let most = 0;
    let release: () => void = () => {};
    const healing = b.health.heal('postgres', {
      maxAttempts: 1,
      action: async () => {
        running++;
        most = Math.max(most, running);
        await new Promise<void>((r) => {
          release = r;
        });
        running--;
      },
    });
    await goDown(b, pg, 'postgres');
    await vi.advanceTimersByTimeAsync(0);
    expect(healing.running).toBe(true);
    // More bad news while the action runs: flapping, an override; no second action starts.
    b.health.override('postgres', { status: 'up', reason: 'flap' });
    b.health.override('postgres', undefined);
    await b.health.checkNow('postgres');
    await vi.advanceTimersByTimeAsync(0);
    expect(most).toBe(1);
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(most).toBe(1);
    await b.close();
  });

  it('action and undo are bounded by actionTimeout; their signals abort', async () => {
    const { b, pg } = await setup();
    const signals: AbortSignal[] = [];
    const healing = b.health.heal('postgres', {
      maxAttempts: 1,
      actionTimeout: '5s',
      action: (signal) => {
        signals.push(signal);
        return new Promise(() => {});
      },
    });
    await goDown(b, pg, 'postgres');
    await vi.advanceTimersByTimeAsync(5000);
    expect(signals[0]?.aborted).toBe(true);
    expect(healing.history()[0]).toMatchObject({ outcome: 'action-failed', undone: 'no' });
    await b.close();
  });

  it('validates its options and the name; close() stops it', async () => {
    const { b, pg } = await setup();
    expect(() => b.health.heal('postgress', { action: () => {} })).toThrow(/postgres/);
    const bad = () => b.health.heal('postgres', { maxAttempts: 0 } as never);
    expect(bad).toThrow(/heal\('postgres'\)\.action: expected a function \(required\)/);
    expect(bad).toThrow(/heal\('postgres'\)\.maxAttempts: expected a positive integer, got 0/);
    const action = vi.fn();
    b.health.heal('postgres', { action });
    await b.close();
    pg.state.ok = false;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(action).not.toHaveBeenCalled();
  });
});
