/**
 * Fallback: answers with the last good result (stale-if-error), a function of the error, or a
 * static value when the operation fails, and marks the request degraded when it does.
 */
import { getContext, markDegraded } from '../context/context.js';
import { classify } from '../errors/classify.js';
import { defaultEvents, type EventStream } from '../telemetry/events.js';
import type { ExecuteOptions, Operation, Policy } from '../types.js';
import { BoundedMap } from '../util/bounded-map.js';
import { toMs } from '../util/duration.js';
import { NEVER_ABORTED_SIGNAL } from '../util/time.js';
import type { FallbackOptions } from './options.js';

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
export class FallbackPolicy<R = unknown> implements Policy {
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

  constructor(options: FallbackOptions<R>) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Expected fallback options to be an object, got ${String(options)}.`);
    }
    const o = { ...options };
    const fb = o.fallback;
    if (
      fb !== undefined &&
      typeof fb !== 'function' &&
      !(typeof fb === 'object' && fb !== null && 'value' in fb)
    ) {
      throw new TypeError(
        `Expected \`fallback\` to be a function of the error or { value }, got ${JSON.stringify(fb)}.`,
      );
    }
    if (fb === undefined && o.staleIfError === undefined) {
      throw new TypeError(
        'Expected `fallback` or `staleIfError` to be set; got neither, so nothing could be served.',
      );
    }
    if (o.handles !== undefined && typeof o.handles !== 'function') {
      throw new TypeError(`Expected \`handles\` to be a function, got ${JSON.stringify(o.handles)}.`);
    }
    const maxKeys = o.maxKeys ?? 1000;
    if (!Number.isInteger(maxKeys) || maxKeys < 1) {
      throw new TypeError(`Expected \`maxKeys\` to be a positive integer, got ${String(maxKeys)}.`);
    }
    this.name = o.name ?? 'fallback';
    this.fn = typeof fb === 'function' ? fb : undefined;
    this.hasValue = typeof fb === 'object';
    this.value = typeof fb === 'object' ? fb.value : undefined;
    this.staleMs = o.staleIfError === undefined ? undefined : toMs(o.staleIfError, 'staleIfError');
    this.stale = this.staleMs === undefined ? undefined : new BoundedMap(maxKeys);
    this.handles = o.handles ?? defaultHandles;
    this.events = o.events ?? defaultEvents;
    this.staleReason = `stale:${this.name}`;
    this.fallbackReason = `fallback:${this.name}`;
  }

  /** Runs `fn`, answering with a fallback when it fails with a handled error. */
  async execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    const signal = options?.signal;
    try {
      const result = await fn(signal ?? NEVER_ABORTED_SIGNAL, options?.attempt ?? 1);
      // Only an explicit cacheKey says whose result this is: keying by route or policy name would
      // serve one user's answer to another.
      const cacheKey = options?.cacheKey;
      if (this.stale && cacheKey !== undefined) this.remember(cacheKey, result);
      return result;
    } catch (error) {
      if (signal?.aborted || !this.handles(error) || classify(error) === 'cancelled') throw error;
      const cacheKey = options?.cacheKey;
      if (this.stale && cacheKey !== undefined) {
        const hit = this.stale.get(cacheKey);
        if (hit && Date.now() - hit.at <= (this.staleMs as number)) {
          this.used(this.staleReason, error, options);
          return hit.value as T;
        }
      }
      if (this.fn) {
        const v = await this.fn(error);
        this.used(this.fallbackReason, error, options);
        return v as unknown as T;
      }
      if (this.hasValue) {
        this.used(this.fallbackReason, error, options);
        return this.value as unknown as T;
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
export function fallback<R = unknown>(options: FallbackOptions<R>): FallbackPolicy<R> {
  return new FallbackPolicy(options);
}
