// npm run bench:core — the cost of Bulwark's policies per call, against a direct await, opossum
// alone (its defaults) and cockatiel's composed wrap; the cost of one failure as the breaker's
// window grows; heap for 100k keyed breakers and bulkheads. Prints tables, writes
// bench/results/core.json. Run on the built package (npm run build first).

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
import { compare, heapUsed, here, median, save, table } from './lib.mjs';

const quick = process.argv.includes('--quick');
const iterations = quick ? 5_000 : 50_000;
const rounds = quick ? 3 : 7;
// `--only happy,churn` runs some sections: happy, failure, heap, churn (default: all).
const onlyArg = process.argv.find((a) => a.startsWith('--only'));
const only = onlyArg
  ? (onlyArg.split('=')[1] ?? process.argv[process.argv.indexOf(onlyArg) + 1]).split(',')
  : undefined;
const want = (section) => only === undefined || only.includes(section);
let happyRows = [];
const failureRows = [];
const heapRows = [];
const churnRows = [];

const work = async () => 42;
const closers = [];
const keep = (p) => {
  closers.push(p);
  return p;
};

if (want('happy')) {
  // --- happy path -------------------------------------------------------------------------
  const r = keep(retry({ maxAttempts: 3 }));
  const cb = keep(circuitBreaker({ name: 'bench' }));
  const to = keep(timeout({ timeout: 1000 }));
  const bh = keep(bulkhead({ maxConcurrent: 10 }));
  const fb = keep(fallback({ fallback: { value: 0 } }));
  const rl = keep(rateLimit({ limit: 1e12, interval: 1000 }));
  const standard = pipeline(
    keep(fallback({ fallback: { value: 0 } })),
    keep(timeout({ timeout: 5000, kind: 'total' })),
    keep(retry({ maxAttempts: 3 })),
    keep(circuitBreaker({ name: 'bench-std' })),
    keep(timeout({ timeout: 1000 })),
    keep(bulkhead({ maxConcurrent: 10 })),
  );

  const opossum = new CircuitBreaker(work); // its defaults: a timer per call, percentiles, snapshots
  const ck = cockatiel.wrap(
    cockatiel.retry(cockatiel.handleAll, { maxAttempts: 3, backoff: new cockatiel.ExponentialBackoff() }),
    cockatiel.circuitBreaker(cockatiel.handleAll, {
      halfOpenAfter: 10_000,
      breaker: new cockatiel.ConsecutiveBreaker(5),
    }),
    cockatiel.timeout(1000, cockatiel.TimeoutStrategy.Aggressive),
    cockatiel.bulkhead(10, 0),
  );

  const cases = [
    { name: 'direct await', fn: () => work() },
    { name: 'retry', fn: () => r.execute(work) },
    { name: 'circuit breaker', fn: () => cb.execute(work) },
    { name: 'timeout', fn: () => to.execute(work) },
    { name: 'bulkhead', fn: () => bh.execute(work) },
    { name: 'fallback', fn: () => fb.execute(work) },
    { name: 'rate limit', fn: () => rl.execute(work) },
    { name: 'standard pipeline', fn: () => standard.execute(work) },
    { name: 'opossum 10 (defaults)', fn: () => opossum.fire() },
    { name: 'cockatiel 4 wrap(retry,cb,timeout,bulkhead)', fn: () => ck.execute(work) },
  ];
  const happy = await compare(cases, { iterations, rounds });
  const base = happy.find((c) => c.name === 'direct await').nsPerCall;
  const std = happy.find((c) => c.name === 'standard pipeline').nsPerCall;
  happyRows = happy.map((c) => ({
    case: c.name,
    'µs/call': (c.nsPerCall / 1000).toFixed(3),
    'x direct': (c.nsPerCall / base).toFixed(2),
    'x standard pipeline': (c.nsPerCall / std).toFixed(2),
  }));
  table(`Happy path (median of ${rounds} rounds × ${iterations} sequential calls)`, happyRows);
  opossum.shutdown();
}

if (want('failure')) {
  // --- cost of one failure as the window grows ------------------------------------------------
  const fail = async () => {
    throw new Error('boom');
  };
  for (const windowSize of [1_000, 10_000, 50_000]) {
    const failures = quick ? 200 : 1_000;
    // Never open: the breaker must keep recording so each failure does its full bookkeeping.
    const ours = circuitBreaker({ name: `win-${windowSize}`, volumeThreshold: 1e9, window: 60_000 });
    const theirs = new CircuitBreaker(work, { volumeThreshold: 1e9, rollingCountTimeout: 60_000 });
    const theirsFail = new CircuitBreaker(fail, { volumeThreshold: 1e9, rollingCountTimeout: 60_000 });
    // fill both windows with successful calls; opossum keeps every latency of the window
    for (let i = 0; i < windowSize; i++) {
      await ours.execute(work);
      await theirs.fire();
    }
    // opossum's failure path reads stats over the shared status: move the failing breaker onto the same window
    for (let i = 0; i < windowSize; i++) await theirsFail.fire().catch(() => {});
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < failures; i++) await ours.execute(fail).catch(() => {});
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < failures; i++) await theirsFail.fire().catch(() => {});
    const t2 = process.hrtime.bigint();
    const oursUs = Number(t1 - t0) / failures / 1000;
    const theirsUs = Number(t2 - t1) / failures / 1000;
    failureRows.push({
      'window (calls)': windowSize,
      'bulwark µs/failure': oursUs.toFixed(3),
      'opossum defaults µs/failure': theirsUs.toFixed(3),
      'opossum / bulwark': (theirsUs / oursUs).toFixed(1),
    });
    ours.close();
    theirs.shutdown();
    theirsFail.shutdown();
  }
  table('Cost of one failure as the window fills', failureRows);
}

if (want('heap')) {
  // --- heap for many keys -------------------------------------------------------------------
  const keys = quick ? 10_000 : 100_000;
  {
    const before = heapUsed();
    const many = circuitBreaker({ name: 'many', maxKeys: keys });
    for (let i = 0; i < keys; i++) await many.execute(work, { key: `k${i}` });
    const after = heapUsed();
    heapRows.push({
      what: `${keys} keyed breakers`,
      'heap MB': ((after - before) / 1e6).toFixed(1),
      'bytes/key': Math.round((after - before) / keys),
    });
    many.close();
  }
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
  failure: failureRows,
  heap: heapRows,
  churn: churnRows,
  iterations,
  rounds,
});
