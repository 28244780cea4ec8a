/**
 * Timeout: bounds an operation by its own limit and by the request's deadline, aborts the signal it
 * handed in when the limit is hit, and rejects at once instead of waiting for the work to notice.
 */
import { getContext } from '../context/context.js';
import { DeadlineExceededError, TimeoutError } from '../errors/bulwark-error.js';
import { defaultEvents, type EventStream } from '../telemetry/events.js';
import type { CommonPolicyOptions, ExecuteOptions, Operation, Policy } from '../types.js';
import {
  commonFields,
  Issues,
  isPlainObject,
  oneOf,
  positiveDuration,
  shape,
  throwIfIssues,
} from '../util/checks.js';
import { type Duration, parseDuration, toMs } from '../util/duration.js';
import { abortReason, NEVER_ABORTED_SIGNAL } from '../util/time.js';
import { TimerTask, timerQueue } from '../util/timer-queue.js';

/** Timeout options. */
export interface TimeoutOptions extends CommonPolicyOptions {
  /** Time allowed (greater than zero, at most the timer maximum). */
  timeout: Duration;
  /** 'attempt' (inside retry) or 'total' (outside retry); only labels events. Default 'attempt'. */
  kind?: 'attempt' | 'total';
}

/** Timeout options after {@link resolveTimeoutOptions}. */
export interface ResolvedTimeoutOptions {
  readonly name: string;
  readonly events: EventStream;
  readonly timeoutMs: number;
  readonly kind: 'attempt' | 'total';
}

const timeoutShape = shape(
  { timeout: positiveDuration, kind: oneOf(['attempt', 'total']), ...commonFields },
  { required: ['timeout'], aliases: { ms: 'timeout', duration: 'timeout' } },
);

/** Checks timeout options or a bare duration at `path`, collecting every problem in `issues`. */
export function checkTimeoutOptions(input: unknown, path: string, issues: Issues): void {
  if (isPlainObject(input)) timeoutShape(input, path, issues);
  else positiveDuration(input, path, issues);
}

/** Validates and defaults timeout options (or a bare duration) once; throws one InvalidConfigError. */
export function resolveTimeoutOptions(input: TimeoutOptions | Duration): ResolvedTimeoutOptions {
  const issues = new Issues();
  checkTimeoutOptions(input, 'timeout', issues);
  throwIfIssues(issues);
  const o: TimeoutOptions = isPlainObject(input) ? (input as TimeoutOptions) : { timeout: input as Duration };
  return Object.freeze({
    name: o.name ?? 'timeout',
    events: o.events ?? defaultEvents,
    timeoutMs: parseDuration(o.timeout) as number,
    kind: o.kind ?? 'attempt',
  });
}

/** The absolute deadline (epoch ms) `ms` from `now`. */
export function deadlineFrom(ms: Duration, now: number = Date.now()): number {
  return now + toMs(ms, 'ms');
}

/**
 * A timeout policy. Build it with {@link timeout}.
 *
 * The limit is the smaller of its own timeout and the time left before `options.deadline` (or the
 * request context's deadline). A spent deadline rejects with `DeadlineExceededError` without
 * calling `fn`. When the limit is hit the signal handed to `fn` is aborted with a `TimeoutError`
 * (or `DeadlineExceededError` when the deadline was the binding limit) as reason, and `execute`
 * rejects with that error at once. An abort of the caller's signal also rejects at once.
 */
export class TimeoutPolicy implements Policy {
  /** Name used in events and errors. */
  readonly name: string;
  /** Own limit in ms. */
  readonly timeoutMs: number;
  /** Event label: 'attempt' (inside retry) or 'total' (outside). */
  readonly kind: 'attempt' | 'total';
  private readonly events: EventStream;

  constructor(options: TimeoutOptions | Duration) {
    const o = resolveTimeoutOptions(options);
    this.name = o.name;
    this.timeoutMs = o.timeoutMs;
    this.kind = o.kind;
    this.events = o.events;
  }

