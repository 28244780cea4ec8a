// The child of dead-letters.test.ts: a durable queue with entries due in 10 minutes and the loop
// started must not keep the process alive (no close()).
import { createDeadLetterQueue, durableRecords } from '../../packages/core/dist/index.js';

const [path] = process.argv.slice(2);
const dlq = createDeadLetterQueue({ records: durableRecords({ path }), backoff: { initialDelay: '10m' } });
dlq.handle('t', () => {});
for (let i = 0; i < 3; i++) await dlq.add({ type: 't', error: new Error('x') });
await dlq.start();
const stats = await dlq.stats();
if (stats.byStatus.pending !== 3 || !stats.autoRetry)
  throw new Error(`unexpected stats ${JSON.stringify(stats)}`);
console.log('done');
