// Batch overhead per item (part of npm run bench:recovery): runBatch over N items of a trivial
// async fn, against a bare `for … await fn(item)` loop over the same items, in one run. Cases:
// no checkpoint; checkpoint to memoryRecords() (every 100 items, the default); checkpoint to the
// durable store (durableRecords, grouped commit, every 100 and every 1,000 items); and under a
// named policy (bulwark.batch with a retry policy, no checkpoint). Rounds alternate the cases so
// drift on a shared machine hits them alike; medians over rounds. Target (issue 10): ≤ 5 µs of
// overhead per item. Prints a table, writes bench/results/recovery-batch.json. Files live in a
// mkdtemp folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBulwark, durableRecords, memoryRecords, runBatch } from '../packages/core/dist/index.js';
import { median, save, table } from './lib.mjs';

const quick = process.argv.includes('--quick');
const rounds = quick ? 3 : 7;
const N = quick ? 5_000 : 20_000;
const items = Array.from({ length: N }, (_, i) => `item-${i}`);
const dir = mkdtempSync(join(tmpdir(), 'bulwark-bench-batch-'));
let sink = 0;
const fn = async (item) => {
  sink += item.length;
};

let file = 0;
let id = 0;
const memory = memoryRecords({ maxRecordsPerKind: 10_000_000 });
const bulwark = createBulwark({ policies: { p: { retry: { maxAttempts: 3 } } }, records: memory });
const cases = [
  {
    name: 'bare loop',
    run: async () => {
      for (const item of items) await fn(item);
    },
  },
  { name: 'runBatch, no checkpoint', run: () => runBatch(items, fn, { checkpoint: false }) },
  {
    name: 'runBatch, memory checkpoint every 100',
    run: () => runBatch(items, fn, { id: `m${++id}`, records: memory }),
  },
  {
    name: 'runBatch, durable checkpoint every 100',
    run: async () => {
      const store = durableRecords({ path: join(dir, `d${++file}.db`) });
      await runBatch(items, fn, { id: 'd', records: store });
      await store.close();
    },
  },
  {
    name: 'runBatch, durable checkpoint every 1000',
    run: async () => {
      const store = durableRecords({ path: join(dir, `d${++file}.db`) });
      await runBatch(items, fn, { id: 'd', records: store, checkpoint: { every: 1000 } });
      await store.close();
    },
  },
  {
    name: 'bulwark.batch (retry policy), no checkpoint',
    run: () => bulwark.batch('p', items, fn, { checkpoint: false }),
  },
];

async function time(c) {
  const t0 = process.hrtime.bigint();
  await c.run();
  return Number(process.hrtime.bigint() - t0) / N; // ns per item
}

for (const c of cases) await time(c); // warm-up: JIT, load node:sqlite
const samples = new Map(cases.map((c) => [c.name, []]));
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? cases : [...cases].reverse();
  for (const c of order) samples.get(c.name).push(await time(c));
}
const base = median(samples.get('bare loop'));
const rows = cases.map((c) => {
  const ns = median(samples.get(c.name));
  return {
    case: c.name,
    'µs/item': (ns / 1000).toFixed(3),
    'overhead µs/item': c.name === 'bare loop' ? '-' : ((ns - base) / 1000).toFixed(3),
    'vs bare': `${(ns / base).toFixed(1)}×`,
  };
});
table(`Batch overhead per item (${N} items, median of ${rounds} rounds; target ≤ 5 µs overhead)`, rows);
save('recovery-batch', { items: N, rounds, rows, sink });
await bulwark.close();
await memory.close();
rmSync(dir, { recursive: true, force: true });
