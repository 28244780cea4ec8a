/**
 * Chaos (fault injection), as Polly's Simmy and Envoy's fault filter offer: added latency, injected
 * errors and aborted calls, each at a rate, for all keys or some, switchable at run time. Refused
 * while `NODE_ENV=production` unless `allowInProduction: true`, so a test config cannot hurt users
 * by accident. Put it innermost (the registry does), where the faults look like the dependency's
 * own, so retry, breaker, timeout and fallback meet them as they would a real outage.
 */
import { getContext } from '../context/context.js';
import { isKnownCode } from '../errors/app-codes.js';
import { BulwarkError, InvalidConfigError } from '../errors/bulwark-error.js';
import type { ErrorCode } from '../errors/codes.js';
import { HttpStatusError } from '../errors/http-status-error.js';
import { defaultEvents, type EventStream } from '../telemetry/events.js';
import type { CommonPolicyOptions, ExecuteOptions, Operation, Policy } from '../types.js';
import {
  arrayOf,
  boolean,
  type Check,
  commonFields,
  duration,
  func,
  Issues,
  isPlainObject,
  numberIn,
  shape,
  text,
  throwIfIssues,
} from '../util/checks.js';
import { type Duration, parseDuration } from '../util/duration.js';
import { abortReason, NEVER_ABORTED_SIGNAL, sleep } from '../util/time.js';

/** Chaos options: every fault is off unless its rate (or latency) is set. */
export interface ChaosOptions extends CommonPolicyOptions {
  /** Inject at all. Default true; `false` keeps the settings ready for `enable()`. */
  enabled?: boolean;
  /** Latency added before the call (the caller's signal ends the wait). */
  latency?: Duration;
  /** Share of calls delayed by `latency` (0–1). Default 1 when `latency` is set. */
  latencyRate?: number;
  /** Share of calls failed with `error` instead of being made (0–1). Default 0. */
  errorRate?: number;
  /**
   * The injected error: a Bulwark (or `defineError`) code such as `'TIMEOUT'`, an HTTP status such
   * as `503` (an `HttpStatusError`, as a dependency's answer), or a function making the error.
   * Default `'DOWNSTREAM_ERROR'` (retryable, counted by breakers, as a failing dependency is).
   */
  error?: ErrorCode | (string & {}) | number | (() => unknown);
  /** Share of calls cut off (0–1): the call is made, then after `abortAfter` its signal aborts and it rejects with `ECONNRESET`. Default 0. */
  abortRate?: number;
  /** How long an aborted call runs before it is cut. Default 0 (at once). */
  abortAfter?: Duration;
  /** Inject only for calls with these keys (`ExecuteOptions.key`). Default: every key. */
  keys?: string[];
  /** Random numbers in [0, 1); one is drawn per configured fault and call, latency first. Default `Math.random`. */
  random?: () => number;
  /** Inject while `NODE_ENV=production`. Default false: creating or enabling chaos there throws. */
  allowInProduction?: boolean;
}

/** What a chaos policy injected so far. */
export interface ChaosStats {
  /** Calls it saw while enabled (for its keys). */
  calls: number;
  /** Calls delayed. */
  delayed: number;
  /** Calls failed with the injected error. */
  failed: number;
  /** Calls cut off. */
  aborted: number;
}

/** A chaos policy, switchable at run time. */
export interface ChaosPolicy extends Policy {
  /** True while it injects. */
  readonly enabled: boolean;
  /** Starts injecting (refused in production unless `allowInProduction`). */
  enable(): void;
  /** Stops injecting; calls pass through untouched. */
  disable(): void;
  /** Replaces the faults (name, events and `random` are kept unless given); validated like the factory's options. */
  set(options: ChaosOptions): void;
  /** What it injected so far. */
  stats(): ChaosStats;
}

const rate = numberIn(0, 1, 'a rate from 0 to 1');

