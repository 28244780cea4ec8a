// npm run bench:http — requests/s and p99 latency of bare Express 5, Koa 3 and NestJS 12
// (platform-express) against the same apps with Bulwark's full inbound stack (correlation, trace
// context, deadline, rate limit, bulkhead, error handler; see bench/http/config.mjs). Each server
// runs in its own process on 127.0.0.1; autocannon loads it from another process. Bare and
// Bulwark alternate over several rounds (ABBA order, so drift hits both alike); medians are
// compared. Prints a table, writes bench/results/http.json. Never a timed assertion.
//
// Options (argument or environment variable):
//   --quick                    3 rounds × 2 s (about a minute)
//   --rounds=N      BENCH_ROUNDS       measured rounds per variant (default 5)
//   --duration=S    BENCH_DURATION     seconds per measured run (default 5)
//   --warmup=S      BENCH_WARMUP       seconds of unmeasured load before each run (default 1;
//                                      three times that once per server at start)
//   --connections=N BENCH_CONNECTIONS  concurrent connections (default 50)
//   --frameworks=a,b BENCH_FRAMEWORKS  subset of express,koa,nestjs
//   --route=R       BENCH_ROUTE        admission (default: GET /hello, Bulwark's admission only) or
//                                      protected (GET /orders/42 under protect() with a named policy
//                                      and a per-client route rate limit; @UsePolicy in NestJS)
//                  BENCH_BULWARK_HTTP JSON merged over the `http` config of the Bulwark servers,
//                                      e.g. '{"bulkhead":false}', to see what one part costs
//   --cpu-prof                         also write V8 CPU profiles of every server to
//                                      $TMPDIR/bulwark-bench-http-prof/<framework>-<variant>.cpuprofile
//                                      (summarise: node bench/http/profile-summary.mjs <file>);
//                                      profiling slows the servers, so that run's table is not a result
// Run on the built packages: the npm script builds first.
import { fork, spawn } from 'node:child_process';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BULWARK_CONFIG, PATH, PROTECTED_PATH, REQUEST_HEADERS } from './http/config.mjs';
import { here, median, save, table } from './lib.mjs';

const FRAMEWORKS = ['express', 'koa', 'nestjs'];
/** Targets: Bulwark's throughput as a share of bare, and its p99 as a multiple of bare's. */
const TARGETS = {
  express: { rps: 0.95, p99: 1.1 },
  koa: { rps: 0.95, p99: 1.1 },
  nestjs: { rps: 0.97, p99: 1.1 },
};
const LABELS = { express: 'Express 5', koa: 'Koa 3', nestjs: 'NestJS 12 (express)' };

function option(name, env, fallback) {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const raw = arg ? arg.slice(name.length + 3) : process.env[env];
  return raw === undefined || raw === '' ? fallback : raw;
}
const quick = process.argv.includes('--quick');
const cpuProf = process.argv.includes('--cpu-prof');
const rounds = Number(option('rounds', 'BENCH_ROUNDS', quick ? 3 : 5));
const duration = Number(option('duration', 'BENCH_DURATION', quick ? 2 : 5));
const warmup = Number(option('warmup', 'BENCH_WARMUP', quick ? 0.5 : 1));
const connections = Number(option('connections', 'BENCH_CONNECTIONS', 50));
const frameworks = String(option('frameworks', 'BENCH_FRAMEWORKS', FRAMEWORKS.join(',')))
  .split(',')
  .filter(Boolean);
for (const f of frameworks) if (!FRAMEWORKS.includes(f)) throw new Error(`unknown framework "${f}"`);
const routeName = String(option('route', 'BENCH_ROUTE', 'admission'));
if (!['admission', 'protected'].includes(routeName)) throw new Error(`unknown route "${routeName}"`);
/** The path loaded: admission only, or the protected route. */
const TARGET = routeName === 'protected' ? PROTECTED_PATH : PATH;
for (const [k, v] of Object.entries({ rounds, duration, warmup, connections })) {
  if (!(v > 0)) throw new Error(`--${k} must be a positive number, got ${v}`);
}

