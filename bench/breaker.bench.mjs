// npm run build && node --expose-gc bench/breaker.bench.mjs [--quick]
// The circuit breaker alone: a closed breaker's cost per call over a direct await, beside
// cockatiel's SamplingBreaker / ConsecutiveBreaker configured like-for-like and opossum 10 tuned
// as Bulwark tuned it (and with its defaults); the cost of one failure as the window fills (timed
// warm); heap and creation time for 10k/50k/100k keyed breakers; idle CPU and live timers with
// 100k breakers (some open). Prints tables, writes bench/results/breaker.json.

import { fileURLToPath } from 'node:url';
import { circuitBreaker } from '@bulwark/core';
import * as cockatiel from 'cockatiel';
import CircuitBreaker from 'opossum';
import { compare, heapUsed, save, table } from './lib.mjs';

const quick = process.argv.includes('--quick');
const results = {};
const work = async () => 1;
const us = (ns) => (ns / 1000).toFixed(3);
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
const idle = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Total memory a structure holds: JS heap plus ArrayBuffer backing stores (typed arrays live there). */
function memory() {
  heapUsed();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
}

const OPOSSUM_TUNED = {
  timeout: false, // no timer per call
  rollingPercentilesEnabled: false, // no latency sort
  enableSnapshots: false,
  errorThresholdPercentage: 50,
  volumeThreshold: 10,
  rollingCountTimeout: 10_000,
  rollingCountBuckets: 10,
  resetTimeout: 30_000,
};

// --- child mode: one keyed measurement in a fresh process ---------------------------------------
const childFlag = ['--keys', '--opossum'].find((f) => process.argv.includes(f));
if (childFlag) {
  const n = Number(process.argv[process.argv.indexOf(childFlag) + 1]);
  const keys = Array.from({ length: n }, (_, i) => `tenant-${i}`);
  if (childFlag === '--keys') {
    // warm the create path (small table, so nothing big is left to free during the measurement)
    const warm = circuitBreaker({ name: 'warm', maxKeys: 16 });
    for (let i = 0; i < 5_000; i++) await warm.execute(work, { key: `warm-${i}` });
    warm.close();
  }
  const before = memory();
  const t0 = process.hrtime.bigint();
  let keep;
  if (childFlag === '--keys') {
    keep = circuitBreaker({ name: `many-${n}`, maxKeys: n });
    for (let i = 0; i < n; i++) await keep.execute(work, { key: keys[i] });
  } else {
    // the previous engine: one opossum breaker per key, tuned, on one shared rotation controller
    const { EventEmitter } = await import('node:events');
    const controller = new EventEmitter();
    controller.setMaxListeners(0);
    keep = [];
    for (let i = 0; i < n; i++) {
      const o = new CircuitBreaker(work, {
        ...OPOSSUM_TUNED,
        name: keys[i],
        rotateBucketController: controller,
      });
      await o.fire();
      keep.push(o);
    }
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const after = memory();
  console.log(
    JSON.stringify({
      n,
      ms,
      heap: after.heap - before.heap,
      buffers: after.buffers - before.buffers,
      held: keep ? 1 : 0,
    }),
  );
  process.exit(0);
}

// --- a closed breaker, per call ----------------------------------------------------------------
let sink = 0;
const RATE = {
  errorThresholdPercentage: 50,
  volumeThreshold: 10,
  window: 10_000,
  buckets: 10,
  resetTimeout: 30_000,
};
const ours = circuitBreaker({ name: 'rate', ...RATE });
const oursConsecutive = circuitBreaker({ name: 'consecutive', failureThreshold: 5, resetTimeout: 30_000 });
const ckSampling = cockatiel.circuitBreaker(cockatiel.handleAll, {
  halfOpenAfter: 30_000,
  // threshold 50%, 10 s in 10 windows of 1 s, minimumRps 1 = at least 10 calls in the window
  breaker: new cockatiel.SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 1 }),
});
const ckConsecutive = cockatiel.circuitBreaker(cockatiel.handleAll, {
  halfOpenAfter: 30_000,
  breaker: new cockatiel.ConsecutiveBreaker(5),
});
const opTuned = new CircuitBreaker(work, OPOSSUM_TUNED);
const opDefaults = new CircuitBreaker(work);
const cases = [
  { name: 'direct await', fn: work },
  {
    name: 'direct await + one Date.now()',
    fn: async () => {
      await work();
      sink += Date.now();
    },
  },
  { name: 'bulwark rate breaker (50%, 10 calls, 10s/10)', fn: () => ours.execute(work) },
  { name: 'cockatiel 4 SamplingBreaker (same settings)', fn: () => ckSampling.execute(work) },
  { name: 'bulwark failureThreshold 5', fn: () => oursConsecutive.execute(work) },
  { name: 'cockatiel 4 ConsecutiveBreaker(5)', fn: () => ckConsecutive.execute(work) },
  { name: 'opossum 10 tuned as Bulwark tuned it', fn: () => opTuned.fire() },
  { name: 'opossum 10 defaults', fn: () => opDefaults.fire() },
];
const perCall = await compare(
  cases,
  quick ? { iterations: 20_000, rounds: 3 } : { iterations: 100_000, rounds: 9 },
);
const direct = perCall[0].nsPerCall;
const clock = perCall[1].nsPerCall - direct;
const rateNs = perCall[2].nsPerCall;
table(
  'A closed breaker: cost per call (median of rounds, cases interleaved; all run the same async function)',
  perCall.map((r) => ({
    case: r.name,
    'µs/call': us(r.nsPerCall),
    'added over direct await µs': us(r.nsPerCall - direct),
    '× bulwark rate': (r.nsPerCall / rateNs).toFixed(2),
  })),
);
console.log(
  `One Date.now() costs ${us(clock)} µs on this machine; every rate breaker here (bulwark, cockatiel, opossum) reads the clock once per call.`,
);
results.perCall = perCall.map((r) => ({ ...r, addedNs: r.nsPerCall - direct }));
results.clockNs = clock;
opTuned.shutdown();
opDefaults.shutdown();

