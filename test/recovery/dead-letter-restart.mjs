// The child of dead-letters.test.ts for "entries waiting for their next retry survive a restart".
// argv: path, phase.
// - 'first': adds 5 entries whose handler fails, runs the loop until each has failed one retry
//   and waits for the next (due in 1 s), prints their entries as JSON, then idles until SIGKILLed.
// - 'second': a new process on the same file; the handler succeeds; starts the loop, waits until
//   every entry recovered, prints the entries as JSON and exits by itself (no close()).
import { createDeadLetterQueue, durableRecords } from '../../packages/core/dist/index.js';

const [path, phase] = process.argv.slice(2);
const records = durableRecords({ path });
const dlq = createDeadLetterQueue({
  records,
  backoff: { initialDelay: '100ms', factor: 10, maxDelay: '1s', jitter: 'none' },
});
// The loop's timer is unref'd by design; this ref'd one keeps the child alive while it waits.
const alive = setInterval(() => {}, 1000);
const settle = (ms) => new Promise((r) => setTimeout(r, ms));

if (phase === 'first') {
  dlq.handle('orders.sync', () => {
    throw new Error('orders service still down');
  });
  for (let i = 0; i < 5; i++)
    await dlq.add({ type: 'orders.sync', payload: { i }, error: new Error('down') });
  await dlq.start();
  while ((await dlq.stats()).byStatus.retrying < 5) await settle(10);
  process.stdout.write(`${JSON.stringify(await dlq.list())}\n`);
} else {
  const ran = [];
  dlq.handle('orders.sync', (payload, { attempt }) => {
    ran.push({ i: payload.i, attempt, at: Date.now() });
  });
  await dlq.start();
  while ((await dlq.stats()).byStatus.recovered < 5) await settle(10);
  process.stdout.write(`${JSON.stringify({ ran, entries: await dlq.list() })}\n`);
  clearInterval(alive);
}
