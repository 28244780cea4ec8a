/**
 * Interop with opossum 10: an existing opossum `CircuitBreaker` as a Bulwark policy. Only its
 * public API is used (fire, open, close, enable, disable, its getters and events), and opossum is
 * never imported here: teams that already run opossum breakers keep their options, fallbacks and
 * listeners, and put the breaker in a Bulwark pipeline or under `@UsePolicy`.
 *
 * opossum runs one fixed action per breaker, so each Bulwark operation is handed to that action:
 * `execute(fn)` fires the breaker with `(fn, signal, attempt)`, and the action runs it. Create the
 * breaker with an action that does, e.g. `new CircuitBreaker(async (fn, signal, attempt) => fn(signal, attempt), options)`.
 */
import { getContext } from '../../context/context.js';
import { CircuitOpenError } from '../../errors/bulwark-error.js';
import { defaultEvents, type EventInput, type EventStream } from '../../telemetry/events.js';
import type { Closeable, ExecuteOptions, Operation, Policy } from '../../types.js';
import { abortReason, NEVER_ABORTED_SIGNAL } from '../../util/time.js';
import type { CircuitStats } from './machine.js';
import type { CircuitState } from './snapshot.js';

/** The part of opossum 10's `CircuitBreaker` that `fromOpossum` uses (structural, so core needs no opossum types). */
export interface OpossumBreaker {
  readonly name: string;
  readonly opened: boolean;
  readonly halfOpen: boolean;
  readonly enabled: boolean;
  readonly isShutdown: boolean;
  readonly stats: { fires: number; failures: number; successes: number; rejects: number; timeouts: number };
  readonly options?: { resetTimeout?: number | false };
  // biome-ignore lint/suspicious/noExplicitAny: opossum's own signature.
  fire(...args: any[]): Promise<unknown>;
  open(): void;
  close(): void;
  enable(): void;
  disable(): void;
  // biome-ignore lint/suspicious/noExplicitAny: opossum's own signature.
  on(event: string, listener: (...args: any[]) => void): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: opossum's own signature.
  removeListener(event: string, listener: (...args: any[]) => void): unknown;
}

/** Options of {@link fromOpossum}. */
export interface FromOpossumOptions {
  /** Policy name in events and errors. Default: the opossum breaker's name. */
  name?: string;
  /** Where the mapped events go. Defaults to the process-wide stream. */
  events?: EventStream;
}

/** An opossum breaker as a Bulwark policy, with Bulwark's breaker controls mapped onto opossum's. */
export interface OpossumPolicy extends Policy, Closeable {
  /** The wrapped opossum breaker. */
  readonly breaker: OpossumBreaker;
  /** opossum's state as Bulwark names it ('closed' while opossum is disabled). */
  state(): CircuitState;
  /** opossum's rolling counts (timeouts count as failures). */
  stats(): CircuitStats;
  /** opossum's `open()`: rejects every call until it half-opens after its resetTimeout, or `forceClose()`. */
  forceOpen(): void;
  /** opossum's `close()`. */
  forceClose(): void;
  /** opossum's `disable()`: every call passes straight through. */
  disable(): void;
  /** Re-enables opossum and closes it. */
  reset(): void;
  /** Stops mapping opossum's events (the opossum breaker itself is left running). Idempotent. */
  close(): void;
}

type Listener = (...args: unknown[]) => void;

/**
 * Wraps an opossum 10 `CircuitBreaker` as a Bulwark policy: its rejections become
 * `CircuitOpenError` (with `retryAfterMs`), its open / halfOpen / close / reject events become
 * Bulwark's breaker events, and force open / close call its `open()` / `close()`.
 * @example
 * const breaker = new CircuitBreaker(async (fn, signal, attempt) => fn(signal, attempt), { timeout: false, resetTimeout: 30_000 });
 * const policy = fromOpossum(breaker, { name: 'payments' });
 * await policy.execute((signal) => fetch(url, { signal }));
 */
export function fromOpossum(breaker: OpossumBreaker, options: FromOpossumOptions = {}): OpossumPolicy {
  return new OpossumAdapter(breaker, options);
}