// --- one failure as the window fills (timed warm) ----------------------------------------------
const boom = new Error('boom'); // one error object: time the breaker, not Error's stack capture
const fail = async () => {
  throw boom;
};
const failureRows = [];
for (const windowCalls of quick ? [1_000, 10_000] : [1_000, 10_000, 50_000]) {
  const never = { volumeThreshold: 1e9, window: 60_000 };
  const b = circuitBreaker({ name: `win-${windowCalls}`, ...never, buckets: 60 });
  const ck = cockatiel.circuitBreaker(cockatiel.handleAll, {
    halfOpenAfter: 30_000,
    breaker: new cockatiel.SamplingBreaker({ threshold: 0.99, duration: 60_000, minimumRps: 1e9 }),
  });
  const opT = new CircuitBreaker(fail, {
    ...OPOSSUM_TUNED,
    volumeThreshold: 1e9,
    rollingCountTimeout: 60_000,
  });
  const opD = new CircuitBreaker(fail, { volumeThreshold: 1e9, rollingCountTimeout: 60_000 });
  for (let i = 0; i < windowCalls; i++) {
    await b.execute(work);
    await ck.execute(work);
    await opT.fire().catch(() => {}); // opossum's window is per breaker: fill the failing one itself
    await opD.fire().catch(() => {});
  }
  const n = quick ? 500 : 2_000;
  const timedCases = [
    { name: 'bulwark', fn: () => b.execute(fail).catch(() => {}) },
    { name: 'cockatiel', fn: () => ck.execute(fail).catch(() => {}) },
    { name: 'opossum tuned', fn: () => opT.fire().catch(() => {}) },
  ];
  const r = await compare(timedCases, { iterations: n, rounds: quick ? 3 : 5, warmup: n });
  // opossum's defaults sort every latency of the window on each failure: far fewer iterations
  const slowN = Math.max(20, Math.round(200_000 / windowCalls));
  r.push(
    ...(await compare([{ name: 'opossum defaults', fn: () => opD.fire().catch(() => {}) }], {
      iterations: slowN,
      rounds: 3,
      warmup: slowN,
    })),
  );
  const row = { 'window (calls)': windowCalls };
  for (const c of r) row[`${c.name} µs/failure`] = us(c.nsPerCall);
  failureRows.push(row);
  b.close();
  for (const o of [opT, opD]) o.shutdown();
}
table(
  'One failure as the window fills (60 s window; bulwark and cockatiel filled with successes, opossum with failures as its window is per action; warmed up before timing; never opens)',
  failureRows,
);
results.failureCost = failureRows;

