/**
 * Bulkhead: at most `maxConcurrent` calls run per key, at most `maxQueue` wait (FIFO) for at
 * most `queueTimeout`. A full bulkhead rejects at once.
 *
 * Shedding by criticality: sheddable calls may fill only a share of the slots and queue, critical
 * ones all of them; a freed slot goes to the oldest waiter of the highest criticality it can serve,
 * and a critical call pushes the newest lower one out of a full queue. Fairness: one caller may hold
 * at most `maxSharePerCaller` of a key's slots and queue. Key classes (`limits`) give keys their own
 * sizes. Below the lowest share (`open`) a call takes a slot without reading its criticality: the
 * fast path is one comparison, as before.
 *
 * Key bookkeeping: one map holds every compartment (at most `maxKeys`). Idle ones (nothing
 * running or queued; they keep only a duration average) are also threaded on an intrusive
 * doubly-linked list in the order they became idle, so the least recently used idle one is its
 * head: a new key evicts it in O(1), and when every compartment is busy a call for a new key is
 * rejected at once, so memory stays bounded. A call costs one map lookup and a few pointer moves.
 *
 * Queue timeouts use one timer per compartment, armed for the queue head only and cleared when the
 * queue empties. It is not unref'd: queued callers are awaiting it (see util/timer-queue.ts).
 */
import { type Criticality, getContext } from '../context/context.js';
import { BulkheadFullError, CancelledError, QueueTimeoutError } from '../errors/bulwark-error.js';
import type { EventStream } from '../telemetry/events.js';
import type { Closeable, ExecuteOptions, Operation, Policy } from '../types.js';
import { IdleList, type IdleNode } from '../util/idle-list.js';
import { abortReason, NEVER_ABORTED_SIGNAL } from '../util/time.js';
import {
  type BulkheadOptions,
  type CompartmentLimits,
  criticalityIndex,
  limitsFor,
  type ResolvedBulkheadOptions,
  resolveBulkheadOptions,
} from './bulkhead-options.js';

export {
  type BulkheadLimit,
  type BulkheadOptions,
  type BulkheadShares,
  checkBulkheadOptions,
  type ResolvedBulkheadOptions,
  resolveBulkheadOptions,
} from './bulkhead-options.js';

/** Frees a bulkhead slot; calling it more than once does nothing. */
export type BulkheadRelease = () => void;

/** Occupancy of one keyed compartment. */
export interface BulkheadStats {
  /** Calls holding a slot. */
  running: number;
  /** Calls waiting for a slot. */
  queued: number;
  /** Slots of this key. */
  maxConcurrent: number;
  /** Queue capacity of this key. */
  maxQueue: number;
}

/** A keyed bulkhead policy; `acquire` holds a slot across work that is not one function call. */
export interface BulkheadPolicy extends Policy, Closeable {
  /**
   * Waits for a slot for `key` (default 'default') and resolves with its idempotent release
   * function. `criticality` and `caller` default to the request context's.
   */
  acquire(
    key?: string,
    signal?: AbortSignal,
    criticality?: Criticality,
    caller?: string,
  ): Promise<BulkheadRelease>;
  /**
   * Takes a free slot for `key` (default 'default') synchronously and returns its idempotent
   * release function, or returns undefined when none is free at once (full, this criticality's
   * share or this caller's share taken, closed, or every key busy): then call
   * {@link BulkheadPolicy.acquire} to queue or be rejected. Emits nothing and allocates no promise.
   */
  tryAcquire(key?: string, criticality?: Criticality, caller?: string): BulkheadRelease | undefined;
  /**
   * Like {@link BulkheadPolicy.tryAcquire} without a release closure: takes a free slot of `key`'s
   * compartment and returns the compartment, to hand back once with {@link BulkheadPolicy.leave}
   * (with the same `caller`).
   */
  tryEnter(key: string, criticality?: Criticality, caller?: string): BulkheadCompartment | undefined;
  /** Frees a slot taken by {@link BulkheadPolicy.tryEnter} at `enteredAt` (epoch ms); call exactly once. */
  leave(compartment: BulkheadCompartment, enteredAt: number, caller?: string): void;
  /** Occupancy of `key` (default 'default'); zeros for a key never seen. */
  stats(key?: string): BulkheadStats;
  /** Rejects every queued call with a CancelledError, clears timers and forgets every key. Idempotent. */
  close(): void;
}

/** A keyed compartment of a bulkhead, as {@link BulkheadPolicy.tryEnter} hands it out (opaque). */
export interface BulkheadCompartment {
  /** The key it serves. */
  readonly key: string;
}

