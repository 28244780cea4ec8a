/**
 * A keyed breaker's state as plain JSON-able data, so a Store can share it across replicas and a
 * short-lived process (a serverless function, a CLI run) can rehydrate it. Probes in flight are
 * local to a process and not part of it.
 */
import { Issues, isPlainObject, join } from '../../util/checks.js';
import type { BreakerOverride } from './options.js';
import { type BreakerTable, CLOSED, HALF_OPEN, OPEN } from './table.js';

/** State of one keyed breaker, as callers see it (overrides included). */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** One keyed breaker as plain data (see `snapshot` / `restore`). */
export interface CircuitSnapshot {
  /** Format version. */
  v: 1;
  /** Recorded state (overrides aside). */
  state: CircuitState;
  /** Epoch ms the current open or half-open period began; 0 when closed. */
  since: number;
  /** Failures since the last success. */
  consecutiveFailures: number;
  /** Successful probes in the current half-open period. */
  probeSuccesses: number;
  /** The rolling window: bucket length, start (epoch ms) of the newest bucket, counts oldest first. */
  window: { bucketMs: number; newest: number; calls: number[]; failures: number[]; slow: number[] };
  /** The key's own manual override, when it has one. */
  override?: BreakerOverride;
}

const STATES: readonly CircuitState[] = ['closed', 'open', 'half-open'];
const CODES = [CLOSED, OPEN, HALF_OPEN];
const OVERRIDES: readonly string[] = ['none', 'force-open', 'force-closed', 'disabled', 'metrics-only'];

/** Reads row `r` as a snapshot (its window rotated to `now` first). */
export function takeSnapshot(
  t: BreakerTable,
  r: number,
  now: number,
  override?: BreakerOverride,
): CircuitSnapshot {
  const newest = t.rotate(r, now);
  const n = t.buckets;
  const calls: number[] = [];
  const failures: number[] = [];
  const slow: number[] = [];
  for (let b = newest - n + 1; b <= newest; b++) {
    const i = r * n + (((b % n) + n) % n);
    calls.push(t.calls[i] as number);
    failures.push(t.failures[i] as number);
    slow.push(t.trackSlow ? (t.slow[i] as number) : 0);
  }
  const state = STATES[CODES.indexOf(t.state[r] as number)] as CircuitState;
  const snap: CircuitSnapshot = {
    v: 1,
    state,
    since: t.since[r] as number,
    consecutiveFailures: t.consecutive[r] as number,
    probeSuccesses: t.probeSuccesses[r] as number,
    window: { bucketMs: t.bucketMs, newest: newest * t.bucketMs, calls, failures, slow },
  };
  if (override !== undefined && override !== 'none') snap.override = override;
  return snap;
}

/** Writes a checked snapshot into row `r`; a window of another shape keeps only its totals. */
export function applySnapshot(t: BreakerTable, r: number, s: CircuitSnapshot, now: number): void {
  const code = CODES[STATES.indexOf(s.state)] as number;
  if (t.state[r] !== code) t.setState(r, code);
  else t.generation[r] = ((t.generation[r] as number) + 1) | 0;
  t.since[r] = s.since;
  t.consecutive[r] = s.consecutiveFailures;
  t.probeSuccesses[r] = s.probeSuccesses;
  t.probes[r] = 0;
  t.rejects[r] = 0;
  t.clearWindow(r);
  const w = s.window;
  const n = t.buckets;
  const newest = Math.floor(w.newest / t.bucketMs);
  t.head[r] = Math.min(newest, Math.floor(now / t.bucketMs));
  const same = w.bucketMs === t.bucketMs && w.calls.length === n;
  for (let j = 0; j < w.calls.length; j++) {
    const b = same ? newest - n + 1 + j : newest;
    const i = r * n + (((b % n) + n) % n);
    add(t, r, i, w.calls[j] as number, w.failures[j] as number, t.trackSlow ? (w.slow[j] as number) : 0);
  }
  t.rotate(r, now);
}

function add(t: BreakerTable, r: number, i: number, calls: number, failures: number, slow: number): void {
  t.calls[i] = (t.calls[i] as number) + calls;
  t.failures[i] = (t.failures[i] as number) + failures;
  t.totalCalls[r] = (t.totalCalls[r] as number) + calls;
  t.totalFailures[r] = (t.totalFailures[r] as number) + failures;
  if (t.trackSlow) {
    t.slow[i] = (t.slow[i] as number) + slow;
    t.totalSlow[r] = (t.totalSlow[r] as number) + slow;
  }
}

const count = (v: unknown): boolean =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 2 ** 31 - 1;
const time = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** Checks untrusted snapshot data; returns every problem found (empty when it is a valid snapshot). */
export function snapshotIssues(input: unknown): Issues {
  const out = new Issues();
  if (!isPlainObject(input)) {
    out.add('snapshot', 'a breaker snapshot object (from snapshot())', input);
    return out;
  }
  const fix = 'pass a value returned by snapshot(key), unchanged';
  if (input.v !== 1) out.add('snapshot.v', 'format version 1', input.v, fix);
  if (!STATES.includes(input.state as CircuitState))
    out.add('snapshot.state', "'closed', 'open' or 'half-open'", input.state, fix);
  if (!time(input.since)) out.add('snapshot.since', 'an epoch time in ms', input.since, fix);
  for (const f of ['consecutiveFailures', 'probeSuccesses'] as const)
    if (!count(input[f])) out.add(`snapshot.${f}`, 'a non-negative integer', input[f], fix);
  if (input.override !== undefined && !OVERRIDES.includes(input.override as string))
    out.add('snapshot.override', `one of ${OVERRIDES.join(', ')}`, input.override, fix);
  const w = input.window;
  if (!isPlainObject(w)) {
    out.add('snapshot.window', 'a window object', w, fix);
    return out;
  }
  if (!(time(w.bucketMs) && (w.bucketMs as number) >= 1))
    out.add('snapshot.window.bucketMs', 'a bucket length of at least 1 ms', w.bucketMs, fix);
  if (!time(w.newest)) out.add('snapshot.window.newest', 'an epoch time in ms', w.newest, fix);
  const len = Array.isArray(w.calls) ? w.calls.length : -1;
  for (const f of ['calls', 'failures', 'slow'] as const) {
    const a = w[f];
    const path = join('snapshot.window', f);
    if (!Array.isArray(a) || a.length !== len || len > 10_000 || !a.every(count))
      out.add(path, 'an array of non-negative integers, as long as window.calls', a, fix);
    else if (f !== 'calls' && a.some((x, i) => x > (w.calls as number[])[i]!))
      out.add(path, 'counts no larger than window.calls bucket by bucket', a, fix);
  }
  return out;
}