// --- keyed breakers: memory and creation time --------------------------------------------------
// Each size runs in a fresh child process (this file with --keys N or --opossum N): in one process
// the typed arrays of an earlier, closed policy are freed only some time after a GC, which would
// hide part of the next one's memory. The key strings are made before measuring (the app holds them).
async function measureKeys(flag, n) {
  const { execFileSync } = await import('node:child_process');
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', fileURLToPath(import.meta.url), flag, String(n)],
    {
      encoding: 'utf8',
    },
  );
  return JSON.parse(out.trim().split('\n').at(-1));
}
const sizes = quick ? [10_000, 50_000] : [10_000, 50_000, 100_000];
const keyRows = [];
const row = (label, m) => ({
  keys: label,
  'heap MB': (m.heap / 1e6).toFixed(2),
  'typed arrays MB': (m.buffers / 1e6).toFixed(2),
  'total MB': ((m.heap + m.buffers) / 1e6).toFixed(2),
  'bytes/key': Math.round((m.heap + m.buffers) / m.n),
  'create ms': m.ms.toFixed(0),
  'µs/key': ((m.ms * 1000) / m.n).toFixed(2),
});
for (const n of sizes) keyRows.push(row(n, await measureKeys('--keys', n)));
const opossumKeys = quick ? 2_000 : 10_000;
keyRows.push(row(`${opossumKeys} opossum (old engine)`, await measureKeys('--opossum', opossumKeys)));
table(
  'Keyed breakers: memory (fresh process, after GC, heap + typed-array buffers) and creation (one call per key)',
  keyRows,
);
results.keys = keyRows;

// --- idle: CPU and live timers with 100k breakers ----------------------------------------------
{
  const n = quick ? 20_000 : 100_000;
  const t0 = timers();
  const many = circuitBreaker({ name: 'idle', maxKeys: n, failureThreshold: 1, resetTimeout: 1000 });
  for (let i = 0; i < n; i++) await many.execute(work, { key: `k${i}` });
  const afterClosed = timers();
  for (let i = 0; i < 1000; i++) await many.execute(fail, { key: `k${i}` }).catch(() => {});
  const afterOpen = timers();
  const opened = many.state('k0');
  const idleMs = quick ? 1000 : 3000;
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  await idle(idleMs);
  const cpu = process.cpuUsage(cpu0);
  const wall = Number(process.hrtime.bigint() - wall0) / 1e3;
  const halfOpen = many.state('k0');
  const afterHalfOpen = timers();
  const rows = [
    { what: 'timers before', count: t0 },
    { what: `after ${n} closed breakers`, count: afterClosed },
    { what: `after opening 1000 of them (state ${opened})`, count: afterOpen },
    { what: `after they are due for half-open (state ${halfOpen})`, count: afterHalfOpen },
  ];
  table(
    "Live timers (process.getActiveResourcesInfo(), Timeout) — one is the bench's own idle wait while it runs",
    rows,
  );
  const idleCpu = ((cpu.user + cpu.system) / wall) * 100;
  console.log(
    `\nIdle CPU with ${n} breakers (1000 open) over ${idleMs} ms: ${idleCpu.toFixed(2)}% of one core`,
  );
  results.idle = { breakers: n, timers: rows, idleCpuPercent: idleCpu, idleMs };
  many.close();
}

results.settings = { rate: RATE, opossumTuned: OPOSSUM_TUNED, quick };
save('breaker', results);
if (sink === 0) console.log('');