const autocannon = fileURLToPath(import.meta.resolve('autocannon/autocannon.js'));
const serverScript = join(here, 'http', 'server.mjs');
const profDir = join(tmpdir(), 'bulwark-bench-http-prof');
const children = new Set();

/** Starts a server process; resolves with its port once it listens. */
function startServer(framework, variant) {
  const execArgv = cpuProf
    ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${framework}-${variant}.cpuprofile`]
    : [];
  const child = fork(serverScript, [framework, variant], {
    env: { ...process.env, NODE_ENV: 'production' },
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: m.port }));
    child.once('exit', (code) => reject(new Error(`${framework}/${variant} server exited (${code})`)));
  });
}

/** The server's CPU time so far, in µs. */
function cpuOf(child) {
  return new Promise((resolve) => {
    const onMessage = (m) => {
      if (typeof m?.cpu !== 'number') return;
      child.off('message', onMessage);
      resolve(m.cpu);
    };
    child.on('message', onMessage);
    child.send('cpu');
  });
}

/** Stops a server and waits for it (a SIGKILL after 5 s if it hangs). */
function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** One autocannon run in its own process; resolves with its JSON result. */
function load(port, seconds) {
  const args = [autocannon, '--json', '-c', String(connections), '-d', String(seconds)];
  for (const [name, value] of Object.entries(REQUEST_HEADERS)) args.push('-H', `${name}=${value}`);
  args.push(`http://127.0.0.1:${port}${TARGET}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.once('exit', (code) => {
      children.delete(child);
      if (code !== 0) return reject(new Error(`autocannon exited ${code}: ${err.slice(-500)}`));
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`autocannon printed no JSON: ${out.slice(0, 200)} ${err.slice(-500)}`));
      }
    });
  });
}

/** The figures of one measured run; anything but a clean 2xx run is reported as a problem. */
function measure(r, cpuUs) {
  const bad = r.errors + r.timeouts + r.non2xx;
  return {
    rps: r.requests.total / r.duration,
    cpuUsPerReq: cpuUs / r.requests.total,
    p99: r.latency.p99,
    p50: r.latency.p50,
    bad,
  };
}

