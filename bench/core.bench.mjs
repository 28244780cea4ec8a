// npm run bench:core — what Bulwark's policies cost per call, like-for-like: each policy alone
// beside cockatiel's equivalent configured the same way, the circuit breaker beside opossum tuned
// as Bulwark tunes it (and with opossum's defaults), the standard pipeline beside cockatiel's wrap
// of the same six parts (and of its defaults); keyed maps under churn; heap for 100k keyed
// bulkheads. The breaker in depth (failure cost, 100k keyed breakers, idle CPU) is
// bench/breaker.bench.mjs. Prints tables, writes bench/results/core.json. Runs on the built package.
// Flags: --quick, --only happy,heap,churn.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cockatiel from 'cockatiel';
import { build } from 'esbuild';
import { LRUCache } from 'lru-cache';
import CircuitBreaker from 'opossum';
import {
  bulkhead,
  circuitBreaker,
  fallback,
  memoryStore,
  pipeline,
  rateLimit,
  retry,
  timeout,
} from '../packages/core/dist/index.js';
import { heapUsed, here, median, save, table } from './lib.mjs';

const quick = process.argv.includes('--quick');
const iterations = quick ? 5_000 : 50_000;
const rounds = quick ? 3 : 7;
// `--only happy,churn` runs some sections: happy, heap, churn (default: all).
const onlyArg = process.argv.find((a) => a.startsWith('--only'));
const only = onlyArg
  ? (onlyArg.split('=')[1] ?? process.argv[process.argv.indexOf(onlyArg) + 1]).split(',')
  : undefined;
const want = (section) => only === undefined || only.includes(section);
let happyRows = [];
const heapRows = [];
const churnRows = [];

const work = async () => 42;
const closers = [];
const keep = (p) => {
  closers.push(p);
  return p;
};

/** Medians over `rounds` rounds, cases alternated within each round so drift hits them alike: wall and CPU ns per call. */
async function measure(cases) {
  for (const c of cases) for (let i = 0; i < 20_000; i++) await c.fn();
  const samples = new Map(cases.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const t0 = process.hrtime.bigint();
      const u0 = process.cpuUsage();
      for (let i = 0; i < iterations; i++) await c.fn();
      const u = process.cpuUsage(u0);
      samples.get(c.name).push({
        wall: Number(process.hrtime.bigint() - t0) / iterations,
        cpu: ((u.user + u.system) * 1000) / iterations,
      });
    }
  }
  return new Map(
    cases.map((c) => {
      const xs = samples.get(c.name);
      return [c.name, { wall: median(xs.map((x) => x.wall)), cpu: median(xs.map((x) => x.cpu)) }];
    }),
  );
}

