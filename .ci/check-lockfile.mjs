#!/usr/bin/env node
/**
 * Fails when package-lock.json misses another platform's optional binary: for every package in
 * the lockfile with optionalDependencies (Biome, Rollup, esbuild, turbo, …), each listed optional
 * dependency must have its own `node_modules/…` entry where Node would resolve it. A lockfile
 * rewritten by `npm install` over an existing node_modules keeps only this machine's binaries,
 * and `npm ci` then refuses it on every other platform.
 *
 * Usage: node .ci/check-lockfile.mjs [path/to/package-lock.json]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Every optional dependency the lockfile lists without an entry of its own. */
export function missingOptionalBinaries(lock) {
  const packages = lock.packages ?? {};
  const missing = [];
  for (const [key, entry] of Object.entries(packages)) {
    for (const name of Object.keys(entry.optionalDependencies ?? {})) {
      if (!resolves(packages, key, name)) missing.push({ from: key || '(root)', name });
    }
  }
  return missing;
}

/** Whether `name` resolves from the package at `key`, as Node walks up node_modules folders. */
function resolves(packages, key, name) {
  let base = key;
  for (;;) {
    const candidate = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (candidate in packages) return true;
    if (base === '') return false;
    const i = base.lastIndexOf('node_modules/');
    // A workspace package (packages/core) resolves from its own folder, then from the root.
    base = i <= 0 ? '' : base.slice(0, i - 1);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? 'package-lock.json';
  const missing = missingOptionalBinaries(JSON.parse(readFileSync(file, 'utf8')));
  if (missing.length > 0) {
    console.error(`${file} misses ${missing.length} optional dependencies (other platforms' binaries):`);
    for (const m of missing.slice(0, 20)) console.error(`  ${m.name} (optional dependency of ${m.from})`);
    console.error(
      'Regenerate it with no node_modules present: rm -rf node_modules && npm install, then check that npm ci passes.',
    );
    process.exit(1);
  }
  console.log(`${file}: every optional dependency has its own entry`);
}
