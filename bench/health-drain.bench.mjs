// Drain time against the number of in-flight requests (issue 11, benchmark): an Express app with
// Bulwark, N slow requests in flight on keep-alive connections, then a shutdown. Every handler
// finishes RELEASE_MS after the shutdown starts, so the drain cannot end before that; what is
// measured is how long after that the server is closed (every connection ended), against the
// baseline the examples used before (server.close() + closeIdleConnections(), which leaves each
// keep-alive connection open until its keepAliveTimeout once its response is sent).
// Rounds alternate the two cases. Prints a table, writes bench/results/health-drain.json.
// Run on the built packages (npm run build first): node bench/health-drain.bench.mjs [--quick]
import { Agent, request } from 'node:http';
import express from 'express';
import { bulwark } from '../packages/express/dist/index.js';
import { median, save, table } from './lib.mjs';

const quick = process.argv.includes('--quick');
const counts = [10, 100, 1000];
const rounds = quick ? 1 : 3;
const RELEASE_MS = 100;

function get(port, agent) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/slow', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** One drain of `n` in-flight requests; `mode` is 'lifecycle' or 'server.close'. */
async function drainOnce(n, mode) {
  const bw = bulwark({ lifecycle: { delay: 0, drainTimeout: '30s' } });
  let arrived = 0;
  let release;
  const released = new Promise((r) => {
    release = r;
  });
  let allArrived;
  const arrivedAll = new Promise((r) => {
    allArrived = r;
  });
  const app = express();
  app.use(bw.middleware);
  app.get('/slow', async (_req, res) => {
    if (++arrived === n) allArrived();
    await released;
    res.json({ ok: true });
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  if (mode === 'lifecycle') bw.core.lifecycle.attach(server);
  const port = server.address().port;
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const answers = Promise.all(Array.from({ length: n }, () => get(port, agent)));
  await arrivedAll;

  const t0 = performance.now();
  setTimeout(release, RELEASE_MS);
  let cut = 0;
  if (mode === 'lifecycle') {
    const report = await bw.core.lifecycle.shutdown({ reason: 'bench' });
    cut = report.cutCount;
  } else {
    const closed = new Promise((r) => server.close(r));
    server.closeIdleConnections();
    await closed;
    await bw.core.close();
  }
  const closedMs = performance.now() - t0;
  const statuses = await answers;
  agent.destroy();
  return { closedMs, answered: statuses.filter((s) => s === 200).length, cut };
}

const rows = [];
const results = [];
for (const n of counts) {
  const samples = { lifecycle: [], 'server.close': [] };
  let answered = 0;
  let cut = 0;
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 ? ['server.close', 'lifecycle'] : ['lifecycle', 'server.close']) {
      const s = await drainOnce(n, mode);
      samples[mode].push(s.closedMs);
      if (mode === 'lifecycle') {
        answered += s.answered;
        cut += s.cut;
      }
    }
  }
  const life = median(samples.lifecycle);
  const base = median(samples['server.close']);
  const row = {
    'in flight': n,
    'lifecycle drain ms': life.toFixed(0),
    'after the last answer ms': (life - RELEASE_MS).toFixed(0),
    'server.close() ms': base.toFixed(0),
    'lifecycle / server.close()': (life / base).toFixed(2),
    answered: `${answered}/${n * rounds}`,
    cut,
  };
  rows.push(row);
  results.push({ inFlight: n, lifecycleMs: life, serverCloseMs: base, answered, cut, rounds });
}

table(
  `Drain time: N requests in flight on keep-alive connections, handlers finish ${RELEASE_MS} ms after the shutdown starts (median of ${rounds})`,
  rows,
);
save('health-drain', { releaseMs: RELEASE_MS, results });