interface Waiter {
  prev: Waiter | undefined;
  next: Waiter | undefined;
  linked: boolean;
  deadline: number;
  /** Criticality index (0 sheddable, 1 default, 2 critical). */
  cls: number;
  caller: string | undefined;
  resolve: (release: BulkheadRelease) => void;
  reject: (error: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
  correlationId: string | undefined;
}

/** Slots and queue places one caller holds in a compartment (fairness only). */
interface Held {
  running: number;
  queued: number;
}

class Compartment implements IdleNode<Compartment> {
  running = 0;
  queued = 0;
  /** Waiters per criticality index (created with the first waiter: most compartments never queue). */
  waiting: number[] | undefined = undefined;
  head: Waiter | undefined = undefined;
  tail: Waiter | undefined = undefined;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** EWMA of (sampled) run durations in ms; -1 until the first timed release. */
  ewmaMs = -1;
  /** Calls entered through `execute`'s fast path, for sampling their durations. */
  calls = 0;
  /** What each caller holds, when fairness is on (entries with nothing held are deleted). */
  callers: Map<string, Held> | undefined = undefined;
  /** Neighbours on the idle list (only while idle). */
  prevIdle: Compartment | undefined = undefined;
  nextIdle: Compartment | undefined = undefined;
  onIdleList = false;
  constructor(
    readonly key: string,
    readonly l: CompartmentLimits,
  ) {}
}

/** Weight of the newest sample in the run-duration average. */
const EWMA_ALPHA = 0.2;
/** One fast-path call in 8 is timed for the average (a power of two; the mask is SAMPLE_EVERY - 1). */
const SAMPLE_EVERY = 8;
const SAMPLE_MASK = SAMPLE_EVERY - 1;

class Bulkhead implements BulkheadPolicy {
  readonly name: string;
  private readonly o: ResolvedBulkheadOptions;
  private readonly queueTimeoutMs: number;
  private readonly maxKeys: number;
  private readonly fair: boolean;
  private readonly events: EventStream;
  private readonly all = new Map<string, Compartment>();
  /** Idle compartments, least recently used first. */
  private readonly idle = new IdleList<Compartment>();
  private closed = false;

  constructor(options: BulkheadOptions) {
    const o = resolveBulkheadOptions(options);
    this.o = o;
    this.name = o.name;
    this.queueTimeoutMs = o.queueTimeoutMs;
    this.maxKeys = o.maxKeys;
    this.fair = o.fair;
    this.events = o.events;
  }

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const signal = options?.signal;
    const attempt = options?.attempt ?? 1;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const caller = this.fair ? (options?.caller ?? getContext()?.caller) : undefined;
    // Fast path: a free slot is taken synchronously, with no release closure and no extra promise.
    const c = this.tryEnter(options?.key ?? 'default', undefined, caller);
    // Run durations feed the Retry-After estimate; one call in SAMPLE_EVERY is timed (Date.now()
    // twice per call was a third of the fast path's cost), the compartment's first call included.
    if (c !== undefined)
      return this.runIn(c, (c.calls++ & SAMPLE_MASK) === 0 ? Date.now() : -1, fn, signal, attempt, caller);
    return this.queued(fn, options?.key, signal, attempt, caller);
  }

  /**
   * Runs `fn` in a slot taken at `started` and frees it when `fn` settles. Plain `then` instead of
   * an async function with try/finally: no extra async frame on the hot path.
   */
  private runIn<T>(
    c: Compartment,
    started: number,
    fn: Operation<T>,
    signal: AbortSignal | undefined,
    attempt: number,
    caller: string | undefined,
  ): Promise<T> {
    let result: Promise<T> | T;
    try {
      result = fn(signal ?? NEVER_ABORTED_SIGNAL, attempt);
    } catch (error) {
      this.release(c, started < 0 ? -1 : Date.now() - started, caller);
      return Promise.reject(error);
    }
    if (!(result instanceof Promise)) {
      // A thenable or a plain value: adopt it, then free the slot.
      result = Promise.resolve(result);
    }
    return result.then(
      (value) => {
        this.release(c, started < 0 ? -1 : Date.now() - started, caller);
        return value;
      },
      (error: unknown) => {
        this.release(c, started < 0 ? -1 : Date.now() - started, caller);
        throw error;
      },
    );
  }

