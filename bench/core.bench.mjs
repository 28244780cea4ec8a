// npm run bench:core — the cost of Bulwark's policies per call, against a direct await, opossum
// alone (its defaults) and cockatiel's composed wrap; the cost of one failure as the breaker's
// window grows; heap for 100k keyed breakers and bulkheads. Prints tables, writes
// bench/results/core.json. Run on the built package (npm run build first).

import * as cockatiel from 'cockatiel';
import CircuitBreaker from 'opossum';
import {
  bulkhead,
  circuitBreaker,
  fallback,
  pipeline,
  rateLimit,
  retry,
  timeout,
} from '../packages/core/dist/index.js';
import { compare, heapUsed, save, table } from './lib.mjs';

const quick = process.argv.includes('--quick');
const iterations = quick ? 5_000 : 50_000;
const rounds = quick ? 3 : 7;

const work = async () => 42;
const closers = [];
const keep = (p) => {
  closers.push(p);
  return p;
};

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
const happyRows = happy.map((c) => ({
  case: c.name,
  'µs/call': (c.nsPerCall / 1000).toFixed(3),
  'x direct': (c.nsPerCall / base).toFixed(2),
  'x standard pipeline': (c.nsPerCall / std).toFixed(2),
}));
table(`Happy path (median of ${rounds} rounds × ${iterations} sequential calls)`, happyRows);
opossum.shutdown();

// --- cost of one failure as the window grows ------------------------------------------------
const fail = async () => {
  throw new Error('boom');
};
const failureRows = [];
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

// --- heap for many keys -------------------------------------------------------------------
const keys = quick ? 10_000 : 100_000;
const heapRows = [];
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

for (const p of closers) await p.close?.();
save('core', { happy: happyRows, failure: failureRows, heap: heapRows, iterations, rounds });
