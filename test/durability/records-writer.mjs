// The child of records.test.ts: puts records into a durable store as fast as it can, with
// `inflight` puts in flight, and prints each id once its put resolved (acknowledged).
// argv: path, sync ('grouped' | 'each'), prefix, inflight, limit (0 = until killed).
import { durableRecords } from '../../packages/core/dist/index.js';

const [path, sync, prefix, inflight = '64', limit = '0'] = process.argv.slice(2);
const store = durableRecords({ path, sync });
const records = store.records('kill-test');
const max = Number(limit) || Number.POSITIVE_INFINITY;
let next = 0;

async function worker() {
  while (next < max) {
    const id = `${prefix}-${String(next++).padStart(8, '0')}`;
    await records.put(id, { id, body: 'x'.repeat(64) });
    process.stdout.write(`${id}\n`);
  }
}

await Promise.all(Array.from({ length: Number(inflight) }, worker));
await store.close();