  private async queued<T>(
    fn: Operation<T>,
    key: string | undefined,
    signal: AbortSignal | undefined,
    attempt: number,
    caller: string | undefined,
  ): Promise<T> {
    const release = await this.acquire(key, signal, undefined, caller);
    try {
      // The slot may have been handed over just before the caller gave up.
      if (signal?.aborted) throw abortReason(signal);
      return await fn(signal ?? NEVER_ABORTED_SIGNAL, attempt);
    } finally {
      release();
    }
  }

  tryAcquire(key = 'default', criticality?: Criticality, caller?: string): BulkheadRelease | undefined {
    const who = this.fair ? (caller ?? getContext()?.caller) : undefined;
    const c = this.tryEnter(key, criticality, who);
    return c === undefined ? undefined : this.releaser(c, who);
  }

  leave(compartment: BulkheadCompartment, enteredAt: number, caller?: string): void {
    this.release(compartment as Compartment, Date.now() - enteredAt, caller);
  }

  tryEnter(key: string, criticality?: Criticality, caller?: string): Compartment | undefined {
    if (this.closed) return undefined;
    const c = this.compartment(key);
    if (c === undefined) return undefined;
    // Below the lowest share nothing about the call matters (waiters only exist above it).
    if (c.running < c.l.open && !this.fair) {
      if (c.running++ === 0) this.idle.unlink(c);
      return c;
    }
    const cls = criticalityIndex(criticality ?? getContext()?.criticality);
    if (!this.admissible(c, cls, caller)) return undefined;
    this.take(c, caller);
    return c;
  }

  acquire(
    key = 'default',
    signal?: AbortSignal,
    criticality?: Criticality,
    caller?: string,
  ): Promise<BulkheadRelease> {
    if (this.closed)
      return Promise.reject(new CancelledError({ message: 'The bulkhead is closed.', policy: this.name }));
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const c = this.compartment(key);
    if (c === undefined) return Promise.reject(this.full(key, undefined));
    const ctx = getContext();
    const cls = criticalityIndex(criticality ?? ctx?.criticality);
    const who = this.fair ? (caller ?? ctx?.caller) : undefined;
    if (this.admissible(c, cls, who)) {
      this.take(c, who);
      return Promise.resolve(this.releaser(c, who));
    }
    if (!this.roomInQueue(c, cls, who)) return Promise.reject(this.full(key, c, who));
    return new Promise((resolve, reject) => this.enqueue(c, cls, who, resolve, reject, signal));
  }

  stats(key = 'default'): BulkheadStats {
    const c = this.all.get(key);
    const l = c?.l ?? limitsFor(this.o, key);
    return {
      running: c?.running ?? 0,
      queued: c?.queued ?? 0,
      maxConcurrent: l.maxConcurrent,
      maxQueue: l.maxQueue,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.all.values()) {
      if (c.timer !== undefined) clearTimeout(c.timer);
      c.timer = undefined;
      for (let w = c.head; w !== undefined; w = c.head) {
        this.unlink(c, w);
        w.reject(
          new CancelledError({
            message: 'The bulkhead was closed while the call was queued.',
            policy: this.name,
          }),
        );
      }
    }
    this.all.clear();
    this.idle.clear();
  }

  /** A call of criticality `cls` from `caller` may take a slot now: its share is not full, nor its caller's. */
  private admissible(c: Compartment, cls: number, caller: string | undefined): boolean {
    if (c.running >= (c.l.slots[cls] as number)) return false;
    return caller === undefined || c.callers === undefined || this.held(c, caller).running < c.l.perCaller;
  }

  private take(c: Compartment, caller: string | undefined): void {
    if (c.running++ === 0) this.idle.unlink(c);
    if (this.fair && caller !== undefined) this.hold(c, caller).running++;
  }

  /**
   * Room in the queue for a call of criticality `cls`: under its share of the queue (and its
   * caller's), or else by pushing out the newest waiter of a lower criticality.
   */
  private roomInQueue(c: Compartment, cls: number, caller: string | undefined): boolean {
    if (caller !== undefined && c.callers !== undefined && this.held(c, caller).queued >= c.l.perCallerQueue)
      return false;
    if (c.queued < (c.l.queue[cls] as number)) return true;
    for (let lower = 0; lower < cls; lower++) {
      if (c.waiting === undefined || c.waiting[lower] === 0) continue;
      for (let w = c.tail; w !== undefined; w = w.prev) {
        if (w.cls !== lower) continue;
        this.unlink(c, w);
        this.afterDequeue(c);
        w.reject(this.full(c.key, c, undefined, 'a more critical request took its place in the queue'));
        return true;
      }
    }
    return false;
  }

