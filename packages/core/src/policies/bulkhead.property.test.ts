import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { bulkhead } from './bulkhead.js';

type Command =
  | { kind: 'call'; key: number; duration: number; abortAfter: number | undefined; viaAcquire: boolean }
  | { kind: 'advance'; ms: number }
  | { kind: 'abort'; pick: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    kind: fc.constant('call' as const),
    key: fc.integer({ min: 0, max: 2 }),
    duration: fc.integer({ min: 0, max: 40 }),
    abortAfter: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
    viaAcquire: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 30 }) }),
  fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }),
);

describe('bulkhead invariants (property)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('never exceeds maxConcurrent or maxQueue, and every call ends exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 2, max: 4 }),
        fc.array(command, { maxLength: 60 }),
        async (maxConcurrent, maxQueue, queueTimeout, maxKeys, commands) => {
          const bh = bulkhead({ maxConcurrent, maxQueue, queueTimeout, maxKeys });
          const keys = ['a', 'b', 'c'];
          const active = new Map<string, number>();
          const settled: number[] = [];
          const started: number[] = [];
          const controllers: AbortController[] = [];

          const check = () => {
            for (const key of keys) {
              const s = bh.stats(key);
              expect(s.running).toBeLessThanOrEqual(maxConcurrent);
              expect(s.queued).toBeLessThanOrEqual(maxQueue);
              // A waiter only exists while every slot is taken.
              if (s.queued > 0) expect(s.running).toBe(maxConcurrent);
              expect(active.get(key) ?? 0).toBeLessThanOrEqual(maxConcurrent);
            }
          };

          const work = (key: string, i: number, duration: number) => {
            started[i] = (started[i] ?? 0) + 1;
            active.set(key, (active.get(key) ?? 0) + 1);
            return new Promise<void>((resolve) =>
              setTimeout(() => {
                active.set(key, (active.get(key) ?? 0) - 1);
                resolve();
              }, duration),
            );
          };

          for (const c of commands) {
            if (c.kind === 'advance') await vi.advanceTimersByTimeAsync(c.ms);
            else if (c.kind === 'abort') controllers[c.pick % Math.max(1, controllers.length)]?.abort();
            else {
              const i = settled.length;
              settled.push(0);
              const key = keys[c.key] ?? 'a';
              const ac = new AbortController();
              controllers.push(ac);
              if (c.abortAfter !== undefined) setTimeout(() => ac.abort(), c.abortAfter);
              const call = c.viaAcquire
                ? bh.acquire(key, ac.signal).then(async (release) => {
                    try {
                      await work(key, i, c.duration);
                    } finally {
                      release();
                      release();
                    }
                  })
                : bh.execute(() => work(key, i, c.duration), { key, signal: ac.signal });
              call.then(
                () => settled[i]!++,
                () => settled[i]!++,
              );
            }
            check();
          }
          // Drain: every call must finish or time out without further input.
          await vi.advanceTimersByTimeAsync(10_000);
          check();
          expect(settled.every((n) => n === 1)).toBe(true);
          expect(started.every((n) => n === undefined || n === 1)).toBe(true);
          for (const key of keys) expect(bh.stats(key)).toMatchObject({ running: 0, queued: 0 });
          expect(vi.getTimerCount()).toBe(0);
          bh.close();
        },
      ),
      { numRuns: 200 },
    );
  });
});
