// The child of dead-letters.test.ts: adds up to `count` entries to a durable dead-letter queue,
// `inflight` adds at once, and prints each id once add() resolved (acknowledged). It is SIGKILLed
// at a random moment. argv: path, count, inflight, sync ('grouped' | 'each').
import { createDeadLetterQueue, durableRecords } from '../../packages/core/dist/index.js';

const [path, count = '10000', inflight = '64', sync = 'grouped'] = process.argv.slice(2);
const records = durableRecords({ path, sync });
const dlq = createDeadLetterQueue({ records, maxSize: 1_000_000 });
const max = Number(count);
let next = 0;

async function worker() {
  while (next < max) {
    const seq = next++;
    const id = await dlq.add({
      type: 'orders.sync',
      payload: { seq, order: `o-${seq}` },
      error: new Error(`sync ${seq} failed`),
    });
    process.stdout.write(`${seq} ${id}\n`);
  }
}

await Promise.all(Array.from({ length: Number(inflight) }, worker));
await dlq.close();
await records.close();