const errorCheck: Check = (v, p, out) => {
  if (typeof v === 'function') return;
  if (typeof v === 'number') {
    if (!(Number.isInteger(v) && v >= 400 && v <= 599)) out.add(p, 'an HTTP error status from 400 to 599', v);
    return;
  }
  if (typeof v !== 'string' || !isKnownCode(v))
    out.add(
      p,
      "a Bulwark error code (e.g. 'TIMEOUT'), a status, or a function",
      v,
      'use a code from ERROR_CODES or one made with defineError',
    );
};

const chaosShape = shape(
  {
    enabled: boolean,
    latency: duration(),
    latencyRate: rate,
    errorRate: rate,
    error: errorCheck,
    abortRate: rate,
    abortAfter: duration(),
    keys: arrayOf(text, 'a list of keys'),
    random: func,
    allowInProduction: boolean,
    ...commonFields,
  },
  { aliases: { delay: 'latency', faultRate: 'errorRate', injectionRate: 'errorRate', fault: 'error' } },
);

/** Records every problem of chaos options at `path`, production included (read from `NODE_ENV` now). */
export function checkChaosOptions(input: unknown, path: string, issues: Issues): void {
  chaosShape(input, path, issues);
  if (isPlainObject(input) && input.enabled !== false) productionIssue(input, path, issues);
}

function productionIssue(input: Record<string, unknown>, path: string, issues: Issues): void {
  if (process.env.NODE_ENV === 'production' && input.allowInProduction !== true)
    issues.add(
      `${path}.allowInProduction`,
      'true to inject faults while NODE_ENV=production',
      input.allowInProduction,
      'remove chaos from the production config (or set enabled: false), or set allowInProduction: true on purpose',
    );
}

interface Settings {
  readonly latencyMs: number;
  readonly latencyRate: number;
  readonly errorRate: number;
  readonly error: ChaosOptions['error'];
  readonly abortRate: number;
  readonly abortAfterMs: number;
  readonly keys: ReadonlySet<string> | undefined;
  readonly random: () => number;
  readonly allowInProduction: boolean;
}

function settings(o: ChaosOptions, random: () => number): Settings {
  const latencyMs = parseDuration(o.latency) ?? 0;
  return Object.freeze({
    latencyMs,
    latencyRate: o.latencyRate ?? (latencyMs > 0 ? 1 : 0),
    errorRate: o.errorRate ?? 0,
    error: o.error,
    abortRate: o.abortRate ?? 0,
    abortAfterMs: parseDuration(o.abortAfter) ?? 0,
    keys: o.keys === undefined ? undefined : new Set(o.keys),
    random: o.random ?? random,
    allowInProduction: o.allowInProduction === true,
  });
}

class Chaos implements ChaosPolicy {
  readonly name: string;
  private events: EventStream;
  private s: Settings;
  private on: boolean;
  private readonly counts: ChaosStats = { calls: 0, delayed: 0, failed: 0, aborted: 0 };

  constructor(options: ChaosOptions) {
    const issues = new Issues();
    checkChaosOptions(options, 'chaos', issues);
    throwIfIssues(issues);
    this.name = options.name ?? 'chaos';
    this.events = options.events ?? defaultEvents;
    this.s = settings(options, Math.random);
    this.on = options.enabled !== false;
  }

  get enabled(): boolean {
    return this.on;
  }

  enable(): void {
    const issues = new Issues();
    productionIssue({ allowInProduction: this.s.allowInProduction }, this.name, issues);
    throwIfIssues(issues);
    this.on = true;
  }

  disable(): void {
    this.on = false;
  }

  set(options: ChaosOptions): void {
    const issues = new Issues();
    checkChaosOptions(options, this.name, issues);
    if (issues.list.length > 0) throw new InvalidConfigError(issues.list);
    if (options.events !== undefined) this.events = options.events;
    this.s = settings(options, this.s.random);
    this.on = options.enabled !== false;
  }

