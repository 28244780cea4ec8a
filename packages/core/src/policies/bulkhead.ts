/**
 * Bulkhead: at most `maxConcurrent` calls run per key, at most `maxQueue` wait (FIFO) for at
 * most `queueTimeout`. A full bulkhead rejects at once.
 *
 * Key bookkeeping: idle compartments (nothing running or queued; they keep only a duration
 * average) live in an LRU; busy ones live in a plain map and are never evicted. Together they
 * hold at most `maxKeys` compartments: a new key evicts the oldest idle one, and when every
 * compartment is busy a call for a new key is rejected at once, so memory stays bounded.
 *
 * Queue timeouts use one unref'd timer per compartment, armed for the queue head only.
 */
import { getContext } from '../context/context.js';
import { BulkheadFullError, CancelledError, QueueTimeoutError } from '../errors/bulwark-error.js';
import { defaultEvents, type EventStream } from '../telemetry/events.js';
import type { Closeable, ExecuteOptions, Operation, Policy } from '../types.js';
import { BoundedMap } from '../util/bounded-map.js';
import { toMs } from '../util/duration.js';
import { abortReason } from '../util/time.js';
import type { BulkheadOptions } from './options.js';

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
  /** Occupancy of `key` (default 'default'); zeros for a key never seen. */
  stats(key?: string): BulkheadStats;
  /** Rejects every queued call with a CancelledError, clears timers and forgets every key. Idempotent. */
  close(): void;
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

class Compartment {
  running = 0;
  queued = 0;
  head: Waiter | undefined = undefined;
  tail: Waiter | undefined = undefined;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** EWMA of run durations in ms; -1 until the first release. */
  ewmaMs = -1;
  busy = false;
  constructor(readonly key: string) {}
}

/** Weight of the newest sample in the run-duration average. */
const EWMA_ALPHA = 0.2;
/** Handed to `fn` when the caller gave no signal; nobody can abort it. */
const NEVER_ABORTED = new AbortController().signal;

function positiveInt(value: unknown, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    const what = min === 0 ? 'a non-negative integer' : 'a positive integer';
    throw new TypeError(`Expected \`${name}\` to be ${what}; got ${JSON.stringify(value)}.`);
  }
  return value;
}

class Bulkhead implements BulkheadPolicy {
  readonly name: string;
  private readonly maxConcurrent: number;
  private readonly maxQueue: number;
  private readonly queueTimeoutMs: number;
  private readonly maxKeys: number;
  private readonly events: EventStream;
  private readonly idle: BoundedMap<string, Compartment>;
  private readonly busy = new Map<string, Compartment>();
  private closed = false;

  constructor(options: BulkheadOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Expected bulkhead \`options\` to be an object; got ${JSON.stringify(options)}.`);
    }
    if (options.name !== undefined && typeof options.name !== 'string') {
      throw new TypeError(`Expected \`name\` to be a string; got ${JSON.stringify(options.name)}.`);
    }
    this.name = options.name ?? 'bulkhead';
    this.maxConcurrent = positiveInt(options.maxConcurrent, 'maxConcurrent', 10, 1);
    this.maxQueue = positiveInt(options.maxQueue, 'maxQueue', 0, 0);
    this.queueTimeoutMs =
      options.queueTimeout === undefined ? 1000 : toMs(options.queueTimeout, 'queueTimeout');
    this.maxKeys = positiveInt(options.maxKeys, 'maxKeys', 1000, 1);
    this.events = options.events ?? defaultEvents;
    this.idle = new BoundedMap(this.maxKeys);
  }

  async execute<T>(fn: Operation<T>, options: ExecuteOptions = {}): Promise<T> {
    const signal = options.signal;
    const release = await this.acquire(options.key, signal);
    try {
      // The slot may have been handed over just before the caller gave up.
      if (signal?.aborted) throw abortReason(signal);
      return await fn(signal ?? NEVER_ABORTED, options.attempt ?? 1);
    } finally {
      release();
    }
  }

  acquire(key = 'default', signal?: AbortSignal): Promise<BulkheadRelease> {
    if (this.closed)
      return Promise.reject(new CancelledError({ message: 'The bulkhead is closed.', policy: this.name }));
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const c = this.compartment(key);
    if (c === undefined) return Promise.reject(this.full(key, undefined));
    if (c.running < this.maxConcurrent) {
      c.running++;
      if (!c.busy) {
        c.busy = true;
        this.idle.delete(key);
        this.busy.set(key, c);
      }
      return Promise.resolve(this.releaser(c));
    }
    if (c.queued >= this.maxQueue) return Promise.reject(this.full(key, c));
    return new Promise((resolve, reject) => this.enqueue(c, resolve, reject, signal));
  }

  stats(key = 'default'): BulkheadStats {
    const c = this.busy.get(key) ?? this.idle.peek(key);
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
    for (const c of this.busy.values()) {
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
    this.busy.clear();
    this.idle.clear();
  }

  /** The compartment for `key`, or undefined when `maxKeys` compartments are all busy. */
  private compartment(key: string): Compartment | undefined {
    const found = this.busy.get(key) ?? this.idle.get(key);
    if (found !== undefined) return found;
    if (this.busy.size + this.idle.size >= this.maxKeys) {
      const oldest = this.idle.entries().next();
      if (oldest.done) return undefined;
      this.idle.delete(oldest.value[0]);
    }
    const c = new Compartment(key);
    this.idle.set(key, c);
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

  private release(c: Compartment, ranMs: number): void {
    c.ewmaMs = c.ewmaMs < 0 ? ranMs : c.ewmaMs + (ranMs - c.ewmaMs) * EWMA_ALPHA;
    const next = c.head;
    if (next !== undefined) {
      // Hand the slot straight to the next waiter: `running` is unchanged.
      this.unlink(c, next);
      this.afterDequeue(c);
      next.resolve(this.releaser(c));
      return;
    }
    c.running--;
    if (c.running === 0 && c.busy && !this.closed) {
      c.busy = false;
      this.busy.delete(c.key);
      this.idle.set(c.key, c);
    }
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
    c.timer.unref?.();
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
