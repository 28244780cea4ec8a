/**
 * Self-healing (`bulwark.health.heal(name, options)`): a recovery action per dependency, run when
 * it turns down (a `health.changed` event), with backoff between attempts and a maximum per
 * outage. Each attempt is verified by a fresh check (`checkNow`) within `verifyTimeout`, and
 * undone (`undo`) when the action fails, the verification fails or times out, or health got
 * worse meanwhile (another dependency went down). `onRecovered` runs once the dependency is up
 * again after being down (an open breaker that closed included): warm a cache. One dependency
 * never has two actions at once: its actions run one after another.
 */
import { type BackoffConfig, type JitterKind, nextDelay } from '../policies/backoff.js';
import type { EventInput, EventStream } from '../telemetry/events.js';
import type { Disposable } from '../types.js';
import {
  func,
  Issues,
  numberIn,
  oneOf,
  positiveDuration,
  positiveInt,
  shape,
  throwIfIssues,
} from '../util/checks.js';
import { type Duration, parseDuration } from '../util/duration.js';
import type { CheckResult, DependencyStatus } from './types.js';

/** A recovery plan for one dependency. */
export interface HealingOptions {
  /** The recovery action (restart a connection pool, reconnect a client); its signal aborts after `actionTimeout`. */
  action: (signal: AbortSignal) => unknown;
  /** Undoes the action when it did not help (or made things worse). */
  undo?: (signal: AbortSignal) => unknown;
  /** A fresh check must say `up` within this after the action. Default `'10s'`. */
  verifyTimeout?: Duration;
  /** Attempts per outage. Default 3. */
  maxAttempts?: number;
  /** Wait between attempts (policies/backoff.ts): default 1 s doubling up to 30 s, no jitter. */
  backoff?: { initialDelay?: Duration; maxDelay?: Duration; factor?: number; jitter?: JitterKind };
  /** Time the action, the undo and `onRecovered` each get. Default `'30s'`. */
  actionTimeout?: Duration;
  /** Runs when the dependency is up again after being down (warm a cache). */
  onRecovered?: (signal: AbortSignal) => unknown;
}

/** How one healing step ended. */
export type HealingOutcome =
  | 'healed'
  | 'action-failed'
  | 'verify-failed'
  | 'verify-timeout'
  | 'worse'
  | 'recovered'
  | 'recovered-failed';

/** One entry of a dependency's healing history. */
export interface HealingRecord {
  /** Epoch ms the step started. */
  at: number;
  /** 1-based attempt within the outage (0 for `onRecovered`). */
  attempt: number;
  /** How it ended. */
  outcome: HealingOutcome;
  /** Whether `undo` ran (and whether it succeeded). */
  undone: 'no' | 'yes' | 'failed';
  /** Action + verification (+ undo), in ms. */
  durationMs: number;
  /** What failed, if anything. */
  error?: unknown;
}

/** The handle `heal()` returns. */
export interface Healing extends Disposable {
  /** The last {@link MAX_HEALING_HISTORY} steps, oldest first. */
  history(): HealingRecord[];
  /** True while an action (or its verification or undo) runs. */
  readonly running: boolean;
}

/** Steps kept per dependency. */
export const MAX_HEALING_HISTORY = 50;

/** What healing needs from the health registry. */
export interface HealingHost {
  readonly events: EventStream;
  checkNow(name: string): Promise<CheckResult>;
  status(name: string): DependencyStatus;
  /** Names of the dependencies down now. */
  downNames(): string[];
}

interface Resolved {
  action: (signal: AbortSignal) => unknown;
  undo: ((signal: AbortSignal) => unknown) | undefined;
  onRecovered: ((signal: AbortSignal) => unknown) | undefined;
  verifyTimeoutMs: number;
  actionTimeoutMs: number;
  maxAttempts: number;
  backoff: BackoffConfig;
}

