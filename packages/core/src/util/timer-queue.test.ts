import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TimerQueue, TimerTask } from './timer-queue.js';

class Task extends TimerTask {
  constructor(
    readonly id: number,
    private readonly log: number[],
    private readonly then?: () => void,
  ) {
    super();
  }
  onDue(): void {
    this.log.push(this.id);
    this.then?.();
  }
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_700_000_000_000);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('TimerQueue', () => {
  it('runs tasks at their deadlines, earliest first, with one timer', async () => {
    const q = new TimerQueue();
    const log: number[] = [];
    const now = Date.now();
    q.schedule(new Task(3, log), now + 30);
    q.schedule(new Task(1, log), now + 10);
    q.schedule(new Task(2, log), now + 20);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(9);
    expect(log).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(log).toEqual([1]);
    await vi.advanceTimersByTimeAsync(20);
    expect(log).toEqual([1, 2, 3]);
    expect(vi.getTimerCount()).toBe(0);
    expect(q.size).toBe(0);
  });

  it('keeps scheduling order for equal deadlines', async () => {
    const q = new TimerQueue();
    const log: number[] = [];
    for (let i = 0; i < 5; i++) q.schedule(new Task(i, log), Date.now() + 5);
    await vi.advanceTimersByTimeAsync(5);
    expect(log).toEqual([0, 1, 2, 3, 4]);
  });

  it('re-arms only when the earliest deadline moves earlier', () => {
    const q = new TimerQueue();
    const spy = vi.spyOn(globalThis, 'setTimeout');
    const log: number[] = [];
    q.schedule(new Task(1, log), Date.now() + 100);
    q.schedule(new Task(2, log), Date.now() + 200);
    q.schedule(new Task(3, log), Date.now() + 300);
    expect(spy).toHaveBeenCalledTimes(1);
    q.schedule(new Task(4, log), Date.now() + 50);
    expect(spy).toHaveBeenCalledTimes(2);
    expect(vi.getTimerCount()).toBe(1);
    spy.mockRestore();
    q.clear();
  });

  it('leaves no timer when the last pending task is cancelled, and cancelled tasks never run', async () => {
    const q = new TimerQueue();
    const log: number[] = [];
    const a = new Task(1, log);
    const b = new Task(2, log);
    q.schedule(a, Date.now() + 10);
    q.schedule(b, Date.now() + 20);
    q.cancel(a);
    q.cancel(a); // idempotent
    expect(q.size).toBe(1);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(10);
    expect(log).toEqual([]);
    q.cancel(b);
    expect(q.size).toBe(0);
    expect(q.armed).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(100);
    expect(log).toEqual([]);
  });

  it("keeps its one timer ref'd while a task is pending and clears it when none is", () => {
    const q = new TimerQueue();
    q.schedule(new Task(1, []), Date.now() + 10);
    expect(vi.getTimerCount()).toBe(1);
    q.clear();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('lets a task schedule and cancel others while firing', async () => {
    const q = new TimerQueue();
    const log: number[] = [];
    const later = new Task(3, log);
    const victim = new Task(2, log);
    q.schedule(
      new Task(1, log, () => {
        q.cancel(victim);
        q.schedule(later, Date.now() + 5);
      }),
      Date.now() + 10,
    );
    q.schedule(victim, Date.now() + 10);
    await vi.advanceTimersByTimeAsync(10);
    expect(log).toEqual([1]);
    await vi.advanceTimersByTimeAsync(5);
    expect(log).toEqual([1, 3]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps going when a task throws', async () => {
    const q = new TimerQueue();
    const log: number[] = [];
    q.schedule(
      new Task(1, log, () => {
        throw new Error('boom');
      }),
      Date.now() + 1,
    );
    q.schedule(new Task(2, log), Date.now() + 1);
    await vi.advanceTimersByTimeAsync(1);
    expect(log).toEqual([1, 2]);
  });

  it('re-arms on a later schedule when setTimeout was swapped (fake timers removed)', async () => {
    const q = new TimerQueue();
    const log: number[] = [];
    q.schedule(new Task(1, log), 4_000_000_000_000); // armed on the fake clock, far in the future
    vi.useRealTimers();
    q.schedule(new Task(2, log), Date.now() + 20); // would otherwise wait on a dead fake timer
    expect(q.armed).toBe(true);
    // Real wait: the point is that the real clock's timer fires (20 ms).
    await new Promise((r) => setTimeout(r, 60));
    expect(log).toEqual([2]);
    q.clear();
  });

  it('bounds memory: cancelled entries are compacted away', () => {
    const q = new TimerQueue();
    const keep = new Task(0, []);
    q.schedule(keep, Date.now() + 1_000_000);
    for (let i = 1; i <= 10_000; i++) {
      const t = new Task(i, []);
      q.schedule(t, Date.now() + 1000 + i);
      q.cancel(t);
    }
    expect(q.size).toBe(1);
    expect((q as unknown as { heap: unknown[] }).heap.length).toBeLessThan(200);
    q.clear();
  });

  it('fires every live task exactly once, in deadline order (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ delay: fc.integer({ min: 0, max: 500 }), cancel: fc.boolean() }), {
          maxLength: 60,
        }),
        async (specs) => {
          const q = new TimerQueue();
          const log: number[] = [];
          const start = Date.now();
          const tasks = specs.map((s, i) => {
            const t = new Task(i, log);
            q.schedule(t, start + s.delay);
            return t;
          });
          specs.forEach((s, i) => {
            if (s.cancel) q.cancel(tasks[i] as Task);
          });
          await vi.advanceTimersByTimeAsync(501);
          const expected = specs
            .map((s, i) => ({ ...s, i }))
            .filter((s) => !s.cancel)
            .sort((a, b) => a.delay - b.delay || a.i - b.i)
            .map((s) => s.i);
          expect(log).toEqual(expected);
          expect(q.size).toBe(0);
          expect(q.armed).toBe(false);
        },
      ),
      { numRuns: 50 },
    );
  });
});