class OpossumAdapter implements OpossumPolicy {
  readonly name: string;
  private readonly events: EventStream;
  private readonly listeners: Array<[string, Listener]> = [];
  private openedAt = 0;
  /** Why the next open/close event happens, when we caused it. */
  private cause: 'forced' | 'reset' | undefined;
  private wasHalfOpen = false;

  constructor(
    readonly breaker: OpossumBreaker,
    options: FromOpossumOptions,
  ) {
    if (typeof breaker?.fire !== 'function' || typeof breaker.on !== 'function')
      throw new TypeError(
        `Expected \`breaker\` to be an opossum CircuitBreaker; got ${breaker === null ? 'null' : typeof breaker}.`,
      );
    this.name = options.name ?? breaker.name;
    this.events = options.events ?? defaultEvents;
    if (breaker.opened) this.openedAt = Date.now();
    this.listen('open', () => {
      this.openedAt = Date.now();
      this.wasHalfOpen = false;
      const s = this.stats();
      const reason = this.cause === undefined ? 'threshold' : 'forced';
      this.emit({ type: 'breaker.opened', failures: s.failures, errorRate: s.errorRate, reason });
    });
    this.listen('halfOpen', () => {
      this.wasHalfOpen = true;
      this.emit({ type: 'breaker.half-open' });
    });
    this.listen('close', () => {
      const reason = this.cause ?? (this.wasHalfOpen ? 'probe-succeeded' : 'forced');
      this.wasHalfOpen = false;
      this.emit({ type: 'breaker.closed', reason });
    });
    this.listen('reject', () => this.emit({ type: 'breaker.rejected', retryAfterMs: this.retryAfterMs() }));
  }

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const signal = options?.signal ?? NEVER_ABORTED_SIGNAL;
    if (signal.aborted) return Promise.reject(abortReason(signal));
    let fired: Promise<unknown>;
    try {
      fired = this.breaker.fire(fn, signal, options?.attempt ?? 1);
    } catch (error) {
      return Promise.reject(error);
    }
    return fired.then(
      (v) => v as T,
      (error: unknown) => {
        if ((error as { code?: unknown } | null)?.code !== 'EOPENBREAKER') throw error;
        const retryAfterMs = this.retryAfterMs();
        throw new CircuitOpenError({
          message: `Circuit breaker "${this.name}" (opossum) is open; next probe in ${retryAfterMs} ms.`,
          retryAfterMs,
          policy: this.name,
          cause: error,
        });
      },
    );
  }

  state(): CircuitState {
    const b = this.breaker;
    if (!b.enabled) return 'closed';
    return b.halfOpen ? 'half-open' : b.opened ? 'open' : 'closed';
  }

  stats(): CircuitStats {
    const s = this.breaker.stats;
    const failures = s.failures + s.timeouts;
    return {
      calls: s.fires,
      failures,
      successes: s.successes,
      slowCalls: 0,
      rejects: s.rejects,
      errorRate: s.fires > 0 ? (failures / s.fires) * 100 : 0,
      consecutiveFailures: 0,
    };
  }

  forceOpen(): void {
    this.with('forced', () => this.breaker.open());
  }

  forceClose(): void {
    this.with('forced', () => this.breaker.close());
  }

  disable(): void {
    this.breaker.disable();
  }

  reset(): void {
    this.breaker.enable();
    this.with('reset', () => this.breaker.close());
  }

  close(): void {
    for (const [event, l] of this.listeners.splice(0)) this.breaker.removeListener(event, l);
  }

  private retryAfterMs(): number {
    if (!this.breaker.opened || this.breaker.halfOpen) return 0;
    const reset = this.breaker.options?.resetTimeout;
    return typeof reset === 'number' ? Math.max(0, this.openedAt + reset - Date.now()) : 0;
  }

  private with(cause: 'forced' | 'reset', action: () => void): void {
    this.cause = cause;
    try {
      action();
    } finally {
      this.cause = undefined;
    }
  }

  private listen(event: string, l: Listener): void {
    this.breaker.on(event, l);
    this.listeners.push([event, l]);
  }

  private emit(input: DistributiveOmit<EventInput, 'policy' | 'correlationId'>): void {
    if (!this.events.active) return;
    const correlationId = getContext()?.correlationId;
    this.events.emit({
      ...input,
      policy: this.name,
      ...(correlationId ? { correlationId } : {}),
    } as EventInput);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
