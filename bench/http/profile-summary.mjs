// Summarises a V8 .cpuprofile (node --cpu-prof; npm run bench:http -- --cpu-prof writes them to
// $TMPDIR/bulwark-bench-http-prof/): self time by function and by package, and the inclusive time of
// Bulwark's own frames. Usage: node bench/http/profile-summary.mjs <file.cpuprofile> [top=25]
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/http/profile-summary.mjs <file.cpuprofile> [top]');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Self time per node from the samples and their time deltas (µs).
const self = new Map();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  self.set(id, (self.get(id) ?? 0) + dt);
  total += dt;
});

function where(n) {
  const url = n.callFrame.url || '';
  const m = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (url.includes('/packages/')) return `@bulwark/${url.split('/packages/')[1].split('/')[0]}`;
  if (m) return m[1];
  if (url.startsWith('node:')) return 'node:*';
  return url ? url.split('/').slice(-2).join('/') : `(${n.callFrame.functionName || 'native'})`;
}
const label = (n) => {
  const f = n.callFrame;
  const file = (f.url || '').split('/').pop();
  return `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : ''}`.trim();
};
const ms = (us) => (us / 1000).toFixed(0).padStart(6);
const share = (us) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;

const byFn = new Map();
const byPkg = new Map();
for (const [id, t] of self) {
  const n = nodes.get(id);
  const k = `${label(n)}  [${where(n)}]`;
  byFn.set(k, (byFn.get(k) ?? 0) + t);
  byPkg.set(where(n), (byPkg.get(where(n)) ?? 0) + t);
}
// Inclusive time of each Bulwark function: samples with it anywhere on the stack (counted once).
const incl = new Map();
for (const [id, t] of self) {
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const n = nodes.get(cur);
    if (!where(n).startsWith('@bulwark/')) continue;
    const k = `${label(n)}  [${where(n)}]`;
    if (seen.has(k)) continue;
    seen.add(k);
    incl.set(k, (incl.get(k) ?? 0) + t);
  }
}

const print = (title, map, n) => {
  console.log(`\n${title}`);
  for (const [k, t] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n))
    console.log(`${ms(t)} ms ${share(t)}  ${k}`);
};
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled`);
print('Self time by package / origin', byPkg, 15);
print('Self time by function', byFn, top);
print('Inclusive time of @bulwark frames', incl, top);
