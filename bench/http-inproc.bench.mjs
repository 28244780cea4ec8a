// npm run bench:http:inproc — CPU cost per request of Bulwark's full inbound stack (see
// bench/http/config.mjs) against bare Express 5, Koa 3 and NestJS 12, measured in one process per
// framework with no network and no load generator: the real Node HTTP server parses real request
// bytes pushed into a socket that discards every write, so each request runs the real
// IncomingMessage/ServerResponse, the framework and Bulwark, and nothing else. Bare and Bulwark
// alternate in blocks (ABBA order, so drift hits both alike); the median CPU µs/req
// (process.cpuUsage) of each is compared, with GC counts per 1000 requests. On a noisy shared
// machine this is the steadier figure; `npm run bench:http` stays the end-to-end one.
// Prints a table, writes bench/results/http-inproc.json. Never a timed assertion.
//
// Options (argument or environment variable):
//   --quick                          fewer blocks (about 20 s)
//   --rounds=N       BENCH_ROUNDS    measured blocks per variant (default 40)
//   --requests=N     BENCH_REQUESTS  requests per block (default 2000)
//   --frameworks=a,b BENCH_FRAMEWORKS subset of express,koa,nestjs
//                    BENCH_BULWARK_HTTP JSON merged over the Bulwark servers' `http` config
// Profile one framework: node --cpu-prof bench/http-inproc.bench.mjs --child=express
// Run on the built packages: the npm script builds first.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { BULWARK_CONFIG, PATH, PROTECTED_PATH, REQUEST_HEADERS } from './http/config.mjs';
import { median, NullSocket, save, table } from './lib.mjs';

const FRAMEWORKS = ['express', 'koa', 'nestjs'];
const LABELS = { express: 'Express 5', koa: 'Koa 3', nestjs: 'NestJS 12 (express)' };

function option(name, env, fallback) {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const raw = arg ? arg.slice(name.length + 3) : process.env[env];
  return raw === undefined || raw === '' ? fallback : raw;
}
const quick = process.argv.includes('--quick');
// Many short blocks rather than a few long ones: each bare block sits right next to a Bulwark one,
// so the paired differences cancel most of the neighbours' noise.
const rounds = Number(option('rounds', 'BENCH_ROUNDS', quick ? 15 : 40));
const requests = Number(option('requests', 'BENCH_REQUESTS', 2_000));
const child = option('child', 'BENCH_CHILD', undefined);

