/**
 * Bulkhead: at most `maxConcurrent` calls run per key, at most `maxQueue` wait (FIFO) for at
 * most `queueTimeout`. A full bulkhead rejects at once.
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
import { getContext } from '../context/context.js';
import { BulkheadFullError, CancelledError, QueueTimeoutError } from '../errors/bulwark-error.js';
import { defaultEvents, type EventStream } from '../telemetry/events.js';
import type { Closeable, CommonPolicyOptions, ExecuteOptions, Operation, Policy } from '../types.js';
import {
  commonFields,
  duration,
  Issues,
  nonNegInt,
  positiveInt,
  shape,
  throwIfIssues,
} from '../util/checks.js';
import { type Duration, parseDuration } from '../util/duration.js';
import { IdleList, type IdleNode } from '../util/idle-list.js';
import { abortReason, NEVER_ABORTED_SIGNAL } from '../util/time.js';

/** Bulkhead options. */
export interface BulkheadOptions extends CommonPolicyOptions {
  /** Calls run at once per key. Default 10. */
  maxConcurrent?: number;
  /** Calls waiting per key. Default 0. */
  maxQueue?: number;
  /** Longest wait in the queue (at most the timer maximum). Default 1s. */
  queueTimeout?: Duration;
  /** Keyed bulkheads kept at most (LRU; a busy one is never evicted). Default 1000. */
  maxKeys?: number;
}

/** Bulkhead options after {@link resolveBulkheadOptions}. */
export interface ResolvedBulkheadOptions {
  readonly name: string;
  readonly events: EventStream;
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  readonly queueTimeoutMs: number;
  readonly maxKeys: number;
}

const bulkheadShape = shape(
  {
    maxConcurrent: positiveInt,
    maxQueue: nonNegInt,
    queueTimeout: duration(),
    maxKeys: positiveInt,
    ...commonFields,
  },
  {
    aliases: {
      concurrency: 'maxConcurrent',
      limit: 'maxConcurrent',
      queue: 'maxQueue',
      queueSize: 'maxQueue',
    },
  },
);

/** Checks bulkhead options at `path`, collecting every problem in `issues`. */
export function checkBulkheadOptions(input: unknown, path: string, issues: Issues): void {
  bulkheadShape(input, path, issues);
}

/** Validates and defaults bulkhead options once; throws one InvalidConfigError listing every problem. */
export function resolveBulkheadOptions(input: BulkheadOptions = {}): ResolvedBulkheadOptions {
  const issues = new Issues();
  checkBulkheadOptions(input, 'bulkhead', issues);
  throwIfIssues(issues);
  return Object.freeze({
    name: input.name ?? 'bulkhead',
    events: input.events ?? defaultEvents,
    maxConcurrent: input.maxConcurrent ?? 10,
    maxQueue: input.maxQueue ?? 0,
    queueTimeoutMs: input.queueTimeout === undefined ? 1000 : (parseDuration(input.queueTimeout) as number),
    maxKeys: input.maxKeys ?? 1000,
  });
}

/** Frees a bulkhead slot; calling it more than once does nothing. */
export type BulkheadRelease = () => void;

/** Occupancy of one keyed compartment. */
export interface BulkheadStats {
  /** Calls holding a slot. */
  running: number;
  /** Calls waiting for a slot. */
  queued: number;
  /** Slots per key. */
  maxConcurrent: number;
  /** Queue capacity per key. */
  maxQueue: number;
}