const optionsShape = shape(
  {
    action: func,
    undo: func,
    onRecovered: func,
    verifyTimeout: positiveDuration,
    actionTimeout: positiveDuration,
    maxAttempts: positiveInt,
    backoff: shape({
      initialDelay: positiveDuration,
      maxDelay: positiveDuration,
      factor: numberIn(1, 100, 'a growth factor from 1 to 100'),
      jitter: oneOf(['none', 'full', 'equal', 'decorrelated']),
    }),
  },
  { required: ['action'], expected: 'healing options { action, undo?, verifyTimeout?, ... }' },
);

function resolve(name: string, input: HealingOptions): Resolved {
  const issues = new Issues();
  optionsShape(input, `heal('${name}')`, issues);
  throwIfIssues(issues);
  const ms = (d: Duration | undefined, fallback: number) =>
    d === undefined ? fallback : (parseDuration(d) ?? fallback);
  const b = input.backoff ?? {};
  return {
    action: input.action,
    undo: input.undo,
    onRecovered: input.onRecovered,
    verifyTimeoutMs: ms(input.verifyTimeout, 10_000),
    actionTimeoutMs: ms(input.actionTimeout, 30_000),
    maxAttempts: input.maxAttempts ?? 3,
    backoff: {
      backoff: 'exponential',
      initialDelayMs: ms(b.initialDelay, 1000),
      maxDelayMs: ms(b.maxDelay, 30_000),
      factor: b.factor ?? 2,
      jitter: b.jitter ?? 'none',
    },
  };
}

class TimedOut extends Error {}

/** Runs `fn` with a signal that aborts after `ms`; rejects with a TimedOut then. The timer never holds the process. */
function bounded<T>(ms: number, what: string, fn: (signal: AbortSignal) => T | Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new TimedOut(`${what} did not finish within ${ms} ms.`);
      controller.abort(err);
      reject(err);
    }, ms);
    timer.unref?.();
  });
  return Promise.race([Promise.resolve().then(() => fn(controller.signal)), expired]).finally(() =>
    clearTimeout(timer),
  );
}

