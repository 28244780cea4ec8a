/**
 * The lockfile check CI runs first (.ci/check-lockfile.mjs): the repository's lockfile lists every
 * platform's optional binaries (so `npm ci` works on any machine), and a lockfile missing one of
 * them is refused, naming it (issue 8, finding 12).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const script = join(root, '.ci/check-lockfile.mjs');

it("the repository's lockfile has an entry for every optional dependency it lists", async () => {
  const { stdout } = await exec(process.execPath, [script, join(root, 'package-lock.json')]);
  expect(stdout).toContain('every optional dependency has its own entry');
});

it('a lockfile missing another platform’s binary fails the check, naming it', async () => {
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { optionalDependencies?: Record<string, string> }>;
  };
  // Drop one optional binary entry (what `npm install` over an existing node_modules does).
  const [owner, entry] = Object.entries(lock.packages).find(([, e]) => e.optionalDependencies) ?? [];
  expect(owner, 'the lockfile has a package with optional dependencies').toBeDefined();
  const dropped = Object.keys(entry?.optionalDependencies ?? {})[0] as string;
  delete lock.packages[`node_modules/${dropped}`];
  const dir = await mkdtemp(join(tmpdir(), 'bulwark-lock-'));
  try {
    const file = join(dir, 'package-lock.json');
    await writeFile(file, JSON.stringify(lock));
    const failed = await exec(process.execPath, [script, file]).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain(dropped);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