  /** What `caller` holds in `c` (fairness on); a zero entry when none. */
  private held(c: Compartment, caller: string): Held {
    return c.callers?.get(caller) ?? ZERO;
  }

  private hold(c: Compartment, caller: string): Held {
    c.callers ??= new Map();
    let h = c.callers.get(caller);
    if (h === undefined) {
      h = { running: 0, queued: 0 };
      c.callers.set(caller, h);
    }
    return h;
  }

  private unhold(c: Compartment, caller: string, field: 'running' | 'queued'): void {
    const h = c.callers?.get(caller);
    if (h === undefined) return;
    h[field]--;
    if (h.running <= 0 && h.queued <= 0) c.callers?.delete(caller);
  }

  /** The compartment for `key`, or undefined when `maxKeys` compartments are all busy. */
  private compartment(key: string): Compartment | undefined {
    const found = this.all.get(key);
    if (found !== undefined) return found;
    if (this.all.size >= this.maxKeys) {
      const oldest = this.idle.oldest;
      if (oldest === undefined) return undefined;
      this.idle.unlink(oldest);
      this.all.delete(oldest.key);
    }
    const c = new Compartment(key, this.o.classes.length === 0 ? this.o.base : limitsFor(this.o, key));
    this.all.set(key, c);
    this.idle.append(c);
    return c;
  }