  /** Runs `fn` with a signal that aborts when the limit is hit. */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const given = options?.signal;
    // The shared never-aborting signal (handed in by an outer policy) needs no listener.
    const parent = given === NEVER_ABORTED_SIGNAL ? undefined : given;
    if (parent?.aborted) return Promise.reject(abortReason(parent));
    const deadline = options?.deadline ?? getContext()?.deadline;
    const now = Date.now();
    let ms = this.timeoutMs;
    let byDeadline = false;
    if (deadline !== undefined) {
      const left = deadline - now;
      if (left <= 0) {
        this.emit(0, true, options?.key);
        return Promise.reject(
          new DeadlineExceededError({ policy: this.name, message: `${this.name}: deadline already passed` }),
        );
      }
      if (left < ms) {
        ms = left;
        byDeadline = true;
      }
    }
    const call = new TimeoutCall<T>(this, ms, byDeadline, options?.key, parent);
    let result: Promise<T> | T;
    try {
      result = fn(call.controller.signal, options?.attempt ?? 1);
    } catch (error) {
      const aborted = call.settled;
      call.detach();
      return Promise.reject(aborted ? abortReason(call.controller.signal) : error);
    }
    if (call.settled) {
      // The caller's signal aborted while fn ran synchronously.
      return Promise.reject(abortReason(call.controller.signal));
    }
    if (!isThenable(result)) {
      call.detach();
      return Promise.resolve(result);
    }
    timerQueue.schedule(call, now + ms);
    return call.race(result);
  }

  /** Emits the 'timeout' event (when someone listens). */
  emit(timeoutMs: number, byDeadline: boolean, key: string | undefined): void {
    if (!this.events.active) return;
    this.events.emit({
      type: 'timeout',
      policy: this.name,
      key,
      correlationId: getContext()?.correlationId,
      timeoutMs,
      kind: byDeadline ? 'deadline' : this.kind,
    });
  }
}
function isThenable<T>(value: Promise<T> | T): value is Promise<T> {
  return (
    value instanceof Promise ||
    (typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function')
  );
}

/** Marks the signal of a pending call, so a nested timeout links to it without an EventTarget listener. */
const OWNER: unique symbol = Symbol('bulwark.timeout');
type OwnedSignal = AbortSignal & { [OWNER]?: TimeoutCall<unknown> };

/**
 * One pending call: its controller, its entry in the shared timer queue, and the promise racing
 * `fn` against the limit and the caller's abort. Whichever comes first settles it; the rest is
 * detached (timer entry cancelled, caller listener or link removed).
 *
 * When the caller's signal belongs to an enclosing timeout (a total timeout around retry around an
 * attempt timeout), the inner call links itself to the outer one instead of adding an abort
 * listener: the outer call aborts its linked inner calls right after aborting its own signal.
 */
class TimeoutCall<T> extends TimerTask {
  readonly controller = new AbortController();
  settled = false;
  private reject: ((error: unknown) => void) | undefined = undefined;
  private readonly onParentAbort: (() => void) | undefined = undefined;
  private link: TimeoutCall<unknown> | undefined = undefined;
  private children: TimeoutCall<unknown>[] | undefined = undefined;

  constructor(
    private readonly policy: TimeoutPolicy,
    private readonly ms: number,
    private readonly byDeadline: boolean,
    private readonly key: string | undefined,
    private readonly parent: AbortSignal | undefined,
  ) {
    super();
    (this.controller.signal as OwnedSignal)[OWNER] = this as TimeoutCall<unknown>;
    if (parent === undefined) return;
    const owner = (parent as OwnedSignal)[OWNER];
    if (owner === undefined) {
      // Only a signal that can abort gets a listener; removed on settle (see detach).
      this.onParentAbort = () => this.abortedByParent();
      parent.addEventListener('abort', this.onParentAbort);
    } else if (!owner.settled) {
      // A settled owner never aborts its signal again (an aborted one was refused by execute).
      this.link = owner;
      if (owner.children === undefined) owner.children = [this as TimeoutCall<unknown>];
      else owner.children.push(this as TimeoutCall<unknown>);
    }
  }

  /** The promise of the call: settles with `result`, or rejects at once on timeout or abort. */
  race(result: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.reject = reject;
      result.then(
        (value) => {
          if (this.settled) return;
          this.detach();
          resolve(value);
        },
        (error: unknown) => {
          if (this.settled) return;
          this.detach();
          reject(error);
        },
      );
    });
  }

  /** Marks it settled, cancels the timer entry and removes the caller listener. */
  detach(): void {
    this.settled = true;
    timerQueue.cancel(this);
    if (this.onParentAbort !== undefined) this.parent?.removeEventListener('abort', this.onParentAbort);
    const kids = this.link?.children;
    if (kids !== undefined) {
      const i = kids.indexOf(this as TimeoutCall<unknown>);
      if (i >= 0) {
        kids[i] = kids[kids.length - 1] as TimeoutCall<unknown>;
        kids.pop();
      }
    }
    this.link = undefined;
  }

  /** Aborts this call's signal, then the inner calls linked to it, then rejects. */
  private abort(reason: unknown): void {
    this.controller.abort(reason);
    const kids = this.children;
    this.children = undefined;
    if (kids !== undefined) for (const k of kids) k.abortedByParent();
    this.reject?.(abortReason(this.controller.signal));
  }

  /** The limit was reached: abort the signal handed to fn with our error and reject at once. */
  onDue(): void {
    if (this.settled) return;
    this.detach();
    const { policy, ms } = this;
    policy.emit(ms, this.byDeadline, this.key);
    const error = this.byDeadline
      ? new DeadlineExceededError({
          policy: policy.name,
          message: `${policy.name}: deadline reached after ${ms}ms`,
        })
      : new TimeoutError({ policy: policy.name, message: `${policy.name}: timed out after ${ms}ms` });
    this.abort(error);
  }

  /** The caller's signal aborted (by listener, or by the enclosing call it is linked to). */
  abortedByParent(): void {
    if (this.settled) return;
    this.detach();
    this.abort((this.parent as AbortSignal).reason);
  }
}

/**
 * Creates a timeout policy from options or a bare duration.
 * @example
 * const policy = timeout('2s');
 * await policy.execute((signal) => fetch(url, { signal }));
 */
export function timeout(options: TimeoutOptions | Duration): TimeoutPolicy {
  return new TimeoutPolicy(options);
}