  stats(): ChaosStats {
    return { ...this.counts };
  }

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const s = this.s;
    const key = options?.key;
    const signal = options?.signal ?? NEVER_ABORTED_SIGNAL;
    const attempt = options?.attempt ?? 1;
    if (!this.on || (s.keys !== undefined && !s.keys.has(key ?? 'default'))) return call(fn, signal, attempt);
    if (signal.aborted) return Promise.reject(abortReason(signal));
    this.counts.calls++;
    const delay = s.latencyRate > 0 && s.random() < s.latencyRate ? s.latencyMs : 0;
    const fault =
      s.errorRate > 0 && s.random() < s.errorRate ? 1 : s.abortRate > 0 && s.random() < s.abortRate ? 2 : 0;
    if (delay > 0) {
      this.counts.delayed++;
      this.emit('latency', key, delay);
      return sleep(delay, options?.signal).then(() => this.fault(fault, fn, signal, attempt, key));
    }
    return this.fault(fault, fn, signal, attempt, key);
  }

  private fault<T>(
    fault: number,
    fn: Operation<T>,
    signal: AbortSignal,
    attempt: number,
    key: string | undefined,
  ): Promise<T> {
    if (fault === 0) return call(fn, signal, attempt);
    if (fault === 1) {
      this.counts.failed++;
      this.emit('error', key, 0);
      return Promise.reject(this.injected());
    }
    this.counts.aborted++;
    this.emit('abort', key, this.s.abortAfterMs);
    return cutOff(fn, signal, attempt, this.s.abortAfterMs, this.name);
  }

  /** The error to inject. */
  private injected(): unknown {
    const e = this.s.error;
    if (typeof e === 'function') return e();
    if (typeof e === 'number') return new HttpStatusError(e, { service: this.name });
    return new BulwarkError(e ?? 'DOWNSTREAM_ERROR', {
      message: `Fault injected by the chaos policy "${this.name}".`,
      policy: this.name,
    });
  }

  private emit(fault: 'latency' | 'error' | 'abort', key: string | undefined, delayMs: number): void {
    if (!this.events.active) return;
    this.events.emit({
      type: 'chaos.injected',
      policy: this.name,
      key,
      fault,
      delayMs,
      correlationId: getContext()?.correlationId,
    });
  }
}

function call<T>(fn: Operation<T>, signal: AbortSignal, attempt: number): Promise<T> {
  try {
    return Promise.resolve(fn(signal, attempt));
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Makes the call, then cuts it after `ms`: its signal aborts and the call rejects with ECONNRESET
 * even if the operation finished (the request reached the dependency, the answer never came back:
 * the partition idempotency keys exist for). The caller's abort ends it at once.
 */
function cutOff<T>(
  fn: Operation<T>,
  outer: AbortSignal,
  attempt: number,
  ms: number,
  name: string,
): Promise<T> {
  const reset = Object.assign(new Error(`Connection reset (fault injected by the chaos policy "${name}").`), {
    code: 'ECONNRESET',
  });
  const c = new AbortController();
  return new Promise<T>((_resolve, reject) => {
    const end = (reason: Error) => {
      clearTimeout(timer);
      outer.removeEventListener('abort', onOuter);
      c.abort(reason);
      reject(reason);
    };
    const onOuter = () => end(abortReason(outer));
    const timer = setTimeout(() => end(reset), ms);
    outer.addEventListener('abort', onOuter, { once: true });
    // Its outcome is lost with the connection (a rejection is handled, never unhandled).
    call(fn, c.signal, attempt).catch(() => {});
  });
}

/**
 * Creates a chaos (fault-injection) policy. Refused while `NODE_ENV=production` unless
 * `allowInProduction: true`.
 * @example
 * const faults = chaos({ latency: '300ms', latencyRate: 0.2, errorRate: 0.05, error: 'TIMEOUT' });
 * const policy = pipeline(retry({ maxAttempts: 3 }), faults);
 * faults.disable();
 */
export function chaos(options: ChaosOptions = {}): ChaosPolicy {
  return new Chaos(options);
}
