/**
 * Fallback: answers with the last good result (stale-if-error), a function of the error, or a
 * static value when the operation fails, and marks the request degraded when it does.
 */
import { reusableValue } from '../client/reusable-value.js';
import { getContext, markDegraded } from '../context/context.js';
import { classify } from '../errors/classify.js';
import { defaultEvents, type EventStream } from '../telemetry/events.js';
import type { CommonPolicyOptions, ExecuteOptions, Operation, POLICY_ANSWERS, Policy } from '../types.js';
import { BoundedMap } from '../util/bounded-map.js';
import {
  anything,
  type Check,
  commonFields,
  func,
  Issues,
  isPlainObject,
  join,
  positiveDuration,
  positiveInt,
  shape,
  throwIfIssues,
} from '../util/checks.js';
import { type Duration, parseDuration } from '../util/duration.js';
import { NEVER_ABORTED_SIGNAL } from '../util/time.js';

/** Decides whether fallback acts on an error ("fallback answers it"). */
export type FallbackHandles = (error: unknown) => boolean;

/** Fallback options. */
export interface FallbackOptions<T = unknown> extends CommonPolicyOptions {
  /** A function of the error, or a static value. */
  fallback?: ((error: unknown) => T | Promise<T>) | { value: T };
  /** Serve the last good result (stale-if-error) no older than this, for calls that pass `cacheKey` (see ExecuteOptions). */
  staleIfError?: Duration;
  /** Which errors fallback answers. Default: every error but cancellations (which are always rethrown). */
  handles?: FallbackHandles;
  /** Keys of last-good results kept at most. Default 1000. */
  maxKeys?: number;
}

/**
 * A fallback as config writes it: a function of the error, a static `{ value }` (with the other
 * options beside it), or full {@link FallbackOptions}.
 */
export type FallbackConfig<T = unknown> =
  | ((error: unknown) => T | Promise<T>)
  | ({ value: T } & Omit<FallbackOptions<T>, 'fallback'>)
  | FallbackOptions<T>;

/** Fallback options after {@link resolveFallbackOptions}. */
export interface ResolvedFallbackOptions<T = unknown> {
  readonly name: string;
  readonly events: EventStream;
  readonly fn: ((error: unknown) => T | Promise<T>) | undefined;
  readonly hasValue: boolean;
  readonly value: T | undefined;
  readonly staleMs: number | undefined;
  readonly handles: FallbackHandles;
  readonly maxKeys: number;
}

const common = { staleIfError: positiveDuration, handles: func, maxKeys: positiveInt, ...commonFields };
const staticValue = shape({ value: anything }, { expected: 'a function or { value }' });
const withValue = shape({ value: anything, ...common }, { aliases: { isFailure: 'handles' } });
const withFallback = shape(
  { fallback: (v, p, out) => (typeof v === 'function' ? undefined : staticValue(v, p, out)), ...common },
  { aliases: { isFailure: 'handles', default: 'value', defaultValue: 'value' } },
);

/**
 * Checks a fallback at `path` in any of its forms (a function, `{ value, … }`, or options),
 * collecting every problem in `issues`.
 */
export const checkFallbackOptions: (input: unknown, path: string, issues: Issues) => void = ((v, p, out) => {
  if (typeof v === 'function') return;
  if (!isPlainObject(v)) return out.add(p, 'a function, { value } or fallback options', v);
  if (Object.hasOwn(v, 'value')) {
    if (Object.hasOwn(v, 'fallback'))
      out.add(join(p, 'value'), 'either `value` or `fallback`, not both', v.value, 'remove one of them');
    else withValue(v, p, out);
    return;
  }
  withFallback(v, p, out);
  if (v.fallback === undefined && v.staleIfError === undefined)
    out.add(p, 'a `fallback`, a `value` or `staleIfError`', v, 'say what to answer when the call fails');
}) satisfies Check;

/** Validates and defaults a fallback in any of its forms once; throws one InvalidConfigError. */
export function resolveFallbackOptions<T>(input: FallbackConfig<T>): ResolvedFallbackOptions<T> {
  const issues = new Issues();
  checkFallbackOptions(input, 'fallback', issues);
  throwIfIssues(issues);
  const o: FallbackOptions<T> =
    typeof input === 'function'
      ? { fallback: input }
      : 'value' in input
        ? { ...input, fallback: { value: input.value } }
        : input;
  const fb = o.fallback;
  return Object.freeze({
    name: o.name ?? 'fallback',
    events: o.events ?? defaultEvents,
    fn: typeof fb === 'function' ? fb : undefined,
    hasValue: typeof fb === 'object',
    value: typeof fb === 'object' ? fb.value : undefined,
    staleMs: o.staleIfError === undefined ? undefined : (parseDuration(o.staleIfError) as number),
    handles: o.handles ?? defaultHandles,
    maxKeys: o.maxKeys ?? 1000,
  });
}

