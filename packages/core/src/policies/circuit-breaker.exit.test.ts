/**
 * Proves that breakers never keep the process alive (they hold no timer at all: open, closed or
 * half-open). The source is bundled with esbuild into one self-contained CJS file, since
 * Node cannot run our `.ts` sources that import `./x.js` without a loader; a child process then
 * uses it without calling close() and must exit by itself.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'bulwark-breaker-exit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CHILD = `
const { circuitBreaker } = require('./breaker.cjs');
(async () => {
  const b = circuitBreaker({ volumeThreshold: 1, resetTimeout: 60000, window: 60000, buckets: 60 });
  for (let i = 0; i < 100; i++) await b.execute(() => i, { key: 'k' + i });
  for (let i = 0; i < 3; i++) await b.execute(() => { throw new Error('x'); }, { key: 'bad' }).catch(() => {});
  const c = circuitBreaker({ name: 'other', window: '1s', buckets: 10 });
  await c.execute(async () => 'ok');
  c.forceOpen('x');
  if (b.state('bad') !== 'open') throw new Error('expected an open breaker, got ' + b.state('bad'));
  const handles = process.getActiveResourcesInfo().filter((r) => r === 'Timeout');
  if (handles.length !== 0) throw new Error('expected no timer, got ' + handles.length);
  console.log('ready');
})();
`;

function run(file: string): Promise<{ code: number | null; out: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const kill = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not exit within 5 s; output: ${out}`));
    }, 5000);
    child.on('exit', (code) => {
      clearTimeout(kill);
      resolve({ code, out, ms: Date.now() - started });
    });
  });
}

it('lets the process exit without close()', async () => {
  await build({
    entryPoints: [fileURLToPath(new URL('./circuit-breaker.ts', import.meta.url))],
    outfile: join(dir, 'breaker.cjs'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'silent',
  });
  const file = join(dir, 'child.cjs');
  writeFileSync(file, CHILD);
  const result = await run(file);
  expect(result.out).toContain('ready');
  expect(result.code).toBe(0);
});
