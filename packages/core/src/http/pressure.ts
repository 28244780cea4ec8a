/**
 * Process pressure, sampled in the background: the event loop's delay (as fastify's
 * under-pressure measures it: `perf_hooks.monitorEventLoopDelay`, plus the sampler's own
 * lateness, which catches one long block the histogram's mean would dilute), and optionally heap
 * and RSS. One unref'd interval; a request only reads two fields (`level`, `reason`).
 */
import { type ELDHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

/** What made the process count as under pressure. */
export type PressureReason = 'event-loop-delay' | 'heap' | 'rss';

/** Limits of a {@link PressureMonitor}; each is off when undefined. */
export interface PressureLimits {
  /** Event-loop delay (ms) at which the level reaches 1. */
  maxEventLoopDelayMs?: number;
  /** Heap used (bytes) at which the level reaches 1. */
  maxHeapUsedBytes?: number;
  /** Resident set size (bytes) at which the level reaches 1. */
  maxRssBytes?: number;
  /** Sampling interval (ms). */
  sampleIntervalMs: number;
}

/** What one sample measured. */
export interface PressureSample {
  /** Event-loop delay over the last interval (ms). */
  eventLoopDelayMs: number;
  /** Heap used (bytes), when a heap limit is set. */
  heapUsedBytes?: number;
  /** Resident set size (bytes), when an RSS limit is set. */
  rssBytes?: number;
}

/** Resolution of the delay histogram (ms): its mean has this much timer granularity in it. */
const RESOLUTION_MS = 10;

/** Samples pressure every `sampleIntervalMs` on an unref'd interval; `close()` stops it. */
export class PressureMonitor {
  /** Highest measurement over its limit: 0 = idle, 1 = at a limit, above 1 = over it. */
  level = 0;
  /** The measurement that gave {@link PressureMonitor.level}. */
  reason: PressureReason = 'event-loop-delay';
  /** The last sample. */
  last: PressureSample = { eventLoopDelayMs: 0 };
  private histogram: ELDHistogram | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastAt = 0;

  constructor(private readonly limits: PressureLimits) {}

  /** Starts sampling (idempotent). */
  start(): void {
    if (this.timer !== undefined) return;
    if (this.limits.maxEventLoopDelayMs !== undefined) {
      this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
      this.histogram.enable();
    }
    this.lastAt = performance.now();
    this.timer = setInterval(() => this.tick(), this.limits.sampleIntervalMs);
    // Never keeps the process alive.
    this.timer.unref();
  }

  /** Reads the histogram, the interval's lateness and memory, then {@link PressureMonitor.record}s them. */
  private tick(): void {
    const now = performance.now();
    const late = now - this.lastAt - this.limits.sampleIntervalMs;
    this.lastAt = now;
    const h = this.histogram;
    let mean = 0;
    if (h !== undefined) {
      // NaN until the histogram has a sample.
      if (h.count > 0) mean = h.mean / 1e6 - RESOLUTION_MS;
      h.reset();
    }
    const sample: PressureSample = { eventLoopDelayMs: Math.max(0, mean, late) };
    const l = this.limits;
    if (l.maxHeapUsedBytes !== undefined) sample.heapUsedBytes = process.memoryUsage().heapUsed;
    if (l.maxRssBytes !== undefined) sample.rssBytes = process.memoryUsage.rss();
    this.record(sample);
  }

  /** Sets the level from one sample (the sampler calls it; tests may too). */
  record(sample: PressureSample): void {
    const l = this.limits;
    let level = 0;
    let reason: PressureReason = 'event-loop-delay';
    if (l.maxEventLoopDelayMs !== undefined) level = sample.eventLoopDelayMs / l.maxEventLoopDelayMs;
    if (l.maxHeapUsedBytes !== undefined && sample.heapUsedBytes !== undefined) {
      const heap = sample.heapUsedBytes / l.maxHeapUsedBytes;
      if (heap > level) [level, reason] = [heap, 'heap'];
    }
    if (l.maxRssBytes !== undefined && sample.rssBytes !== undefined) {
      const rss = sample.rssBytes / l.maxRssBytes;
      if (rss > level) [level, reason] = [rss, 'rss'];
    }
    this.last = sample;
    this.level = level;
    this.reason = reason;
  }

  /** Stops sampling and disables the histogram. Idempotent. */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.histogram?.disable();
    this.histogram = undefined;
    this.level = 0;
  }
}