if (want('happy')) {
  // --- the happy path, like-for-like ------------------------------------------------------------
  // The same configuration on both sides, so a figure compares the same work:
  const RETRY = { maxAttempts: 3 }; // 3 attempts in all; cockatiel counts retries: maxAttempts 2
  // The rate breaker: open at 50% failures over 10 s in 10 buckets, at least 10 calls, 30 s open.
  const BREAKER = {
    errorThresholdPercentage: 50,
    volumeThreshold: 10,
    window: 10_000,
    buckets: 10,
    resetTimeout: 30_000,
  };
  const ckBreaker = () =>
    cockatiel.circuitBreaker(cockatiel.handleAll, {
      halfOpenAfter: 30_000,
      // 50% over 10 s (cockatiel samples in 1 s windows), minimumRps 1 = at least 10 calls in 10 s
      breaker: new cockatiel.SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 1 }),
    });
  const OPOSSUM_AS_BULWARK = {
    timeout: false, // a timeout is a separate policy in Bulwark: no timer per call
    rollingPercentilesEnabled: false, // Bulwark keeps no latency percentiles
    enableSnapshots: false,
    errorThresholdPercentage: 50,
    volumeThreshold: 10,
    rollingCountTimeout: 10_000,
    rollingCountBuckets: 10,
    resetTimeout: 30_000,
  };
  // Bulwark's timeout rejects at once and aborts the signal it handed in only when the time is up:
  // cockatiel's Aggressive strategy with abortOnReturn: false. (cockatiel's default aborts the
  // signal on every return, an AbortError per call: its "defaults" lines.)
  const ckTimeout = (ms, abortOnReturn = false) =>
    cockatiel.timeout(ms, { strategy: cockatiel.TimeoutStrategy.Aggressive, abortOnReturn });
  const ckRetry = () =>
    cockatiel.retry(cockatiel.handleAll, { maxAttempts: 2, backoff: new cockatiel.ExponentialBackoff() });

  const bw = {
    retry: keep(retry(RETRY)),
    breaker: keep(circuitBreaker({ name: 'bench', ...BREAKER })),
    timeout: keep(timeout({ timeout: 1000 })),
    bulkhead: keep(bulkhead({ maxConcurrent: 10, maxQueue: 0 })),
    fallback: keep(fallback({ fallback: { value: 0 } })),
    rateLimit: keep(rateLimit({ limit: 1e12, interval: 1000 })),
  };
  const ck = {
    retry: ckRetry(),
    breaker: ckBreaker(),
    timeout: ckTimeout(1000),
    timeoutDefaults: cockatiel.timeout(1000, cockatiel.TimeoutStrategy.Aggressive),
    bulkhead: cockatiel.bulkhead(10, 0),
    fallback: cockatiel.fallback(cockatiel.handleAll, 0),
  };
  const opossumTuned = new CircuitBreaker(work, OPOSSUM_AS_BULWARK);
  const opossumDefaults = new CircuitBreaker(work); // a timer per call, percentiles, snapshots

  const PARTS =
    'fallback(value) > total timeout 5 s > retry (3 attempts) > rate breaker > attempt timeout 1 s > bulkhead (10, no queue)';
  const standard = pipeline(
    keep(fallback({ fallback: { value: 0 } })),
    keep(timeout({ timeout: 5000, kind: 'total' })),
    keep(retry(RETRY)),
    keep(circuitBreaker({ name: 'bench-std', ...BREAKER })),
    keep(timeout({ timeout: 1000 })),
    keep(bulkhead({ maxConcurrent: 10, maxQueue: 0 })),
  );
  const ckStandard = cockatiel.wrap(
    cockatiel.fallback(cockatiel.handleAll, 0),
    ckTimeout(5000),
    ckRetry(),
    ckBreaker(),
    ckTimeout(1000),
    cockatiel.bulkhead(10, 0),
  );
  const ckStandardDefaults = cockatiel.wrap(
    cockatiel.fallback(cockatiel.handleAll, 0),
    cockatiel.timeout(5000, cockatiel.TimeoutStrategy.Aggressive),
    ckRetry(),
    ckBreaker(),
    cockatiel.timeout(1000, cockatiel.TimeoutStrategy.Aggressive),
    cockatiel.bulkhead(10, 0),
  );
  const run = (p) => () => p.execute(work);
  const cases = [
    { name: 'direct await', fn: () => work() },
    ...Object.entries(bw).map(([k, p]) => ({ name: `bulwark ${k}`, fn: run(p) })),
    ...Object.entries(ck).map(([k, p]) => ({ name: `cockatiel ${k}`, fn: run(p) })),
    { name: 'opossum tuned', fn: () => opossumTuned.fire() },
    { name: 'opossum defaults', fn: () => opossumDefaults.fire() },
    { name: 'bulwark standard', fn: run(standard) },
    { name: 'cockatiel standard', fn: run(ckStandard) },
    { name: 'cockatiel standard defaults', fn: run(ckStandardDefaults) },
  ];
  const m = await measure(cases);
  const fmt = (name) => `${(m.get(name).wall / 1000).toFixed(3)} (${(m.get(name).cpu / 1000).toFixed(3)})`;
  const ratio = (a, b, k) => (m.get(a)[k] / m.get(b)[k]).toFixed(2);
  const line = (what, ours, theirs, theirLabel) => ({
    compared: what,
    'bulwark µs (cpu)': fmt(ours),
    'other µs (cpu)': theirs ? fmt(theirs) : '—',
    other: theirs ? theirLabel : 'no equivalent',
    'other / bulwark (cpu)': theirs ? `${ratio(theirs, ours, 'wall')} (${ratio(theirs, ours, 'cpu')})` : '—',
  });
  happyRows = [
    line('direct await (the floor)', 'direct await'),
    line(
      'retry, 3 attempts in all, exponential',
      'bulwark retry',
      'cockatiel retry',
      'cockatiel retry maxAttempts 2',
    ),
    line(
      'rate breaker 50% / 10 s / ≥10 calls',
      'bulwark breaker',
      'cockatiel breaker',
      'cockatiel SamplingBreaker',
    ),
    line(
      '  the same, opossum tuned as Bulwark',
      'bulwark breaker',
      'opossum tuned',
      'opossum 10, no timeout/percentiles/snapshots',
    ),
    line('  the same, opossum defaults', 'bulwark breaker', 'opossum defaults', 'opossum 10 defaults'),
    line('timeout 1 s', 'bulwark timeout', 'cockatiel timeout', 'cockatiel Aggressive, abortOnReturn false'),
    line(
      '  the same, cockatiel defaults',
      'bulwark timeout',
      'cockatiel timeoutDefaults',
      'cockatiel Aggressive (aborts on return)',
    ),
    line(
      'bulkhead 10 concurrent, no queue',
      'bulwark bulkhead',
      'cockatiel bulkhead',
      'cockatiel bulkhead(10, 0)',
    ),
    line('fallback to a value', 'bulwark fallback', 'cockatiel fallback', 'cockatiel fallback(handleAll, 0)'),
    line('rate limit (token bucket)', 'bulwark rateLimit'),
    line(
      'standard pipeline, same 6 parts',
      'bulwark standard',
      'cockatiel standard',
      'cockatiel wrap, abortOnReturn false',
    ),
    line(
      '  the same, cockatiel defaults',
      'bulwark standard',
      'cockatiel standard defaults',
      'cockatiel wrap, its default timeouts',
    ),
  ];
  table(
    `Happy path, like-for-like: per call, wall µs and (CPU µs of this process), medians of ${rounds} rounds × ${iterations} sequential calls\n` +
      `standard pipeline = ${PARTS}, on both sides`,
    happyRows,
  );
  opossumTuned.shutdown();
  opossumDefaults.shutdown();
}

