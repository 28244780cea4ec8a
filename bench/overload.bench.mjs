// npm run bench:overload — issue 11's measurement: while one bulkheaded route (/work: 5 ms CPU +
// 20 ms wait, 20 slots, a queue of 500) is flooded by 200 connections, what happens to a plain
// /hello (10 connections, 100 requests/s)? On Express, Koa and NestJS, three runs each, in one go:
//   baseline     /hello alone (no flood), unprotected server
//   unprotected  flood on, Bulwark without http.overload
//   protected    flood on, http.overload { maxConcurrent: 64, maxEventLoopDelay: '200ms' } and
//                /work marked sheddable (http.criticality)
// Each server runs in its own process; the flood runs in another (autocannon CLI); /hello is
// measured from this process. Prints /hello's p50/p99 and success share, and the ratio of
// unprotected and protected p99 to baseline; writes bench/results/overload.json. Never a timed assertion.
// Options: --duration=S (default 8), --frameworks=express,koa,nestjs.
import { fork, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { here, save, table } from './lib.mjs';

const arg = (name, fallback) => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? a.slice(name.length + 3) : fallback;
};
const duration = Number(arg('duration', '8'));
const frameworks = arg('frameworks', 'express,koa,nestjs').split(',');
const cli = fileURLToPath(import.meta.resolve('autocannon/autocannon.js'));
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

function start(framework, variant) {
  const child = fork(join(here, 'overload', 'server.mjs'), [framework, variant], {
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ port: m.port, stop: () => stopChild(child) }));
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
}
function stopChild(child) {
  return new Promise((resolve) => {
    child.once('exit', () => {
      children.delete(child);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** The flood: 200 connections on /work, in its own process. */
function flood(port, seconds) {
  const child = spawn(
    process.execPath,
    [cli, '-c', '200', '-d', String(seconds), '--json', `http://127.0.0.1:${port}/work`],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  children.add(child);
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  return new Promise((resolve) => {
    child.once('exit', () => {
      children.delete(child);
      try {
        resolve(JSON.parse(out));
      } catch {
        resolve(undefined);
      }
    });
  });
}

/** /hello at 100 requests/s from 10 connections. */
function probe(port, seconds) {
  return autocannon({
    url: `http://127.0.0.1:${port}/hello`,
    connections: 10,
    overallRate: 100,
    duration: seconds,
    timeout: 20,
  });
}

async function run(framework, variant, withFlood) {
  const server = await start(framework, variant);
  // Warm up both routes.
  await autocannon({ url: `http://127.0.0.1:${server.port}/hello`, connections: 5, duration: 1 });
  await autocannon({ url: `http://127.0.0.1:${server.port}/work`, connections: 5, duration: 1 });
  const flooding = withFlood ? flood(server.port, duration + 2) : undefined;
  if (flooding) await new Promise((r) => setTimeout(r, 1500)); // let the flood build up
  const r = await probe(server.port, duration);
  const f = await flooding;
  await server.stop();
  const total = r.requests.total + r.errors + r.timeouts;
  return {
    p50: r.latency.p50,
    p99: r.latency.p99,
    ok: total === 0 ? 0 : r['2xx'] / total,
    floodRps: f ? Math.round(f.requests.average) : 0,
    flood2xx: f ? f['2xx'] : 0,
    floodNon2xx: f ? f.non2xx : 0,
  };
}

const rows = [];
const results = {};
for (const fw of frameworks) {
  const baseline = await run(fw, 'unprotected', false);
  const unprotected = await run(fw, 'unprotected', true);
  const prot = await run(fw, 'protected', true);
  results[fw] = { baseline, unprotected, protected: prot };
  for (const [name, x] of Object.entries({ baseline, unprotected, protected: prot })) {
    rows.push({
      framework: fw,
      run: name,
      'hello p50 ms': x.p50,
      'hello p99 ms': x.p99,
      'hello ok': `${(x.ok * 100).toFixed(1)}%`,
      'p99 / baseline': name === 'baseline' ? '1' : (x.p99 / Math.max(1, baseline.p99)).toFixed(1),
      'flood 2xx / non-2xx': name === 'baseline' ? '—' : `${x.flood2xx} / ${x.floodNon2xx}`,
    });
  }
}
table(`/hello while /work is flooded (200 connections), ${duration} s per run`, rows);
save('overload', { duration, results });
