/**
 * A shared deadline scheduler: every pending task sits in one binary min-heap ordered by due time,
 * and ONE setTimeout is armed for the earliest. Scheduling a later deadline touches no
 * timer; cancelling is O(1) (lazy deletion: the entry is only marked and dropped when it reaches
 * the top, or by a compaction once dead entries outnumber live ones). When nothing is pending the
 * timer is cleared and the heap emptied, so an idle process holds no timer.
 *
 * The timer is deliberately NOT unref'd: a pending task is a timeout somebody is awaiting, and an
 * unref'd timer would let the process exit with that promise unsettled (a script awaiting a hung
 * call must get its TimeoutError, not a silent exit). It exists only while a task is pending.
 *
 * Time is read with `Date.now()` and timers are created with the global `setTimeout` looked up at
 * arm time, so fake timers (which replace both) drive it like any other timer; when the global
 * `setTimeout` changes (fake timers installed or removed) the next schedule re-arms.
 */

import { MAX_TIMER_MS } from './duration.js';

/** Dead entries tolerated before a compaction, beyond as many as there are live ones. */
const COMPACT_SLACK = 64;

const IDLE = 0;
const PENDING = 1;
const CANCELLED = 2;

/**
 * Something to run at a deadline. Subclass it and schedule it once with {@link TimerQueue.schedule};
 * an instance is not reusable once it ran or was cancelled.
 */
export abstract class TimerTask {
  /** Epoch ms at which it is due (set by `schedule`). */
  due = 0;
  /** Insertion order, so tasks due at the same ms run in the order they were scheduled. */
  seq = 0;
  /** 0 idle, 1 pending, 2 cancelled (still in the heap until it surfaces). */
  state = IDLE;
  /** Runs when the deadline is reached. Must not throw (a throw is swallowed). */
  abstract onDue(): void;
}

function before(a: TimerTask, b: TimerTask): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

/** A deadline scheduler backed by one timer. Most code uses the shared {@link timerQueue}. */
export class TimerQueue {
  private heap: TimerTask[] = [];
  private live = 0;
  private seq = 0;
  private timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** Due time the timer is armed for. */
  private armedFor = Number.POSITIVE_INFINITY;
  /** The setTimeout/clearTimeout that armed the current timer (fake timers swap them). */
  private armedWith: typeof setTimeout | undefined = undefined;
  private clearWith: typeof clearTimeout | undefined = undefined;
  private firing = false;
  private readonly onTimer = (): void => this.fire();

  /** Pending (not cancelled, not yet run) tasks. */
  get size(): number {
    return this.live;
  }

  /** True while the one timer is armed. */
  get armed(): boolean {
    return this.timer !== undefined;
  }

  /** Runs `task.onDue()` at epoch ms `due` (at once, on the next timer turn, if already past). */
  schedule(task: TimerTask, due: number): void {
    task.due = due;
    task.seq = this.seq++;
    task.state = PENDING;
    this.live++;
    this.push(task);
    if (this.firing) return; // fire() arms for the earliest when it is done
    if (this.timer === undefined || due < this.armedFor || this.armedWith !== setTimeout) this.arm(due);
  }

  /** Cancels a pending task; does nothing if it already ran or was cancelled. */
  cancel(task: TimerTask): void {
    if (task.state !== PENDING) return;
    task.state = CANCELLED;
    this.live--;
    if (this.firing) return;
    if (this.live === 0) this.idle();
    else if (this.heap.length > 2 * this.live + COMPACT_SLACK) this.compact();
  }

  /** Cancels everything and clears the timer. */
  clear(): void {
    for (const t of this.heap) if (t.state === PENDING) t.state = CANCELLED;
    this.live = 0;
    this.idle();
  }

  private idle(): void {
    this.heap.length = 0;
    this.disarm();
  }

  private arm(due: number): void {
    this.disarm();
    const delay = Math.min(Math.max(0, due - Date.now()), MAX_TIMER_MS);
    this.armedWith = setTimeout;
    this.clearWith = clearTimeout;
    this.armedFor = due;
    this.timer = setTimeout(this.onTimer, delay);
  }

  private disarm(): void {
    if (this.timer !== undefined) {
      this.clearWith?.(this.timer);
      this.timer = undefined;
    }
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    this.firing = true;
    try {
      const now = Date.now();
      for (let top = this.heap[0]; top !== undefined; top = this.heap[0]) {
        if (top.state === PENDING && top.due > now) break;
        this.pop();
        if (top.state !== PENDING) continue;
        top.state = IDLE;
        this.live--;
        try {
          top.onDue();
        } catch {
          // A task's failure must not stop the others from firing.
        }
      }
    } finally {
      this.firing = false;
    }
    if (this.live === 0) {
      this.idle();
      return;
    }
    // Drop cancelled entries off the top so the timer is armed for a live one.
    while (this.heap[0] !== undefined && this.heap[0].state !== PENDING) this.pop();
    if (this.heap.length > 2 * this.live + COMPACT_SLACK) this.compact();
    const top = this.heap[0];
    if (top !== undefined) this.arm(top.due);
  }

  /** Rebuilds the heap from live entries only (O(n)), bounding memory under fast cancellation. */
  private compact(): void {
    const live: TimerTask[] = [];
    for (const t of this.heap) if (t.state === PENDING) live.push(t);
    this.heap = live;
    for (let i = (live.length >> 1) - 1; i >= 0; i--) this.down(i);
    const top = live[0];
    if (top !== undefined && top.due > this.armedFor) this.arm(top.due);
  }

  private push(task: TimerTask): void {
    const h = this.heap;
    let i = h.length;
    h.push(task);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as TimerTask;
      if (!before(task, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = task;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    h[0] = last;
    this.down(0);
  }

  private down(start: number): void {
    const h = this.heap;
    const n = h.length;
    const task = h[start] as TimerTask;
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && before(h[r] as TimerTask, h[l] as TimerTask)) c = r;
      const child = h[c] as TimerTask;
      if (!before(child, task)) break;
      h[i] = child;
      i = c;
    }
    h[i] = task;
  }
}

/** The process-wide scheduler used by timeouts: one timer for every pending deadline. */
export const timerQueue = new TimerQueue();