// Children never outlive the bench, even on Ctrl-C or a crash.
function killAll() {
  for (const c of children) c.kill('SIGKILL');
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

const runs = frameworks.length * 2 * rounds;
const estimate = frameworks.length * 2 * 3 * warmup + runs * (duration + warmup);
console.log(
  `HTTP overhead: ${frameworks.join(', ')}; ${rounds} rounds × ${duration} s per variant, ` +
    `${warmup} s warm-up per run, ${connections} connections (about ${Math.ceil(estimate / 60)} min).`,
);
console.log(
  `Machine: ${availableParallelism()} CPUs (${cpus()[0]?.model ?? '?'}), load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}, Node ${process.version}.`,
);
console.log(
  'Caveat: the load generator and the server share these CPUs, so absolute figures are low and ' +
    'noisy; compare ratios, and read them with the spread.',
);
if (cpuProf) console.log(`--cpu-prof: servers write CPU profiles to ${profDir}`);

const results = {};
for (const framework of frameworks) {
  const servers = {};
  for (const variant of ['bare', 'bulwark']) servers[variant] = await startServer(framework, variant);
  try {
    for (const variant of ['bare', 'bulwark']) await load(servers[variant].port, 3 * warmup);
    const samples = { bare: [], bulwark: [] };
    for (let r = 0; r < rounds; r++) {
      // ABBA: bare first in even rounds, Bulwark first in odd ones.
      const order = r % 2 === 0 ? ['bare', 'bulwark'] : ['bulwark', 'bare'];
      for (const variant of order) {
        const { port, child } = servers[variant];
        await load(port, warmup);
        const cpu0 = await cpuOf(child);
        const run = await load(port, duration);
        const m = measure(run, (await cpuOf(child)) - cpu0);
        samples[variant].push(m);
        process.stdout.write(
          `  ${framework.padEnd(7)} round ${r + 1}/${rounds} ${variant.padEnd(7)} ` +
            `${Math.round(m.rps).toString().padStart(6)} req/s  p99 ${m.p99} ms  ${m.cpuUsPerReq.toFixed(1)} µs CPU/req${m.bad ? `  ${m.bad} errors/non-2xx!` : ''}\n`,
        );
      }
    }
    results[framework] = samples;
  } finally {
    await Promise.all(Object.values(servers).map((s) => stopServer(s.child)));
  }
}

const pct = (x) => `${(x * 100).toFixed(1)}%`;
const rows = [];
const summary = {};
for (const framework of frameworks) {
  const s = results[framework];
  const stat = (variant, k) => median(s[variant].map((m) => m[k]));
  const spread = (variant) => {
    const xs = s[variant].map((m) => m.rps);
    return `±${(((Math.max(...xs) - Math.min(...xs)) / 2 / median(xs)) * 100).toFixed(1)}%`;
  };
  const figures = (variant) => ({
    rps: stat(variant, 'rps'),
    p99: stat(variant, 'p99'),
    p50: stat(variant, 'p50'),
    cpuUsPerReq: stat(variant, 'cpuUsPerReq'),
  });
  const bare = figures('bare');
  const bw = figures('bulwark');
  const rpsRatio = bw.rps / bare.rps;
  const p99Ratio = bw.p99 / bare.p99;
  const t = TARGETS[framework];
  const bad = [...s.bare, ...s.bulwark].reduce((n, m) => n + m.bad, 0);
  summary[framework] = {
    bare,
    bulwark: bw,
    rpsRatio,
    p99Ratio,
    cpuRatio: bw.cpuUsPerReq / bare.cpuUsPerReq,
    targets: t,
    errors: bad,
    samples: s,
  };
  rows.push({
    framework: LABELS[framework],
    'bare req/s': `${Math.round(bare.rps)} ${spread('bare')}`,
    'bulwark req/s': `${Math.round(bw.rps)} ${spread('bulwark')}`,
    'req/s bulwark/bare': pct(rpsRatio),
    'target req/s': `≥ ${pct(t.rps)} ${rpsRatio >= t.rps ? 'met' : 'MISSED'}`,
    'bare p99 ms': bare.p99,
    'bulwark p99 ms': bw.p99,
    'p99 bulwark/bare': pct(p99Ratio),
    'target p99': `≤ ${pct(t.p99)} ${p99Ratio <= t.p99 ? 'met' : 'MISSED'}`,
    'server CPU µs/req bare → bulwark': `${bare.cpuUsPerReq.toFixed(1)} → ${bw.cpuUsPerReq.toFixed(1)} (+${(bw.cpuUsPerReq - bare.cpuUsPerReq).toFixed(1)})`,
    'req/s ratio implied by CPU': pct(bare.cpuUsPerReq / bw.cpuUsPerReq),
    'errors/non-2xx': bad,
  });
}
table(
  `HTTP overhead of Bulwark's inbound stack on GET ${TARGET} (${routeName}; medians of ${rounds} rounds × ${duration} s, ${connections} connections; ± is half the range of req/s)`,
  rows,
);
console.log(
  '\nLoad generator (autocannon) and server share the machine; p99 has 1 ms resolution, so a ' +
    'one-step difference on a few-ms p99 moves the ratio by 10% or more.',
);
if (cpuProf) console.log('These figures were taken under --cpu-prof: use them for the profiles only.');
save('http', {
  options: {
    rounds,
    duration,
    warmup,
    connections,
    frameworks,
    quick,
    cpuProf,
    route: routeName,
    path: TARGET,
  },
  machine: { cpus: availableParallelism(), model: cpus()[0]?.model, loadavg: loadavg() },
  bulwarkConfig: BULWARK_CONFIG,
  requestHeaders: Object.keys(REQUEST_HEADERS),
  results: summary,
  table: rows,
});
