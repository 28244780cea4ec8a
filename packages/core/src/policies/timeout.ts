/**
 * Timeout: bounds an operation by its own limit and by the request's deadline, aborts the signal it
 * handed in when the limit is hit, and rejects at once instead of waiting for the work to notice.
 */
import { getContext } from '../context/context.js';
import { DeadlineExceededError, TimeoutError } from '../errors/bulwark-error.js';
import { defaultEvents, type EventStream } from '../telemetry/events.js';
import type { ExecuteOptions, Operation, Policy } from '../types.js';
import { type Duration, toMs } from '../util/duration.js';
import { abortReason, childController } from '../util/time.js';
import type { TimeoutOptions } from './options.js';

/** setTimeout's largest delay; longer ones would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

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
    const o: TimeoutOptions =
      typeof options === 'object' && options !== null ? { ...options } : { timeout: options };
    const ms = toMs(o.timeout, 'timeout');
    if (ms <= 0)
      throw new TypeError(
        `Expected \`timeout\` to be a positive duration, got ${JSON.stringify(o.timeout)}.`,
      );
    const kind = o.kind ?? 'attempt';
    if (kind !== 'attempt' && kind !== 'total') {
      throw new TypeError(`Expected \`kind\` to be 'attempt' or 'total', got ${JSON.stringify(kind)}.`);
    }
    this.name = o.name ?? 'timeout';
    this.timeoutMs = ms;
    this.kind = kind;
    this.events = o.events ?? defaultEvents;
  }

  /** Runs `fn` with a signal that aborts when the limit is hit. */
  async execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const parent = options?.signal;
    if (parent?.aborted) throw abortReason(parent);
    const deadline = options?.deadline ?? getContext()?.deadline;
    let ms = this.timeoutMs;
    let byDeadline = false;
    if (deadline !== undefined) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.emit(0, true, options);
        throw new DeadlineExceededError({
          policy: this.name,
          message: `${this.name}: deadline already passed`,
        });
      }
      if (left < ms) {
        ms = left;
        byDeadline = true;
      }
    }

    const { controller, dispose } = childController(parent);
    const signal = controller.signal;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await new Promise<T>((resolve, reject) => {
        // One listener serves both the timer (which aborts with our error) and the caller's abort.
        signal.addEventListener('abort', () => reject(abortReason(signal)), { once: true });
        timer = setTimeout(
          () => {
            this.emit(ms, byDeadline, options);
            controller.abort(
              byDeadline
                ? new DeadlineExceededError({
                    policy: this.name,
                    message: `${this.name}: deadline reached after ${ms}ms`,
                  })
                : new TimeoutError({ policy: this.name, message: `${this.name}: timed out after ${ms}ms` }),
            );
          },
          Math.min(ms, MAX_TIMER_MS),
        );
        timer.unref?.();
        Promise.resolve(fn(signal, options?.attempt ?? 1)).then(resolve, reject);
      });
    } finally {
      clearTimeout(timer);
      dispose();
    }
  }

  private emit(timeoutMs: number, byDeadline: boolean, options: ExecuteOptions | undefined): void {
    if (!this.events.active) return;
    this.events.emit({
      type: 'timeout',
      policy: this.name,
      key: options?.key,
      correlationId: getContext()?.correlationId,
      timeoutMs,
      kind: byDeadline ? 'deadline' : this.kind,
    });
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