/** One request to `path` as the load generator sends it (keep-alive, the bench's headers). */
const requestTo = (path) =>
  Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n${Object.entries(REQUEST_HEADERS)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`,
  );

/** The routes measured: admission only, and protect() with a named policy and keyed limits. */
const ROUTES = [
  { route: 'admission', path: PATH },
  { route: 'protected', path: PROTECTED_PATH },
];

/** Builds one variant's server around a fresh app; `run(n)` serves n requests to `path` one after another. */
async function variant(framework, name, path) {
  const REQUEST = requestTo(path);
  const { create } = await import(`./http/servers/${framework}.mjs`);
  const app = await create(name);
  let listener = app.listener;
  if (app.nest) {
    await app.nest.init();
    listener = app.nest.getHttpAdapter().getInstance();
  }
  const server = createServer({ keepAliveTimeout: 0 }, listener);
  const socket = new NullSocket();
  server.emit('connection', socket);
  let left = 0;
  let done;
  let statusOk = true;
  // One shared listener (the same in both variants): the next request starts when the last finished.
  server.on('request', (_req, res) => res.on('finish', onFinish));
  function onFinish() {
    if (this.statusCode !== 200) statusOk = false;
    if (--left === 0) done();
    else setImmediate(next);
  }
  function next() {
    socket.push(REQUEST);
  }
  return {
    name,
    run(n) {
      left = n;
      return new Promise((resolve, reject) => {
        done = () =>
          statusOk ? resolve() : reject(new Error(`${framework}/${name}: a response was not 200`));
        next();
      });
    },
    close: () => app.close(),
  };
}

let gcMinor = 0;
let gcMajor = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    // NODE_PERFORMANCE_GC_MAJOR = 4, MINOR = 1 (scavenge), INCREMENTAL = 8, WEAKCB = 16
    if (e.detail?.kind === 1) gcMinor++;
    else gcMajor++;
  }
}).observe({ entryTypes: ['gc'] });

/** Child: measures one framework, bare vs Bulwark, and reports over IPC (or prints when run alone). */
async function measure(framework, path) {
  const cases = [await variant(framework, 'bare', path), await variant(framework, 'bulwark', path)];
  for (let i = 0; i < 4; i++) for (const c of cases) await c.run(5_000); // warm-up: JIT both
  const samples = { bare: [], bulwark: [] };
  const gc = { bare: { minor: 0, major: 0 }, bulwark: { minor: 0, major: 0 } };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? cases : [...cases].reverse();
    for (const c of order) {
      const m0 = gcMinor;
      const M0 = gcMajor;
      const t0 = process.cpuUsage();
      await c.run(requests);
      const t = process.cpuUsage(t0);
      // GC entries are delivered asynchronously: let them arrive before reading the counts.
      await new Promise((resolve) => setTimeout(resolve, 1));
      samples[c.name].push((t.user + t.system) / requests);
      gc[c.name].minor += gcMinor - m0;
      gc[c.name].major += gcMajor - M0;
    }
  }
  for (const c of cases) await c.close();
  const per1k = (n) => (n * 1000) / (rounds * requests);
  // Round r's two blocks ran back to back: their difference is the least disturbed figure.
  const added = samples.bulwark.map((b, i) => b - samples.bare[i]);
  const result = {
    bareUs: median(samples.bare),
    bulwarkUs: median(samples.bulwark),
    addedUs: median(added),
    samples,
    gcPer1k: {
      bare: { minor: per1k(gc.bare.minor), major: per1k(gc.bare.major) },
      bulwark: { minor: per1k(gc.bulwark.minor), major: per1k(gc.bulwark.major) },
    },
  };
  return result;
}

if (child !== undefined) {
  const result = await measure(child, option('path', 'BENCH_PATH', PATH));
  if (process.send) process.send(result);
  else console.log(JSON.stringify({ framework: child, ...result, samples: undefined }, null, 2));
  process.exit(0);
} else {
  const frameworks = String(option('frameworks', 'BENCH_FRAMEWORKS', FRAMEWORKS.join(',')))
    .split(',')
    .filter(Boolean);
  for (const f of frameworks) if (!FRAMEWORKS.includes(f)) throw new Error(`unknown framework "${f}"`);
  const results = {};
  for (const f of frameworks) {
    for (const { route, path } of ROUTES) {
      // One process per framework and route, so JIT state and heap never colour another's.
      const p = fork(
        fileURLToPath(import.meta.url),
        [`--child=${f}`, `--rounds=${rounds}`, `--requests=${requests}`, `--path=${path}`],
        {
          env: { ...process.env, NODE_ENV: 'production' },
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        },
      );
      results[`${f}:${route}`] = await new Promise((resolve, reject) => {
        p.once('message', resolve);
        p.once('exit', (code) => reject(new Error(`${f} ${route} child exited (${code})`)));
      });
      p.removeAllListeners('exit');
    }
  }
  const rows = Object.entries(results).map(([k, r]) => ({
    framework: LABELS[k.split(':')[0]],
    route: k.endsWith(':protected')
      ? `${PROTECTED_PATH} protect()+policy+keyed limits`
      : `${PATH} admission only`,
    'bare µs/req': r.bareUs.toFixed(1),
    'bulwark µs/req': r.bulwarkUs.toFixed(1),
    'added µs/req (paired)': r.addedUs.toFixed(1),
    'bare/bulwark': `${((100 * r.bareUs) / (r.bareUs + r.addedUs)).toFixed(1)}%`,
    'scavenges/1k': `${r.gcPer1k.bare.minor.toFixed(2)} → ${r.gcPer1k.bulwark.minor.toFixed(2)}`,
    'other GCs/1k': `${r.gcPer1k.bare.major.toFixed(3)} → ${r.gcPer1k.bulwark.major.toFixed(3)}`,
  }));
  table(
    `In-process CPU per request: medians of ${rounds} alternating blocks of ${requests} requests; added = median of back-to-back differences; bare/bulwark = bare / (bare + added), the throughput share at equal CPU`,
    rows,
  );
  save('http-inproc', {
    options: { rounds, requests, frameworks, quick, routes: ROUTES },
    bulwarkConfig: BULWARK_CONFIG,
    requestHeaders: Object.keys(REQUEST_HEADERS),
    results,
  });
}
