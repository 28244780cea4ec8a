/**
 * What the registry remembers about one dependency's checks, bounded: the last N results in a ring,
 * and availability in one-minute buckets over the last hour (60 counters, rotated lazily from
 * timestamps: no timer).
 */
import type { Availability, CheckResult } from './types.js';

const MINUTE = 60_000;
const BUCKETS = 60;

/** The last `size` check results, oldest first on read. */
export class CheckHistory {
  private readonly ring: (CheckResult | undefined)[];
  private next = 0;
  private count = 0;
  /** Checks per minute bucket, and how many were up. */
  private readonly total = new Uint32Array(BUCKETS);
  private readonly up = new Uint32Array(BUCKETS);
  /** The minute (epoch ms / 60 000) each bucket holds. */
  private readonly minuteOf = new Float64Array(BUCKETS).fill(-1);

  constructor(readonly size: number) {
    this.ring = new Array(size);
  }

  /** Records one result. */
  add(r: CheckResult): void {
    this.ring[this.next] = r;
    this.next = (this.next + 1) % this.size;
    if (this.count < this.size) this.count++;
    const minute = Math.floor(r.at / MINUTE);
    const i = minute % BUCKETS;
    if (this.minuteOf[i] !== minute) {
      this.minuteOf[i] = minute;
      this.total[i] = 0;
      this.up[i] = 0;
    }
    this.total[i] = (this.total[i] as number) + 1;
    if (r.status === 'up') this.up[i] = (this.up[i] as number) + 1;
  }

  /** The recorded results, oldest first. */
  list(): CheckResult[] {
    const out: CheckResult[] = [];
    const start = (this.next - this.count + this.size) % this.size;
    for (let k = 0; k < this.count; k++) out.push(this.ring[(start + k) % this.size] as CheckResult);
    return out;
  }

  /** The latest result, if any. */
  last(): CheckResult | undefined {
    return this.count === 0 ? undefined : this.ring[(this.next - 1 + this.size) % this.size];
  }

  /** Share of checks that were up in the last 5 minutes and the last hour (null: none ran). */
  availability(now: number): Availability {
    return { '5m': this.ratio(now, 5), '1h': this.ratio(now, BUCKETS) };
  }

  private ratio(now: number, minutes: number): number | null {
    const current = Math.floor(now / MINUTE);
    let total = 0;
    let up = 0;
    for (let m = current - minutes + 1; m <= current; m++) {
      const i = ((m % BUCKETS) + BUCKETS) % BUCKETS;
      if (this.minuteOf[i] !== m) continue;
      total += this.total[i] as number;
      up += this.up[i] as number;
    }
    return total === 0 ? null : up / total;
  }

  /** Latency of the recorded checks: the last, the mean and the maximum (ms); undefined before any. */
  latency(): { last: number; mean: number; max: number } | undefined {
    const all = this.list();
    const last = all[all.length - 1];
    if (last === undefined) return undefined;
    let sum = 0;
    let max = 0;
    for (const r of all) {
      sum += r.durationMs;
      if (r.durationMs > max) max = r.durationMs;
    }
    return { last: last.durationMs, mean: Math.round((sum / all.length) * 100) / 100, max };
  }
}
