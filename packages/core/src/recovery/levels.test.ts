import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { isInvalidConfigError } from '../errors/bulwark-error.js';
import { type ItemOutcome, type LevelItem, type LevelsReport, runLevels } from './levels.js';

const core = (key: string): LevelItem<string> => ({ key, item: key });
const opt = (key: string): LevelItem<string> => ({ key, item: key, criticality: 'optional' });
const stretch = (key: string): LevelItem<string> => ({ key, item: key, criticality: 'stretch' });

/** Runs `key`s listed in `failing` by throwing, every other one by resolving. */
function runner(failing: string[], seen: string[] = []) {
  return async (item: string) => {
    seen.push(item);
    await Promise.resolve();
    if (failing.includes(item)) throw new Error(`${item} failed`);
    return item;
  };
}

function statuses(r: LevelsReport): Record<string, string> {
  return Object.fromEntries(r.outcomes.map((o) => [o.key, o.reason ? `${o.status}:${o.reason}` : o.status]));
}

afterEach(() => {
  vi.useRealTimers();
});

describe('runLevels', () => {
  it('runs levels in order; a core failure stops after its level and skips the later levels', async () => {
    const seen: string[] = [];
    const r = await runLevels(
      [[core('postgres'), core('redis')], [core('keycloak')], [core('api')]],
      runner(['redis'], seen),
      { continueOnError: true },
    );
    expect(seen).toEqual(['postgres', 'redis']);
    expect(statuses(r)).toEqual({
      postgres: 'succeeded',
      redis: 'failed',
      keycloak: 'skipped:stopped',
      api: 'skipped:stopped',
    });
    expect(r).toMatchObject({ ok: false, stopped: 'core-failure', stoppedAtLevel: 0, warnings: 0 });
    expect(r).toMatchObject({ total: 4, succeeded: 1, failed: 1, skipped: 2 });
    expect(r.levels.map((l) => [l.level, l.succeeded, l.failed, l.skipped])).toEqual([
      [0, 1, 1, 0],
      [1, 0, 0, 1],
      [2, 0, 0, 1],
    ]);
    expect(r.outcomes[1]?.error).toEqual(new Error('redis failed'));
  });

  it('optional and stretch failures are warnings: the run goes on and is ok', async () => {
    const seen: string[] = [];
    const r = await runLevels(
      [
        [core('opa'), opt('authzforce'), stretch('kas')],
        [core('keycloak'), opt('otel')],
      ],
      runner(['authzforce', 'kas', 'otel'], seen),
    );
    expect(seen).toEqual(['opa', 'authzforce', 'kas', 'keycloak', 'otel']);
    expect(r.ok).toBe(true);
    expect(r.stopped).toBeUndefined();
    expect(r.warnings).toBe(3);
    expect(r.byCriticality).toEqual({
      core: { total: 2, succeeded: 2, failed: 0, skipped: 0 },
      optional: { total: 2, succeeded: 0, failed: 2, skipped: 0 },
      stretch: { total: 1, succeeded: 0, failed: 1, skipped: 0 },
    });
    expect(r.levels[0]?.byCriticality.stretch).toEqual({ total: 1, succeeded: 0, failed: 1, skipped: 0 });
  });

  it('without continueOnError, the first core failure also skips the items of its level not yet started', async () => {
    const seen: string[] = [];
    const r = await runLevels([[core('a'), core('b'), opt('c'), core('d')]], runner(['b'], seen), {
      concurrency: 1,
    });
    expect(seen).toEqual(['a', 'b']);
    expect(statuses(r)).toEqual({ a: 'succeeded', b: 'failed', c: 'skipped:stopped', d: 'skipped:stopped' });
    expect(r.ok).toBe(false);
  });

  it('an optional failure never stops the level, even without continueOnError', async () => {
    const seen: string[] = [];
    const r = await runLevels([[core('a'), opt('b'), core('c')]], runner(['b'], seen), { concurrency: 1 });
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(r.ok).toBe(true);
  });

  it('with continueOnError, the level finishes after a core failure', async () => {
    const seen: string[] = [];
    const r = await runLevels([[core('a'), core('b'), core('c')]], runner(['a'], seen), {
      concurrency: 1,
      continueOnError: true,
    });
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(statuses(r)).toEqual({ a: 'failed', b: 'succeeded', c: 'succeeded' });
  });

  it('runs a level in parallel up to `concurrency`, unbounded by default', async () => {
    const items = Array.from({ length: 10 }, (_, i) => core(`t${i}`));
    for (const [concurrency, expected] of [
      [3, 3],
      [undefined, 10],
    ] as const) {
      let running = 0;
      let most = 0;
      await runLevels(
        [items],
        async () => {
          most = Math.max(most, ++running);
          await new Promise((r) => setImmediate(r));
          running--;
        },
        concurrency === undefined ? {} : { concurrency },
      );
      expect(most).toBe(expected);
    }
  });

  it('a synchronous throw or a non-Error rejection is a failure like any other', async () => {
    const r = await runLevels([[opt('sync'), opt('str')]], (item) => {
      if (item === 'sync') throw new TypeError('boom');
      return Promise.reject('plain string');
    });
    expect(r.outcomes.map((o) => o.error)).toEqual([new TypeError('boom'), 'plain string']);
  });

  it('an aborted signal skips what has not started; running items see the same signal', async () => {
    const ac = new AbortController();
    const signals: AbortSignal[] = [];
    const r = await runLevels(
      [[core('a'), core('b')], [core('c')]],
      async (item, signal) => {
        signals.push(signal);
        if (item === 'a') ac.abort();
      },
      { signal: ac.signal, concurrency: 1 },
    );
    expect(statuses(r)).toEqual({ a: 'succeeded', b: 'skipped:aborted', c: 'skipped:aborted' });
    expect(r).toMatchObject({ ok: false, stopped: 'aborted', stoppedAtLevel: 0 });
    expect(signals).toEqual([ac.signal]);
  });

  it('isDone items are skipped as done and keep the run ok', async () => {
    const seen: string[] = [];
    const r = await runLevels([[core('a'), core('b')], [core('c')]], runner([], seen), {
      isDone: (k) => k !== 'b',
    });
    expect(seen).toEqual(['b']);
    expect(statuses(r)).toEqual({ a: 'skipped:done', b: 'succeeded', c: 'skipped:done' });
    expect(r.ok).toBe(true);
  });

  it('calls onOutcome once per item (skipped included) and awaits it before the next item', async () => {
    const log: string[] = [];
    await runLevels([[core('a'), core('b')], [core('c')]], async (item) => log.push(`run ${item}`), {
      concurrency: 1,
      continueOnError: false,
      onOutcome: async (o: ItemOutcome) => {
        await new Promise((r) => setImmediate(r));
        log.push(`outcome ${o.key} ${o.status}`);
      },
      isDone: (k) => k === 'c',
    });
    expect(log).toEqual([
      'run a',
      'outcome a succeeded',
      'run b',
      'outcome b succeeded',
      'outcome c skipped',
    ]);
  });

  it('rejects when onOutcome throws (an operator bug is not a failed item)', async () => {
    await expect(
      runLevels([[core('a')]], async () => 1, {
        onOutcome: () => {
          throw new Error('listener bug');
        },
      }),
    ).rejects.toThrow('listener bug');
  });

  it('measures each item, each level and the run on the performance clock', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const done = runLevels([[core('slow'), core('fast')], [opt('late')]], (item) =>
      sleep(item === 'slow' ? 300 : item === 'fast' ? 100 : 50),
    );
    await vi.advanceTimersByTimeAsync(1000);
    const r = await done;
    expect(r.outcomes.map((o) => [o.key, Math.round(o.durationMs)])).toEqual([
      ['slow', 300],
      ['fast', 100],
      ['late', 50],
    ]);
    expect(r.levels.map((l) => Math.round(l.durationMs))).toEqual([300, 50]);
    expect(Math.round(r.durationMs)).toBe(350);
  });

  it('reports an empty run as ok', async () => {
    const r = await runLevels([], async () => 1);
    expect(r).toMatchObject({ ok: true, total: 0, outcomes: [], levels: [] });
    const r2 = await runLevels([[]], async () => 1);
    expect(r2.levels).toHaveLength(1);
  });

  it('refuses bad input with one error naming every bad path', async () => {
    const bad = [
      [core('a'), { key: 'a', item: 'x' }, { key: '', item: 'y' }],
      [{ key: 'z', item: 'z', criticality: 'optionl' }],
      'nope',
    ] as unknown as LevelItem<string>[][];
    const e = await runLevels(bad, async () => 1, { concurrency: 0 }).catch((x: unknown) => x);
    expect(isInvalidConfigError(e)).toBe(true);
    const msg = (e as Error).message;
    expect(msg).toContain('levels[0][1].key: expected a key unique across all levels, got "a"');
    expect(msg).toContain('levels[0][2].key: expected a non-empty string');
    expect(msg).toContain(
      "levels[1][0].criticality: expected one of 'core', 'optional', 'stretch', got \"optionl\" (fix: did you mean 'optional'?)",
    );
    expect(msg).toContain('levels[2]: expected an array');
    expect(msg).toContain('concurrency: expected a positive integer or Infinity, got 0');
  });

  it('types: run receives the item type; the report is a LevelsReport', () => {
    const levels = [[{ key: 'a', item: { port: 1 } }]];
    expectTypeOf(runLevels(levels, (item) => item.port)).toEqualTypeOf<Promise<LevelsReport>>();
    expectTypeOf(runLevels<{ port: number }>)
      .parameter(1)
      .parameter(0)
      .toEqualTypeOf<{ port: number }>();
  });
});
