// Shared helpers for the benchmarks: timing loops, medians, a table and a JSON file.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';

export const here = dirname(fileURLToPath(import.meta.url));

/** Median of numbers. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs `fn` (async) `iterations` times sequentially and returns ns per call. */
export async function nsPerCall(fn, iterations) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn();
  return Number(process.hrtime.bigint() - t0) / iterations;
}

/**
 * Measures every case in `cases` ({ name, fn }) over `rounds` rounds, alternating the cases within
 * each round so drift on a shared machine hits them all alike; returns medians in ns per call.
 */
export async function compare(cases, { iterations = 50_000, rounds = 7, warmup = 20_000 } = {}) {
  for (const c of cases) await nsPerCall(c.fn, warmup);
  const samples = new Map(cases.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) samples.get(c.name).push(await nsPerCall(c.fn, iterations));
  }
  return cases.map((c) => ({ name: c.name, nsPerCall: median(samples.get(c.name)) }));
}

/** Prints rows as an aligned table. */
export function table(title, rows) {
  console.log(`\n${title}`);
  const keys = Object.keys(rows[0] ?? {});
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => String(r[k]).length)));
  const line = (vals) => vals.map((v, i) => String(v).padEnd(widths[i])).join('  ');
  console.log(line(keys));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(keys.map((k) => r[k])));
}

/** Writes results to bench/results/<name>.json with machine facts. */
export function save(name, data) {
  const dir = join(here, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  const meta = {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    date: new Date().toISOString(),
  };
  writeFileSync(file, `${JSON.stringify({ meta, ...data }, null, 2)}\n`);
  console.log(`\nsaved ${file}`);
}

/** Heap used after a full GC (needs --expose-gc). */
export function heapUsed() {
  globalThis.gc?.();
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
}

/**
 * A keep-alive client connection whose writes go nowhere; `push(bytes)` feeds it a request. Emit it
 * as a server's 'connection' to run real request parsing and responses in-process, with no network.
 */
export class NullSocket extends Duplex {
  remoteAddress = '127.0.0.1';
  remotePort = 50_000;
  remoteFamily = 'IPv4';
  localAddress = '127.0.0.1';
  localPort = 3000;
  _read() {}
  _write(_chunk, _encoding, callback) {
    callback();
  }
  _writev(_chunks, callback) {
    callback();
  }
  setTimeout() {
    return this;
  }
  setNoDelay() {
    return this;
  }
  setKeepAlive() {
    return this;
  }
}