/** The healing of one dependency. */
export class DependencyHealer implements Healing {
  private readonly records: HealingRecord[] = [];
  private chain: Promise<void> = Promise.resolve();
  private outage = false;
  private busy = false;
  private disposed = false;
  private readonly subscription: Disposable;
  private wake: (() => void) | undefined;
  private sleeping: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly name: string,
    private readonly o: Resolved,
    private readonly host: HealingHost,
  ) {
    this.subscription = host.events.on('health.changed', (e) => {
      if (e.dependency !== name || this.disposed) return;
      if (e.to === 'down' && !this.outage) {
        this.outage = true;
        this.enqueue(() => this.heal());
      } else if (e.to === 'up' && e.from === 'down') {
        if (this.o.onRecovered) this.enqueue(() => this.recovered());
      }
    });
    // Down already: this outage is healed too.
    if (host.status(name) === 'down') {
      this.outage = true;
      this.enqueue(() => this.heal());
    }
  }

  get running(): boolean {
    return this.busy;
  }

  history(): HealingRecord[] {
    return [...this.records];
  }

  dispose(): void {
    this.disposed = true;
    this.subscription.dispose();
    clearTimeout(this.sleeping);
    this.wake?.();
  }

  /** Actions of this dependency run one after another: never two at once. */
  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(async () => {
      if (this.disposed) return;
      this.busy = true;
      try {
        await step();
      } finally {
        this.busy = false;
      }
    });
  }

  private emit(input: EventInput): void {
    this.host.events.emit(input);
  }

  private remember(r: HealingRecord): void {
    this.records.push(r);
    if (this.records.length > MAX_HEALING_HISTORY) this.records.shift();
  }

  /** One outage: up to maxAttempts actions, backoff between them, each verified and undone if it did not help. */
  private async heal(): Promise<void> {
    const o = this.o;
    let previous = 0;
    try {
      for (let attempt = 1; attempt <= o.maxAttempts; attempt++) {
        if (attempt > 1) {
          previous = nextDelay(o.backoff, attempt - 1, previous, undefined);
          await this.sleep(previous);
        }
        if (this.disposed || this.host.status(this.name) === 'up') return; // it came back by itself
        if (await this.attempt(attempt)) return;
      }
      this.emit({
        type: 'healing.gave-up',
        policy: 'health',
        dependency: this.name,
        attempts: o.maxAttempts,
      });
    } finally {
      this.outage = false;
    }
  }

  /** One action, its verification, and its undo when it did not help. True when healed. */
  private async attempt(attempt: number): Promise<boolean> {
    const o = this.o;
    const at = Date.now();
    const t0 = performance.now();
    const downBefore = new Set(this.host.downNames());
    this.emit({ type: 'healing.started', policy: 'health', dependency: this.name, attempt });
    let outcome: HealingOutcome = 'healed';
    let error: unknown;
    try {
      await bounded(o.actionTimeoutMs, `The healing action of '${this.name}'`, o.action);
      try {
        const result = await bounded(o.verifyTimeoutMs, `The verification of '${this.name}'`, () =>
          this.host.checkNow(this.name),
        );
        if (result.status !== 'up') {
          outcome = 'verify-failed';
          error = result.error;
        }
      } catch (e) {
        outcome = e instanceof TimedOut ? 'verify-timeout' : 'verify-failed';
        error = e;
      }
    } catch (e) {
      outcome = 'action-failed';
      error = e;
    }
    if (outcome === 'healed') {
      const worse = this.host.downNames().filter((n) => n !== this.name && !downBefore.has(n));
      if (worse.length > 0) {
        outcome = 'worse';
        error = new Error(
          `While healing '${this.name}', ${worse.map((n) => `'${n}'`).join(', ')} went down.`,
        );
      }
    }
    let undone: HealingRecord['undone'] = 'no';
    if (outcome !== 'healed' && o.undo) {
      try {
        await bounded(o.actionTimeoutMs, `The undo of '${this.name}'`, o.undo);
        undone = 'yes';
      } catch (e) {
        undone = 'failed';
        error ??= e;
      }
    }
    const durationMs = performance.now() - t0;
    this.remember({ at, attempt, outcome, undone, durationMs, ...(error === undefined ? {} : { error }) });
    if (outcome === 'healed')
      this.emit({ type: 'healing.succeeded', policy: 'health', dependency: this.name, attempt, durationMs });
    else
      this.emit({
        type: 'healing.failed',
        policy: 'health',
        dependency: this.name,
        attempt,
        reason: outcome,
        undone,
        error,
      });
    return outcome === 'healed';
  }

  private async recovered(): Promise<void> {
    const on = this.o.onRecovered;
    if (!on) return;
    const at = Date.now();
    const t0 = performance.now();
    try {
      await bounded(this.o.actionTimeoutMs, `onRecovered of '${this.name}'`, on);
      this.remember({
        at,
        attempt: 0,
        outcome: 'recovered',
        undone: 'no',
        durationMs: performance.now() - t0,
      });
    } catch (error) {
      this.remember({
        at,
        attempt: 0,
        outcome: 'recovered-failed',
        undone: 'no',
        durationMs: performance.now() - t0,
        error,
      });
      this.emit({
        type: 'healing.failed',
        policy: 'health',
        dependency: this.name,
        attempt: 0,
        reason: 'recovered-failed',
        undone: 'no',
        error,
      });
    }
  }

  /** The backoff wait; cut short by dispose(). Unref'd: healing never keeps a process alive. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleeping = setTimeout(resolve, ms);
      this.sleeping.unref?.();
    });
  }
}

/** Validates `options` and starts healing `name` (the registry checks the name). */
export function createHealer(name: string, options: HealingOptions, host: HealingHost): DependencyHealer {
  return new DependencyHealer(name, resolve(name, options), host);
}
