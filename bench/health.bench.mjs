// npm run bench:health — what the probe endpoints cost with 20 registered dependencies, against a
// plain route of the same app (target: probe p99 ≤ 1 ms; no check runs inline).
//
// 1. End to end: a real Express 5 app with Bulwark's middleware on loopback, 20 dependencies
//    registered (their checks run in the background every second during the run), sequential
//    keep-alive requests; per path the latency percentiles (ms) from the client's side. The paths
//    alternate in rounds, so drift on the shared machine hits them alike.
// 2. In process: `bulwark.http.admit()` alone for each probe (µs per call), the engine's own cost.
// 3. Drain figures: see the section at the end (lifecycle).
// Prints tables, writes bench/results/health.json. Never a timed assertion.
//
// Options: --quick (fewer rounds), --rounds=N (default 10), --requests=N per path and round (default 500).
// Run on the built packages: the npm script builds first.
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import express from 'express';
import { createBulwark } from '../packages/core/dist/index.js';
import { bulwark } from '../packages/express/dist/index.js';
import { median, save, table } from './lib.mjs';

const option = (name, fallback) => {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? Number(arg.slice(name.length + 3)) : fallback;
};
const quick = process.argv.includes('--quick');
const rounds = option('rounds', quick ? 4 : 10);
const perRound = option('requests', quick ? 250 : 500);
const DEPENDENCIES = 20;
const TOKEN = 'bench-token-0123456789abcdef0123';

/** A Bulwark with 20 dependencies (core, optional, stretch; some depending on others) and its Express app. */
async function start() {
  const core = createBulwark({ http: { production: true, health: { token: TOKEN } } });
  for (let i = 0; i < DEPENDENCIES; i++) {
    const criticality = i < 8 ? 'core' : i < 14 ? 'optional' : 'stretch';
    core.health.register(`dep-${i}`, {
      criticality,
      interval: '1s',
      timeout: '500ms',
      dependsOn: i >= 10 ? [`dep-${i - 10}`] : [],
      check: async () => {
        await new Promise((r) => setImmediate(r));
      },
    });
  }
  await Promise.all(core.health.names().map((n) => core.health.checkNow(n)));
  const bw = bulwark(core);
  const app = express();
  app.use(bw.middleware);
  app.get('/hello', (_req, res) => {
    res.json({ hello: 'world' });
  });
  app.use(bw.notFound);
  app.use(bw.errorHandler);
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { core, server, port: server.address().port };
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

/** One GET; resolves with the latency in ms (the whole answer read). */
function get(port, path, headers) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(performance.now() - t0));
    });
    req.on('error', reject);
    req.end();
  });
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const CASES = [
  { name: 'GET /hello (plain route)', path: '/hello' },
  { name: 'GET /livez', path: '/livez' },
  { name: 'GET /readyz', path: '/readyz' },
  { name: 'GET /health (status only)', path: '/health' },
  {
    name: 'GET /health (token: 20-dependency report)',
    path: '/health',
    headers: { authorization: `Bearer ${TOKEN}` },
  },
];

async function endToEnd(port) {
  const samples = new Map(CASES.map((c) => [c.name, []]));
  for (const c of CASES) for (let i = 0; i < 200; i++) await get(port, c.path, c.headers); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const c of CASES) {
      const s = samples.get(c.name);
      for (let i = 0; i < perRound; i++) s.push(await get(port, c.path, c.headers));
    }
  }
  const base = median(samples.get(CASES[0].name));
  return CASES.map((c) => {
    const s = samples.get(c.name).sort((a, b) => a - b);
    return {
      path: c.name,
      requests: s.length,
      'p50 ms': percentile(s, 50).toFixed(3),
      'p99 ms': percentile(s, 99).toFixed(3),
      'max ms': s[s.length - 1].toFixed(3),
      'p50 vs plain': (median(s) / base).toFixed(2),
    };
  });
}

async function inProcess(core) {
  const engine = core.http;
  const req = (path, headers = {}) => ({ method: 'GET', path, headers, remoteAddress: '127.0.0.1' });
  const rows = [];
  for (const c of CASES) {
    const r = req(c.path, c.headers ?? {});
    const run = () => {
      const a = engine.admit(r);
      a.release();
    };
    for (let i = 0; i < 20_000; i++) run();
    const per = [];
    for (let k = 0; k < 7; k++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < 20_000; i++) run();
      per.push(Number(process.hrtime.bigint() - t0) / 20_000 / 1000);
    }
    rows.push({ 'admit()': c.name, 'µs per call (median of 7)': median(per).toFixed(2) });
  }
  return rows;
}

const { core, server, port } = await start();
console.log(
  `health bench: ${DEPENDENCIES} dependencies, ${rounds} rounds × ${perRound} requests per path (Node ${process.version})`,
);
const e2e = await endToEnd(port);
table('End to end (Express 5 + Bulwark on loopback, sequential keep-alive requests)', e2e);
const engineRows = await inProcess(core);
table('In process: the engine alone (admit + release)', engineRows);
const checksRun = core.health.report().dependencies.reduce((n, d) => n + d.history.length, 0);
console.log(`\nbackground checks recorded meanwhile (last 10 per dependency kept): ${checksRun}`);
agent.destroy();
server.close();
await core.close();

// --- Drain figures (owner: lifecycle) ---------------------------------------------------------
// Drain time against the number of in-flight requests goes here: add a function that returns
// rows, call it below, and put its rows in `save` under `drain`.
const drain = [];

save('health', { dependencies: DEPENDENCIES, rounds, perRound, endToEnd: e2e, engine: engineRows, drain });
