// npm run bench:recovery (all recovery benches; `-- --durable` adds the durable variants), or
// node bench/recovery-idempotency.bench.mjs after npm run build — CPU cost per request of the
// idempotency-key middleware on Express 5, in one process with no network (as bench/http-inproc):
// real request bytes pushed into a socket whose writes go nowhere, so each POST runs Node's parser,
// Express, express.json(), Bulwark's admission and the middleware, and nothing else.
// Variants, alternating in blocks (ABBA) so drift hits them alike:
//   none    the same route without the idempotency middleware (a fresh key header is sent and ignored)
//   miss    a fresh key per request: claim (insert) → handler → capture → store (put) the answer
//   replay  the same key and body every time: the stored answer is written, the handler never runs
// `miss`/`replay` run on memoryRecords(); `--durable` adds both on durableRecords() in a temp dir.
// Prints a table (median CPU µs/req, added = median of paired differences with `none`) and writes
// bench/results/recovery-idempotency.json. Target: a replay ≤ 50 µs. Never a timed assertion.
//
//   --rounds=N (BENCH_ROUNDS, default 30)  --requests=N (BENCH_REQUESTS, default 2000)  --quick  --durable
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBulwark, durableRecords, memoryRecords } from '@bulwark/core';
import { bulwark } from '@bulwark/express';
import express from 'express';
import { median, NullSocket, save, table } from './lib.mjs';

const option = (name, env, fallback) => {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const raw = arg ? arg.slice(name.length + 3) : process.env[env];
  return raw === undefined || raw === '' ? fallback : Number(raw);
};
const quick = process.argv.includes('--quick');
const durable = process.argv.includes('--durable');
const rounds = option('rounds', 'BENCH_ROUNDS', quick ? 10 : 30);
const requests = option('requests', 'BENCH_REQUESTS', 2_000);

const BODY = '{"item":"book","qty":1}';
let counter = 0;
/** A POST /orders with an Idempotency-Key: a fresh one, or always the same. */
const requestBytes = (fresh) =>
  Buffer.from(
    `POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${BODY.length}\r\nIdempotency-Key: "${fresh ? `k-${++counter}` : 'the-same-key'}"\r\n\r\n${BODY}`,
  );

/** One variant: an Express app on a fresh Bulwark; `run(n)` serves n requests one after another. */
function variant(name, { idempotent, fresh, records }) {
  const core = createBulwark({ records, http: { production: true } });
  const bw = bulwark(core);
  const app = express();
  app.use(bw.middleware);
  app.use(express.json());
  const handler = (req, res) => res.status(201).json({ id: 42, item: req.body.item });
  if (idempotent) app.post('/orders', bw.idempotency(), handler);
  else app.post('/orders', handler);
  const server = createServer({ keepAliveTimeout: 0 }, app);
  const socket = new NullSocket();
  server.emit('connection', socket);
  let left = 0;
  let done;
  let bad;
  server.on('request', (_req, res) => res.on('finish', onFinish));
  function onFinish() {
    if (this.statusCode !== 201) bad = this.statusCode;
    if (--left === 0) done();
    else setImmediate(next);
  }
  const next = () => socket.push(requestBytes(fresh));
  return {
    name,
    run(n) {
      left = n;
      return new Promise((resolve, reject) => {
        done = () => (bad === undefined ? resolve() : reject(new Error(`${name}: answered ${bad}`)));
        next();
      });
    },
    close: () => core.close(),
  };
}

const dir = durable ? mkdtempSync(join(tmpdir(), 'bulwark-idem-bench-')) : undefined;
const memory = memoryRecords();
const disk = dir === undefined ? undefined : durableRecords({ path: join(dir, 'bench.db') });
const cases = [
  variant('none', { idempotent: false, fresh: true, records: memory }),
  variant('miss', { idempotent: true, fresh: true, records: memory }),
  variant('replay', { idempotent: true, fresh: false, records: memory }),
];
if (disk !== undefined) {
  cases.push(variant('miss (durable)', { idempotent: true, fresh: true, records: disk }));
  cases.push(variant('replay (durable)', { idempotent: true, fresh: false, records: disk }));
}

for (let i = 0; i < 3; i++) for (const c of cases) await c.run(quick ? 1_000 : 3_000); // warm-up
const samples = Object.fromEntries(cases.map((c) => [c.name, []]));
for (let r = 0; r < rounds; r++) {
  for (const c of r % 2 === 0 ? cases : [...cases].reverse()) {
    const t0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    await c.run(requests);
    const t = process.cpuUsage(t0);
    const wall = Number(process.hrtime.bigint() - w0) / 1000 / requests;
    samples[c.name].push({ cpu: (t.user + t.system) / requests, wall });
  }
}
for (const c of cases) await c.close();
await memory.close();
await disk?.close();
if (dir !== undefined) rmSync(dir, { recursive: true, force: true });

const cpu = (name) => samples[name].map((s) => s.cpu);
const results = {};
for (const c of cases) {
  const added = samples[c.name].map((s, i) => s.cpu - (samples.none[i]?.cpu ?? 0));
  results[c.name] = {
    cpuUs: median(cpu(c.name)),
    wallUs: median(samples[c.name].map((s) => s.wall)),
    addedCpuUs: median(added),
  };
}
table(
  `Express 5, POST /orders: medians of ${rounds} alternating blocks of ${requests} requests (CPU µs/req; added = median of paired differences with none)`,
  cases.map((c) => ({
    variant: c.name,
    'CPU µs/req': results[c.name].cpuUs.toFixed(1),
    'wall µs/req': results[c.name].wallUs.toFixed(1),
    'added CPU µs/req': c.name === 'none' ? '-' : results[c.name].addedCpuUs.toFixed(1),
  })),
);
console.log(
  `\nreplay: ${results.replay.cpuUs.toFixed(1)} µs CPU per request in all (target ≤ 50 µs); ${results.replay.addedCpuUs.toFixed(1)} µs more than the same route without the middleware`,
);
save('recovery-idempotency', {
  options: { rounds, requests, quick, durable },
  node: process.version,
  results,
});