if (want('heap')) {
  // --- heap for many keys (keyed breakers: bench/breaker.bench.mjs) ----------------------------
  const keys = quick ? 10_000 : 100_000;
  {
    const before = heapUsed();
    const many = bulkhead({ name: 'many', maxKeys: keys, maxConcurrent: 10 });
    for (let i = 0; i < keys; i++) await many.execute(work, { key: `k${i}` });
    const after = heapUsed();
    heapRows.push({
      what: `${keys} keyed bulkheads`,
      'heap MB': ((after - before) / 1e6).toFixed(1),
      'bytes/key': Math.round((after - before) / keys),
    });
    many.close();
  }
  if (!globalThis.gc)
    console.log('\n(heap figures are rough: run with node --expose-gc, as npm run bench:core does)');
  table('Heap for many keys', heapRows);
}

if (want('churn')) {
  // --- keyed maps under churn: a new key on every call --------------------------------------------
  // A client rotating IPv6 addresses sends a new rate-limit key on every request, so the map stays
  // at its bound and every call evicts. Core's BoundedMap is internal (not exported): it is bundled
  // here from its source with esbuild. lru-cache 11 is the reference.
  async function internal(path) {
    const out = await build({
      entryPoints: [join(here, '../packages/core/src', path)],
      bundle: true,
      format: 'esm',
      platform: 'node',
      write: false,
      logLevel: 'silent',
    });
    const file = join(mkdtempSync(join(tmpdir(), 'bulwark-bench-')), 'module.mjs');
    writeFileSync(file, out.outputFiles[0].text);
    return import(file);
  }
  const { BoundedMap } = await internal('util/bounded-map.ts');

  // The machine may be shared: each figure is given as CPU time of this process per operation
  // (process.cpuUsage, GC threads included) beside wall time, medians of `rounds` after a warm-up.
  const cpuNs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) * 1000;
  };
  const sample = (t0, c0, n) => ({ wall: Number(process.hrtime.bigint() - t0) / n, cpu: (cpuNs() - c0) / n });
  const medians = (xs) => ({ wall: median(xs.map((x) => x.wall)), cpu: median(xs.map((x) => x.cpu)) });
  function syncNs(op, n) {
    const xs = [];
    let i = 0;
    for (let r = -1; r < rounds; r++) {
      const t0 = process.hrtime.bigint();
      const c0 = cpuNs();
      for (let j = 0; j < n; j++) op(i++);
      if (r >= 0) xs.push(sample(t0, c0, n));
    }
    return medians(xs);
  }
  async function asyncNs(op, n) {
    const xs = [];
    let i = 0;
    for (let r = -1; r < rounds; r++) {
      const t0 = process.hrtime.bigint();
      const c0 = cpuNs();
      for (let j = 0; j < n; j++) await op(i++);
      if (r >= 0) xs.push(sample(t0, c0, n));
    }
    return medians(xs);
  }

  const churnOps = quick ? 20_000 : 100_000;
  const row = (keys, what, t) => ({
    keys,
    what,
    'µs/op (cpu)': (t.cpu / 1000).toFixed(3),
    'µs/op (wall)': (t.wall / 1000).toFixed(3),
  });
  for (const bound of [10_000, 100_000]) {
    let n = 0;
    const next = () => `ip:${n++}`;
    const fill = (set) => {
      for (let i = 0; i < bound; i++) set(next());
    };
    {
      const m = new Map();
      let oldest = n;
      fill((k) => m.set(k, 1));
      const t = syncNs((i) => {
        m.set(next(), i);
        m.delete(`ip:${oldest++}`);
      }, churnOps);
      churnRows.push(row(bound, 'floor: a new key string, Map set + delete of a known key', t));
    }
    {
      const m = new BoundedMap(bound);
      fill((k) => m.set(k, 1));
      churnRows.push(
        row(
          bound,
          'BoundedMap getOrCreate, new key',
          syncNs((i) => m.getOrCreate(next(), () => i), churnOps),
        ),
      );
      const hot = Array.from({ length: 1024 }, (_, i) => `ip:${n - 1 - ((i * 7919) % bound)}`);
      churnRows.push(
        row(
          bound,
          'BoundedMap get, existing key',
          syncNs((i) => m.get(hot[i & 1023]), churnOps),
        ),
      );
    }
    {
      const m = new LRUCache({ max: bound });
      fill((k) => m.set(k, 1));
      const t = syncNs((i) => {
        const k = next();
        return m.get(k) ?? m.set(k, i);
      }, churnOps);
      churnRows.push(row(bound, 'lru-cache 11 get + set, new key (reference)', t));
    }
    {
      const s = memoryStore({ maxKeys: bound });
      for (let i = 0; i < bound; i++) await s.increment(next(), 1, 60_000);
      churnRows.push(
        row(
          bound,
          'MemoryStore.increment, new key',
          await asyncNs(() => s.increment(next(), 1, 60_000), churnOps),
        ),
      );
      s.close();
    }
    {
      const limiter = rateLimit({ limit: 1e12, interval: 1000, maxKeys: bound });
      for (let i = 0; i < bound; i++) await limiter.execute(work, { key: next() });
      churnRows.push(
        row(
          bound,
          'rateLimit().execute, new key',
          await asyncNs(() => limiter.execute(work, { key: next() }), churnOps),
        ),
      );
      churnRows.push(row(bound, '  direct await (for scale)', await asyncNs(work, churnOps)));
    }
  }
  table(
    `Keyed maps at their bound, a new key on every call (median of ${rounds} rounds × ${churnOps} ops; CPU time of this process and wall time)`,
    churnRows,
  );
}

for (const p of closers) await p.close?.();
save('core', {
  happy: happyRows,
  heap: heapRows,
  churn: churnRows,
  iterations,
  rounds,
});
