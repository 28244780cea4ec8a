// The record store under recovery's writes (part of npm run bench:recovery): put throughput and
// latency (p50/p99, from the call to its promise resolving) for memoryRecords() and durableRecords()
// with grouped commit (the default: the writes of one tick share one transaction and one fsync)
// and with sync: 'each' (one transaction, one fsync, per write), sequential (one put awaited after
// another) and concurrent (64 in flight). Rounds alternate the cases so drift on a shared machine
// hits them alike; medians over rounds. Then how long one grouped commit of 64 puts blocks the event
// loop (the COMMIT and its fsync run synchronously on the main thread), measured between two
// setImmediate callbacks around it, and the event-loop delay (monitorEventLoopDelay) while 64
// puts are kept in flight. Target (issue 10): ≥ 5,000 durable writes per second with grouped commit.
// Prints tables, writes bench/results/recovery-store.json. Files live in a mkdtemp folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { durableRecords, memoryRecords } from '../packages/core/dist/index.js';
import { median, save, table } from './lib.mjs';

const quick = process.argv.includes('--quick');
const rounds = quick ? 2 : 5;
/** Time per case per round (ms); 'each' gets a count instead (its fsyncs are slow). */
const windowMs = quick ? 400 : 1500;
const INFLIGHT = 64;
const dir = mkdtempSync(join(tmpdir(), 'bulwark-bench-store-'));
const value = {
  type: 'orders.sync',
  payload: { orderId: 'order-000123', amount: 42 },
  attempts: [],
  error: { code: 'TIMEOUT' },
};

let file = 0;
const homes = {
  memory: () => memoryRecords({ maxRecordsPerKind: 10_000_000 }),
  'durable grouped': () => durableRecords({ path: join(dir, `g${++file}.db`) }),
  'durable each': () => durableRecords({ path: join(dir, `e${++file}.db`), sync: 'each' }),
};

const percentile = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

/** Puts for `ms` with `inflight` workers; returns { perSec, latencies (ms) }. */
async function run(home, inflight, ms) {
  const store = homes[home]();
  const records = store.records('bench');
  const latencies = [];
  let n = 0;
  const end = performance.now() + ms;
  const t0 = performance.now();
  const worker = async () => {
    while (performance.now() < end) {
      const id = `id-${String(n++).padStart(10, '0')}`;
      const s = performance.now();
      await records.put(id, value);
      latencies.push(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  const elapsed = performance.now() - t0;
  await store.close();
  return { perSec: (latencies.length / elapsed) * 1000, latencies };
}

const label = (home, inflight) => `${home}, ${inflight === 1 ? 'sequential' : `${inflight} in flight`}`;
const cases = [];
for (const home of Object.keys(homes))
  for (const inflight of [1, INFLIGHT]) cases.push({ home, inflight, name: label(home, inflight) });
// Grouped commit scales with what is in flight: four times as many writes per fsync.
cases.push({ home: 'durable grouped', inflight: 4 * INFLIGHT, name: label('durable grouped', 4 * INFLIGHT) });

// Warm-up: load node:sqlite, JIT the paths.
for (const c of cases) await run(c.home, c.inflight, 100);
const samples = new Map(cases.map((c) => [c.name, { perSec: [], p50: [], p99: [] }]));
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? cases : [...cases].reverse();
  for (const c of order) {
    const { perSec, latencies } = await run(c.home, c.inflight, windowMs);
    latencies.sort((a, b) => a - b);
    const s = samples.get(c.name);
    s.perSec.push(perSec);
    s.p50.push(percentile(latencies, 50));
    s.p99.push(percentile(latencies, 99));
  }
}
const groupedConcurrent = median(samples.get(`durable grouped, ${INFLIGHT} in flight`).perSec);
const rows = cases.map((c) => {
  const s = samples.get(c.name);
  return {
    case: c.name,
    'puts/s': Math.round(median(s.perSec)),
    'p50 ms': median(s.p50).toFixed(3),
    'p99 ms': median(s.p99).toFixed(3),
    'vs grouped 64': `${(median(s.perSec) / groupedConcurrent).toFixed(2)}x`,
  };
});
table(`record store put, ${rounds} rounds of ${windowMs} ms per case (medians)`, rows);

// How long one grouped commit of 64 puts blocks the loop: setImmediate B1 is queued before the puts,
// the store's COMMIT after them, B2 after that; B2 − B1 is the commit (statements ran inside put()).
const blockStore = durableRecords({ path: join(dir, 'block.db') });
const blockRecords = blockStore.records('bench');
const blocks = [];
let next = 0;
for (let i = 0; i < (quick ? 50 : 300); i++) {
  let b1 = 0;
  setImmediate(() => (b1 = performance.now()));
  const puts = Array.from({ length: INFLIGHT }, () =>
    blockRecords.put(`b-${String(next++).padStart(10, '0')}`, value),
  );
  const b2 = await new Promise((resolve) => setImmediate(() => resolve(performance.now())));
  await Promise.all(puts);
  blocks.push(b2 - b1);
}
await blockStore.close();
blocks.sort((a, b) => a - b);

// Event-loop delay while 64 puts are kept in flight (memory has none to show: its puts resolve in
// microtasks, so a loop of them never lets the event loop turn at all).
async function loopDelay(home) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await run(home, INFLIGHT, windowMs);
  h.disable();
  return { p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 };
}
const delays = { 'durable grouped': await loopDelay('durable grouped') };
const blockRows = [
  {
    measure: `one grouped commit of ${INFLIGHT} puts (main thread blocked)`,
    p50: `${percentile(blocks, 50).toFixed(3)} ms`,
    p99: `${percentile(blocks, 99).toFixed(3)} ms`,
    max: `${(blocks.at(-1) ?? 0).toFixed(3)} ms`,
  },
  ...Object.entries(delays).map(([home, d]) => ({
    measure: `event-loop delay, ${home}, ${INFLIGHT} in flight`,
    p50: `${d.p50.toFixed(3)} ms`,
    p99: `${d.p99.toFixed(3)} ms`,
    max: `${d.max.toFixed(3)} ms`,
  })),
];
table('event loop', blockRows);

rmSync(dir, { recursive: true, force: true });
save('recovery-store', {
  rounds,
  windowMs,
  inflight: INFLIGHT,
  puts: rows,
  commitBlockMs: { p50: percentile(blocks, 50), p99: percentile(blocks, 99), max: blocks.at(-1) },
  eventLoopDelayMs: delays,
  target: { durableGroupedPutsPerSec: 5000, met: groupedConcurrent >= 5000 },
});
