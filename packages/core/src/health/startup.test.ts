/** Start-up in levels, on fake timers: backoff, attempt timeouts, criticality, readiness, events. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBulwark } from '../registry/bulwark.js';
import type { BulwarkEvent, EventOf } from '../telemetry/events.js';

describe('lifecycle.start(levels)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function setup(config = {}) {
    const b = createBulwark(config);
    const events: BulwarkEvent[] = [];
    b.events.onAny((e) => events.push(e));
    return { b, events };
  }

  it('retries with backoff 2 s, 4 s, 8 s, 16 s, 30 s and reports the attempts', async () => {
    const { b, events } = setup();
    let calls = 0;
    const at: number[] = [];
    const started = Date.now();
    const run = b.lifecycle.start([
      [
        {
          name: 'postgres',
          retry: { maxAttempts: 6 },
          start: async () => {
            at.push(Date.now() - started);
            if (++calls < 6) throw new Error('ECONNREFUSED');
          },
        },
      ],
    ]);
    await vi.runAllTimersAsync();
    const report = await run;
    expect(at).toEqual([0, 2000, 6000, 14_000, 30_000, 60_000]);
    expect(report).toMatchObject({ ok: true, attempts: { postgres: 6 }, coreFailed: [], degraded: [] });
    const delays = events
      .filter((e): e is EventOf<'retry.scheduled'> => e.type === 'retry.scheduled')
      .map((e) => [e.policy, e.delayMs]);
    expect(delays).toEqual([2000, 4000, 8000, 16_000, 30_000].map((d) => ['startup:postgres', d]));
    await b.close();
  });

  it('a core failure stops after its level and names it; optional and stretch failures only warn', async () => {
    const { b, events } = setup();
    const ran: string[] = [];
    const ok = (name: string) => async () => {
      ran.push(name);
    };
    const fail = (name: string) => async () => {
      ran.push(name);
      throw new Error(`${name} is down`);
    };
    const run = b.lifecycle.start([
      [
        { name: 'postgres', start: ok('postgres') },
        { name: 'redis', criticality: 'optional', retry: false, start: fail('redis') },
      ],
      [
        { name: 'kafka', retry: { maxAttempts: 2 }, start: fail('kafka') },
        { name: 'recommendations', criticality: 'stretch', retry: false, start: ok('recommendations') },
      ],
      [{ name: 'api', start: ok('api') }],
    ]);
    await vi.runAllTimersAsync();
    const report = await run;
    expect(report.ok).toBe(false);
    expect(report.coreFailed).toEqual(['kafka', 'api']);
    expect(report.degraded).toEqual(['redis']);
    expect(report.stopped).toBe('core-failure');
    expect(report.stoppedAtLevel).toBe(1);
    expect(report.attempts).toEqual({ postgres: 1, redis: 1, kafka: 2, recommendations: 1, api: 0 });
    expect(ran.sort()).toEqual(['kafka', 'kafka', 'postgres', 'recommendations', 'redis']);
    const items = events.filter((e): e is EventOf<'startup.item'> => e.type === 'startup.item');
    // In the order they finished, level by level.
    const byLevel = (l: number) =>
      items
        .filter((e) => e.level === l)
        .map((e) => [e.name, e.status, e.attempts])
        .sort();
    expect(byLevel(0)).toEqual([
      ['postgres', 'succeeded', 1],
      ['redis', 'failed', 1],
    ]);
    expect(byLevel(1)).toEqual([
      ['kafka', 'failed', 2],
      ['recommendations', 'succeeded', 1],
    ]);
    expect(byLevel(2)).toEqual([['api', 'skipped', 0]]);
    expect(items.map((e) => e.level)).toEqual([0, 0, 1, 1, 2]);
    expect(items.find((e) => e.name === 'kafka')?.durationMs).toBe(2000); // one 2 s backoff
    expect(events.at(-1)).toMatchObject({
      type: 'startup.finished',
      ok: false,
      coreFailed: ['kafka', 'api'],
    });
    // Not ready: a core item never came up.
    expect(b.health.readiness().reasons).toContain('start-up has not finished');
    await b.close();
  });

  it('times out a hanging attempt (its signal aborts) and retries it', async () => {
    const { b } = setup();
    const signals: AbortSignal[] = [];
    const run = b.lifecycle.start([
      [
        {
          name: 'migrations',
          timeout: '1s',
          retry: { maxAttempts: 2, initialDelay: '100ms' },
          start: (signal) => {
            signals.push(signal);
            return new Promise(() => {});
          },
        },
      ],
    ]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(signals[0]?.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(1100);
    const report = await run;
    expect(report.coreFailed).toEqual(['migrations']);
    expect(report.attempts.migrations).toBe(2);
    expect(report.outcomes[0]?.error).toMatchObject({
      code: expect.stringMatching(/TIMEOUT|RETRY_EXHAUSTED/),
    });
    await b.close();
  });

  it('readiness is false from the start and true once every core item is up, before optional ones finish', async () => {
    const { b } = setup();
    let finishRedis: () => void = () => {};
    const run = b.lifecycle.start([
      [
        { name: 'postgres', start: () => new Promise<void>((r) => setTimeout(r, 500)) },
        {
          name: 'redis',
          criticality: 'optional',
          start: () =>
            new Promise<void>((r) => {
              finishRedis = r;
            }),
        },
      ],
    ]);
    expect(b.health.readiness()).toEqual({ ready: false, reasons: ['start-up has not finished'] });
    await vi.advanceTimersByTimeAsync(500);
    expect(b.health.readiness()).toEqual({ ready: true, reasons: [] });
    finishRedis();
    expect((await run).ok).toBe(true);
    await b.close();
  });

  it('runs an item under a policy from the config', async () => {
    const { b } = setup({
      policies: { 'db-start': { retry: { maxAttempts: 4, initialDelay: 10, jitter: false } } },
    });
    let calls = 0;
    const run = b.lifecycle.start([
      [
        {
          name: 'db',
          policy: 'db-start',
          start: async () => {
            if (++calls < 4) throw new Error('not yet');
          },
        },
      ],
    ]);
    await vi.runAllTimersAsync();
    expect((await run).attempts).toEqual({ db: 4 });
    await b.close();
  });

  it('refuses bad input before starting anything', async () => {
    const { b } = setup();
    await expect(b.lifecycle.start([[{ name: 'x' } as never]])).rejects.toThrow(/levels\[0\]\[0\]\.start/);
    await expect(
      b.lifecycle.start([[{ name: 'x', start: () => {}, criticality: 'cor' as 'core' }]]),
    ).rejects.toThrow(/criticality.*did you mean 'core'/);
    await b.close();
  });
});