/** A keyed bulkhead policy; `acquire` holds a slot across work that is not one function call. */
export interface BulkheadPolicy extends Policy, Closeable {
  /** Waits for a slot for `key` (default 'default') and resolves with its idempotent release function. */
  acquire(key?: string, signal?: AbortSignal): Promise<BulkheadRelease>;
  /**
   * Takes a free slot for `key` (default 'default') synchronously and returns its idempotent
   * release function, or returns undefined when none is free at once (full, queue non-empty,
   * closed, or every key busy): then call {@link BulkheadPolicy.acquire} to queue or be rejected.
   * Emits nothing and allocates no promise.
   */
  tryAcquire(key?: string): BulkheadRelease | undefined;
  /**
   * Like {@link BulkheadPolicy.tryAcquire} without a release closure: takes a free slot of `key`'s
   * compartment and returns the compartment, to hand back once with {@link BulkheadPolicy.leave}.
   */
  tryEnter(key: string): BulkheadCompartment | undefined;
  /** Frees a slot taken by {@link BulkheadPolicy.tryEnter} at `enteredAt` (epoch ms); call exactly once. */
  leave(compartment: BulkheadCompartment, enteredAt: number): void;
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
  resolve: (release: BulkheadRelease) => void;
  reject: (error: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
  correlationId: string | undefined;
}

class Compartment implements IdleNode<Compartment> {
  running = 0;
  queued = 0;
  head: Waiter | undefined = undefined;
  tail: Waiter | undefined = undefined;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** EWMA of (sampled) run durations in ms; -1 until the first timed release. */
  ewmaMs = -1;
  /** Calls entered through `execute`'s fast path, for sampling their durations. */
  calls = 0;
  /** Neighbours on the idle list (only while idle). */
  prevIdle: Compartment | undefined = undefined;
  nextIdle: Compartment | undefined = undefined;
  onIdleList = false;
  constructor(readonly key: string) {}
}

/** Weight of the newest sample in the run-duration average. */
const EWMA_ALPHA = 0.2;
/** One fast-path call in 8 is timed for the average (a power of two; the mask is SAMPLE_EVERY - 1). */
const SAMPLE_EVERY = 8;
const SAMPLE_MASK = SAMPLE_EVERY - 1;

class Bulkhead implements BulkheadPolicy {
  readonly name: string;
  private readonly maxConcurrent: number;
  private readonly maxQueue: number;
  private readonly queueTimeoutMs: number;
  private readonly maxKeys: number;
  private readonly events: EventStream;
  private readonly all = new Map<string, Compartment>();
  /** Idle compartments, least recently used first. */
  private readonly idle = new IdleList<Compartment>();
  private closed = false;

  constructor(options: BulkheadOptions) {
    const o = resolveBulkheadOptions(options);
    this.name = o.name;
    this.maxConcurrent = o.maxConcurrent;
    this.maxQueue = o.maxQueue;
    this.queueTimeoutMs = o.queueTimeoutMs;
    this.maxKeys = o.maxKeys;
    this.events = o.events;
  }

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const signal = options?.signal;
    const attempt = options?.attempt ?? 1;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    // Fast path: a free slot is taken synchronously, with no release closure and no extra promise.
    const c = this.tryEnter(options?.key ?? 'default');
    // Run durations feed the Retry-After estimate; one call in SAMPLE_EVERY is timed (Date.now()
    // twice per call was a third of the fast path's cost), the compartment's first call included.
    if (c !== undefined)
      return this.runIn(c, (c.calls++ & SAMPLE_MASK) === 0 ? Date.now() : -1, fn, signal, attempt);
    return this.queued(fn, options?.key, signal, attempt);
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
  ): Promise<T> {
    let result: Promise<T> | T;
    try {
      result = fn(signal ?? NEVER_ABORTED_SIGNAL, attempt);
    } catch (error) {
      this.release(c, started < 0 ? -1 : Date.now() - started);
      return Promise.reject(error);
    }
    if (!(result instanceof Promise)) {
      // A thenable or a plain value: adopt it, then free the slot.
      result = Promise.resolve(result);
    }
    return result.then(
      (value) => {
        this.release(c, started < 0 ? -1 : Date.now() - started);
        return value;
      },
      (error: unknown) => {
        this.release(c, started < 0 ? -1 : Date.now() - started);
        throw error;
      },
    );
  }

  private async queued<T>(
    fn: Operation<T>,
    key: string | undefined,
    signal: AbortSignal | undefined,
    attempt: number,
  ): Promise<T> {
    const release = await this.acquire(key, signal);
    try {
      // The slot may have been handed over just before the caller gave up.
      if (signal?.aborted) throw abortReason(signal);
      return await fn(signal ?? NEVER_ABORTED_SIGNAL, attempt);
    } finally {
      release();
    }
  }