  private releaser(c: Compartment, caller: string | undefined): BulkheadRelease {
    const started = Date.now();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.release(c, Date.now() - started, caller);
    };
  }

  /** Frees a slot of `c` held by `caller`; `ranMs` is how long the call held it, or -1 when it was not timed. */
  private release(c: Compartment, ranMs: number, caller?: string): void {
    if (ranMs >= 0) c.ewmaMs = c.ewmaMs < 0 ? ranMs : c.ewmaMs + (ranMs - c.ewmaMs) * EWMA_ALPHA;
    if (caller !== undefined && c.callers !== undefined) this.unhold(c, caller, 'running');
    const next = c.head === undefined ? undefined : this.nextWaiter(c);
    if (next !== undefined) {
      // Hand the slot straight to the next waiter: `running` is unchanged.
      this.unlink(c, next);
      this.afterDequeue(c);
      if (next.caller !== undefined && this.fair) this.hold(c, next.caller).running++;
      next.resolve(this.releaser(c, next.caller));
      return;
    }
    c.running--;
    if (c.running === 0 && !this.closed) this.idle.append(c);
  }

  /**
   * The waiter a slot being freed goes to: the oldest of the highest criticality whose share (after
   * this slot is freed) and whose caller's share allow it; undefined when none may take it. With
   * one criticality queued and no fairness, the head.
   */
  private nextWaiter(c: Compartment): Waiter | undefined {
    const after = c.running - 1;
    const head = c.head as Waiter;
    const waiting = c.waiting as number[];
    if (!this.fair && waiting[head.cls] === c.queued)
      return after < (c.l.slots[head.cls] as number) ? head : undefined;
    for (let cls = 2; cls >= 0; cls--) {
      if (waiting[cls] === 0 || after >= (c.l.slots[cls] as number)) continue;
      for (let w = c.head; w !== undefined; w = w.next) {
        if (w.cls !== cls) continue;
        if (
          w.caller !== undefined &&
          c.callers !== undefined &&
          this.held(c, w.caller).running >= c.l.perCaller
        )
          continue;
        return w;
      }
    }
    return undefined;
  }

  private enqueue(
    c: Compartment,
    cls: number,
    caller: string | undefined,
    resolve: (release: BulkheadRelease) => void,
    reject: (error: Error) => void,
    signal: AbortSignal | undefined,
  ): void {
    const w: Waiter = {
      prev: c.tail,
      next: undefined,
      linked: true,
      deadline: Date.now() + this.queueTimeoutMs,
      cls,
      caller,
      resolve,
      reject,
      signal,
      onAbort: () => {
        if (!w.linked || signal === undefined) return;
        this.unlink(c, w);
        this.afterDequeue(c);
        reject(abortReason(signal));
      },
      correlationId: getContext()?.correlationId,
    };
    if (c.tail !== undefined) c.tail.next = w;
    else c.head = w;
    c.tail = w;
    c.queued++;
    c.waiting ??= [0, 0, 0];
    (c.waiting[cls] as number)++;
    if (this.fair && caller !== undefined) this.hold(c, caller).queued++;
    signal?.addEventListener('abort', w.onAbort, { once: true });
    if (c.timer === undefined) this.arm(c, this.queueTimeoutMs);
  }

  /** O(1) removal from the queue; also detaches the abort listener and the caller's count. */
  private unlink(c: Compartment, w: Waiter): void {
    if (!w.linked) return;
    w.linked = false;
    if (w.prev !== undefined) w.prev.next = w.next;
    else c.head = w.next;
    if (w.next !== undefined) w.next.prev = w.prev;
    else c.tail = w.prev;
    w.prev = undefined;
    w.next = undefined;
    c.queued--;
    const waiting = c.waiting as number[];
    waiting[w.cls] = (waiting[w.cls] as number) - 1;
    if (w.caller !== undefined && c.callers !== undefined) this.unhold(c, w.caller, 'queued');
    w.signal?.removeEventListener('abort', w.onAbort);
  }

  private afterDequeue(c: Compartment): void {
    if (c.queued === 0 && c.timer !== undefined) {
      clearTimeout(c.timer);
      c.timer = undefined;
    }
  }

  private arm(c: Compartment, delayMs: number): void {
    c.timer = setTimeout(() => this.expire(c), Math.max(0, delayMs));
  }

  /**
   * Fires for the head's deadline (or an earlier head's: the timer is not re-armed when the head
   * leaves early). Deadlines are FIFO-ordered (a waiter leaving from the middle keeps the order), so
   * it rejects expired waiters from the head and re-arms for the first one left.
   */
  private expire(c: Compartment): void {
    c.timer = undefined;
    const now = Date.now();
    for (let w = c.head; w !== undefined && w.deadline <= now; w = c.head) {
      this.unlink(c, w);
      this.emitRejected('queue-timeout', c.key, c.running, c.queued, w.correlationId);
      w.reject(
        new QueueTimeoutError({
          message: `Waited more than ${this.queueTimeoutMs} ms for a bulkhead slot (key "${c.key}").`,
          policy: this.name,
          retryAfterMs: this.retryAfterMs(c),
        }),
      );
    }
    if (c.head !== undefined) this.arm(c, c.head.deadline - now);
  }

  /** Estimated wait for a slot: the average run duration, else the queue timeout, else 1s. */
  private retryAfterMs(c: Compartment | undefined): number {
    if (c !== undefined && c.ewmaMs >= 0) return Math.max(1, Math.round(c.ewmaMs));
    return this.queueTimeoutMs > 0 ? this.queueTimeoutMs : 1000;
  }

  private full(key: string, c: Compartment | undefined, caller?: string, why?: string): BulkheadFullError {
    this.emitRejected('full', key, c?.running ?? 0, c?.queued ?? 0, undefined);
    const detail =
      c === undefined
        ? `Every one of the ${this.maxKeys} bulkhead keys is busy; no compartment for key "${key}".`
        : why !== undefined
          ? `Bulkhead for key "${key}" is full: ${why}.`
          : caller !== undefined && c.callers !== undefined && this.held(c, caller).running >= c.l.perCaller
            ? `Bulkhead for key "${key}": this caller already holds its share of the slots and queue.`
            : `Bulkhead for key "${key}" is full (${c.running} running, ${c.queued} queued).`;
    return new BulkheadFullError({ message: detail, policy: this.name, retryAfterMs: this.retryAfterMs(c) });
  }

  private emitRejected(
    reason: 'full' | 'queue-timeout',
    key: string,
    running: number,
    queued: number,
    correlationId: string | undefined,
  ): void {
    if (!this.events.active) return;
    this.events.emit({
      type: 'bulkhead.rejected',
      reason,
      running,
      queued,
      policy: this.name,
      key,
      correlationId: correlationId ?? getContext()?.correlationId,
    });
  }
}

const ZERO: Held = Object.freeze({ running: 0, queued: 0 }) as Held;

/**
 * Creates a keyed bulkhead: bounded concurrency plus a bounded FIFO queue with a queue timeout,
 * criticality-aware shares, an optional per-caller share and per-class limits.
 * @example
 * const bh = bulkhead({ maxConcurrent: 4, maxQueue: 20, queueTimeout: '500ms' });
 * await bh.execute((signal) => fetch(url, { signal }), { key: 'tenant-a' });
 * const release = await bh.acquire('route:/upload'); try { ... } finally { release(); }
 */
export function bulkhead(options: BulkheadOptions = {}): BulkheadPolicy {
  return new Bulkhead(options);
}
