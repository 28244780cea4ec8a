/**
 * The shared bucket-rotation clock: every opossum breaker with the same bucket length listens on
 * one `rotateBucketController` EventEmitter driven by one unref'd interval, started when the
 * first breaker acquires it and stopped when the last one releases it. No interval per breaker.
 */
import { EventEmitter } from 'node:events';

/** One shared rotation clock for a bucket length. */
export interface RotateClock {
  /** The emitter handed to opossum as `rotateBucketController`. */
  readonly controller: EventEmitter;
  /** Breakers using it. */
  refs: number;
  /** The interval, present while refs > 0. */
  timer: ReturnType<typeof setInterval> | undefined;
}

const clocks = new Map<number, RotateClock>();

/** Returns the clock for `bucketMs`, starting its interval if it is the first user. */
export function acquireClock(bucketMs: number): RotateClock {
  let clock = clocks.get(bucketMs);
  if (!clock) {
    const controller = new EventEmitter();
    controller.setMaxListeners(0);
    clock = { controller, refs: 0, timer: undefined };
    clocks.set(bucketMs, clock);
  }
  clock.refs++;
  if (clock.timer === undefined) {
    const c = clock;
    c.timer = setInterval(() => c.controller.emit('rotate'), bucketMs);
    c.timer.unref();
  }
  return clock;
}

/** Releases one use of `clock`; the last release stops its interval. */
export function releaseClock(bucketMs: number, clock: RotateClock): void {
  if (clock.refs > 0) clock.refs--;
  if (clock.refs === 0) {
    if (clock.timer !== undefined) clearInterval(clock.timer);
    clock.timer = undefined;
    if (clocks.get(bucketMs) === clock) clocks.delete(bucketMs);
  }
}

/** Number of running shared intervals (for tests and diagnostics). */
export function activeClocks(): number {
  let n = 0;
  for (const c of clocks.values()) if (c.timer !== undefined) n++;
  return n;
}