  tryAcquire(key = 'default'): BulkheadRelease | undefined {
    const c = this.tryEnter(key);
    return c === undefined ? undefined : this.releaser(c);
  }

  leave(compartment: BulkheadCompartment, enteredAt: number): void {
    this.release(compartment as Compartment, Date.now() - enteredAt);
  }

  tryEnter(key: string): Compartment | undefined {
    if (this.closed) return undefined;
    const c = this.compartment(key);
    // A non-empty queue means no free slot (waiters get slots first), so FIFO order holds.
    if (c === undefined || c.running >= this.maxConcurrent) return undefined;
    if (c.running++ === 0) this.idle.unlink(c);
    return c;
  }

  acquire(key = 'default', signal?: AbortSignal): Promise<BulkheadRelease> {
    if (this.closed)
      return Promise.reject(new CancelledError({ message: 'The bulkhead is closed.', policy: this.name }));
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const c = this.compartment(key);
    if (c === undefined) return Promise.reject(this.full(key, undefined));
    if (c.running < this.maxConcurrent) {
      if (c.running++ === 0) this.idle.unlink(c);
      return Promise.resolve(this.releaser(c));
    }
    if (c.queued >= this.maxQueue) return Promise.reject(this.full(key, c));
    return new Promise((resolve, reject) => this.enqueue(c, resolve, reject, signal));
  }

  stats(key = 'default'): BulkheadStats {
    const c = this.all.get(key);
    return {
      running: c?.running ?? 0,
      queued: c?.queued ?? 0,
      maxConcurrent: this.maxConcurrent,
      maxQueue: this.maxQueue,
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
    const c = new Compartment(key);
    this.all.set(key, c);
    this.idle.append(c);
    return c;
  }

  private releaser(c: Compartment): BulkheadRelease {
    const started = Date.now();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.release(c, Date.now() - started);
    };
  }

  /** Frees a slot of `c`; `ranMs` is how long the call held it, or -1 when it was not timed. */
  private release(c: Compartment, ranMs: number): void {
    if (ranMs >= 0) c.ewmaMs = c.ewmaMs < 0 ? ranMs : c.ewmaMs + (ranMs - c.ewmaMs) * EWMA_ALPHA;
    const next = c.head;
    if (next !== undefined) {
      // Hand the slot straight to the next waiter: `running` is unchanged.
      this.unlink(c, next);
      this.afterDequeue(c);
      next.resolve(this.releaser(c));
      return;
    }
    c.running--;
    if (c.running === 0 && !this.closed) this.idle.append(c);
  }

  private enqueue(
    c: Compartment,
    resolve: (release: BulkheadRelease) => void,
    reject: (error: Error) => void,
    signal: AbortSignal | undefined,
  ): void {
    const w: Waiter = {
      prev: c.tail,
      next: undefined,
      linked: true,
      deadline: Date.now() + this.queueTimeoutMs,
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
    signal?.addEventListener('abort', w.onAbort, { once: true });
    if (c.timer === undefined) this.arm(c, this.queueTimeoutMs);
  }

  /** O(1) removal from the queue; also detaches the abort listener. */
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
   * leaves early). Deadlines are FIFO-ordered, so it rejects expired waiters from the head and
   * re-arms for the first one left.
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

  private full(key: string, c: Compartment | undefined): BulkheadFullError {
    this.emitRejected('full', key, c?.running ?? 0, c?.queued ?? 0, undefined);
    const detail =
      c === undefined
        ? `Every one of the ${this.maxKeys} bulkhead keys is busy; no compartment for key "${key}".`
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

/**
 * Creates a keyed bulkhead: bounded concurrency plus a bounded FIFO queue with a queue timeout.
 * @example
 * const bh = bulkhead({ maxConcurrent: 4, maxQueue: 20, queueTimeout: '500ms' });
 * await bh.execute((signal) => fetch(url, { signal }), { key: 'tenant-a' });
 * const release = await bh.acquire('route:/upload'); try { ... } finally { release(); }
 */
export function bulkhead(options: BulkheadOptions = {}): BulkheadPolicy {
  return new Bulkhead(options);
}
