// npm run bench:recovery — runs every bench/recovery-*.bench.mjs in turn (name order), each in its
// own process so one's heap and event loop never skew the next; arguments (e.g. --quick) pass
// through. Each bench prints its table and writes bench/results/<name>.json. Run on the built
// packages (the npm script builds first). Exits non-zero when any bench failed.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { here } from './lib.mjs';

const benches = readdirSync(here)
  .filter((f) => /^recovery-.+\.bench\.mjs$/.test(f))
  .sort();
if (benches.length === 0) {
  console.error('No bench/recovery-*.bench.mjs found.');
  process.exit(1);
}
const failed = [];
for (const file of benches) {
  console.log(`\n=== ${file} ===`);
  const run = spawnSync(process.execPath, ['--expose-gc', join(here, file), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  if (run.status !== 0) failed.push(`${file} (${run.signal ?? `exit ${run.status}`})`);
}
if (failed.length > 0) {
  console.error(`\nFailed: ${failed.join(', ')}`);
  process.exit(1);
}
