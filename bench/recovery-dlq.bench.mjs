// Dead-letter queue: add() throughput and latency with durability on, grouped commit (the default:
// the writes of one tick share one transaction and one fsync) vs one fsync per add (sync: 'each'),
// against the memory store (no durability) and a bare durable put (the store's own floor).
// `inflight` adds run at once (a service whose calls fail together); latency is from the call to
// its resolve (the entry is durable). Runs alone (`node bench/recovery-dlq.bench.mjs`, after
// `npm run build`) or from bench/recovery.mjs. Prints a table, writes bench/results/recovery-dlq.json.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDeadLetterQueue, durableRecords, memoryRecords } from '../packages/core/dist/index.js';
import { median, save, table } from './lib.mjs';

const TARGET = 5000; // adds per second, durable with grouped commit (issue 10)
// --quick (bench/recovery.mjs passes it through): one round, a quarter of the adds.
const QUICK = process.argv.includes('--quick');
const ROUNDS = QUICK ? 1 : Number(process.env.BENCH_ROUNDS ?? 3);
const N = (n) => (QUICK ? n / 4 : n);
const dir = mkdtempSync(join(tmpdir(), 'bulwark-bench-dlq-'));
let fileNo = 0;

const error = Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:443'), { code: 'ECONNREFUSED' });
const payload = { orderId: 'o-000000', tenant: 'acme', lines: [{ sku: 'sku-1', qty: 2 }] };

/** A fresh store per round, so every round writes to an empty file. */
const stores = {
  memory: () => memoryRecords({ maxRecordsPerKind: 1_000_000 }),
  grouped: () => durableRecords({ path: join(dir, `g-${fileNo++}.db`), sync: 'grouped' }),
  each: () => durableRecords({ path: join(dir, `e-${fileNo++}.db`), sync: 'each' }),
};

/** Runs `count` operations, `inflight` at once; returns adds/s and latency percentiles in ms. */
async function drive(count, inflight, op) {
  const latencies = new Float64Array(count);
  let next = 0;
  const t0 = performance.now();
  async function worker() {
    while (next < count) {
      const i = next++;
      const s = performance.now();
      await op(i);
      latencies[i] = performance.now() - s;
    }
  }
  await Promise.all(Array.from({ length: inflight }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const sorted = [...latencies].sort((a, b) => a - b);
  const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  return { perSecond: count / seconds, p50: pct(0.5), p99: pct(0.99) };
}

async function dlqCase(store, count, inflight) {
  const records = stores[store]();
  const dlq = createDeadLetterQueue({ records, maxSize: 1_000_000 });
  await dlq.stats(); // opened (loaded) before timing
  const r = await drive(count, inflight, (i) =>
    dlq.add({ type: 'orders.sync', payload: { ...payload, seq: i }, error }),
  );
  await dlq.close();
  await records.close();
  return r;
}

async function putCase(store, count, inflight) {
  const records = stores[store]();
  const kind = records.records('bare');
  const r = await drive(count, inflight, (i) =>
    kind.put(`k-${String(i).padStart(8, '0')}`, { ...payload, seq: i }),
  );
  await records.close();
  return r;
}

const cases = [
  { name: 'add(), memory store', run: () => dlqCase('memory', N(20_000), 64) },
  { name: 'add(), durable, grouped commit', run: () => dlqCase('grouped', N(20_000), 64) },
  { name: 'add(), durable, fsync per add', run: () => dlqCase('each', N(1_000), 64) },
  { name: 'add(), durable, grouped, 1 in flight', run: () => dlqCase('grouped', N(1_000), 1) },
  { name: 'bare put(), durable, grouped', run: () => putCase('grouped', N(20_000), 64) },
];

try {
  for (const c of cases) await c.run(); // warm-up round
  const samples = new Map(cases.map((c) => [c.name, []]));
  for (let r = 0; r < ROUNDS; r++) for (const c of cases) samples.get(c.name).push(await c.run());
  const results = cases.map((c) => {
    const s = samples.get(c.name);
    return {
      name: c.name,
      perSecond: median(s.map((x) => x.perSecond)),
      p50Ms: median(s.map((x) => x.p50)),
      p99Ms: median(s.map((x) => x.p99)),
    };
  });
  const grouped = results[1];
  const each = results[2];
  table(
    `dead-letter add(), median of ${ROUNDS} rounds (${process.version}, 64 in flight unless said)`,
    results.map((r) => ({
      case: r.name,
      'adds/s': Math.round(r.perSecond).toLocaleString('en-US'),
      'p50 ms': r.p50Ms.toFixed(2),
      'p99 ms': r.p99Ms.toFixed(2),
      'vs grouped': `${(r.perSecond / grouped.perSecond).toFixed(2)}x`,
    })),
  );
  const met = grouped.perSecond >= TARGET;
  console.log(
    `\ngrouped commit: ${Math.round(grouped.perSecond).toLocaleString('en-US')} adds/s durable (target ≥ ${TARGET.toLocaleString('en-US')}: ${met ? 'met' : 'NOT met'}), ` +
      `${(grouped.perSecond / each.perSecond).toFixed(1)}x fsync-per-add`,
  );
  save('recovery-dlq', { target: TARGET, rounds: ROUNDS, results });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
