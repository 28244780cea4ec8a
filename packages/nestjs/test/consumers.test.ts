/**
 * Packaging smoke test: the built package (`dist/`, compiled by tsc with decorator metadata) is
 * loaded by a CommonJS app through `require(esm)` and by an ESM app, each in a child process that
 * starts a Nest app, makes one request and must then exit by itself (no timer keeps it alive).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const built = existsSync(here('../dist/index.js')) && existsSync(here('../../core/dist/index.js'));
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
// require(esm) without a flag needs Node 22.12+; the repo's root devDependency `node` provides it.
const node =
  major > 22 || (major === 22 && minor >= 12) ? process.execPath : here('../../../node_modules/.bin/node');

const title = built
  ? 'built package consumers'
  : 'built package consumers — SKIPPED: dist/ missing, run `npm run build -w @bulwark/core -w @bulwark/nestjs`';

describe.skipIf(!built)(title, () => {
  it.each([
    ['cjs', 'consumer.cjs'],
    ['esm', 'consumer.mjs'],
  ])('a %s app imports @bulwark/nestjs, serves one request and exits', async (format, file) => {
    const { stdout } = await run(node, [here(`./fixtures/${file}`)], { timeout: 15_000 });
    const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
    expect(result).toEqual({ status: 200, id: `${format}-1`, body: { format, signal: true } });
  });
});