interface Stale {
  value: unknown;
  at: number;
}

function defaultHandles(error: unknown): boolean {
  return classify(error) !== 'cancelled';
}

/**
 * A fallback policy. Build it with {@link fallback}.
 *
 * On a handled failure it serves, in order: the last good result for `options.key ?? 'default'`
 * if younger than `staleIfError` (reason `stale:<name>`), then the fallback function or value
 * (reason `fallback:<name>`). Serving either calls `markDegraded(reason)` and emits
 * 'fallback.used'. Cancellation (an aborted caller signal or an abort error) is always rethrown.
 */
export class FallbackPolicy<R = unknown> implements Policy<R> {
  /** Name used in events and degraded reasons. */
  readonly name: string;
  private readonly fn: ((error: unknown) => R | Promise<R>) | undefined;
  private readonly hasValue: boolean;
  private readonly value: R | undefined;
  private readonly staleMs: number | undefined;
  private readonly stale: BoundedMap<string, Stale> | undefined;
  private readonly handles: (error: unknown) => boolean;
  private readonly events: EventStream;
  private readonly staleReason: string;
  private readonly fallbackReason: string;

  constructor(options: FallbackConfig<R>) {
    const o = resolveFallbackOptions(options);
    this.name = o.name;
    this.fn = o.fn;
    this.hasValue = o.hasValue;
    this.value = o.value;
    this.staleMs = o.staleMs;
    this.stale = this.staleMs === undefined ? undefined : new BoundedMap(o.maxKeys);
    this.handles = o.handles;
    this.events = o.events;
    this.staleReason = `stale:${this.name}`;
    this.fallbackReason = `fallback:${this.name}`;
  }

  /** Type only (never set): a fallback answers with `R`. */
  declare readonly [POLICY_ANSWERS]?: () => R;

  /** Runs `fn`, answering with a fallback (of type `R`) when it fails with a handled error. */
  async execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T | R> {
    const signal = options?.signal;
    try {
      const result = await fn(signal ?? NEVER_ABORTED_SIGNAL, options?.attempt ?? 1);
      // Only an explicit cacheKey says whose result this is: keying by route or policy name would
      // serve one user's answer to another.
      const cacheKey = options?.cacheKey;
      if (this.stale && cacheKey !== undefined) this.remember(cacheKey, reusableValue(result));
      return result;
    } catch (error) {
      if (signal?.aborted || !this.handles(error) || classify(error) === 'cancelled') throw error;
      const cacheKey = options?.cacheKey;
      if (this.stale && cacheKey !== undefined) {
        const hit = this.stale.get(cacheKey);
        if (hit && Date.now() - hit.at <= (this.staleMs as number)) {
          this.used(this.staleReason, error, options);
          return reusableValue(hit.value) as T;
        }
      }
      if (this.fn) {
        const v = await this.fn(error);
        this.used(this.fallbackReason, error, options);
        return v;
      }
      if (this.hasValue) {
        this.used(this.fallbackReason, error, options);
        // A Response value is cloned per use: its body can be read once (issue 8 item 10).
        return reusableValue(this.value) as R;
      }
      throw error;
    }
  }

  /** Forgets every remembered result. */
  clear(): void {
    this.stale?.clear();
  }

  private remember(key: string, value: unknown): void {
    const entry = this.stale?.get(key);
    // Reuse the entry so a hot key allocates nothing per success.
    if (entry) {
      entry.value = value;
      entry.at = Date.now();
    } else this.stale?.set(key, { value, at: Date.now() });
  }

  private used(reason: string, error: unknown, options: ExecuteOptions | undefined): void {
    markDegraded(reason);
    if (!this.events.active) return;
    this.events.emit({
      type: 'fallback.used',
      policy: this.name,
      key: options?.key,
      correlationId: getContext()?.correlationId,
      reason,
      error,
    });
  }
}

/**
 * Creates a fallback policy.
 * @example
 * const policy = fallback({ staleIfError: '5m', fallback: { value: [] } });
 * const items = await policy.execute((signal) => loadItems(signal), { key: 'items' });
 */
export function fallback<R = unknown>(options: FallbackConfig<R>): FallbackPolicy<R> {
  return new FallbackPolicy(options);
}
