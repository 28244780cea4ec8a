import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('./uses-every-policy.mjs', import.meta.url));
const dist = fileURLToPath(new URL('../../packages/core/dist/index.js', import.meta.url));

describe('process lifetime', () => {
  it('a script using every policy exits by itself without close()', async () => {
    // npm test builds first; run alone, build core (npm run build) or this fails here, by design.
    expect(existsSync(dist), `build @bulwark/core first: ${dist} is missing`).toBe(true);
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const started = Date.now();
    // Real time on purpose: the point is that the real event loop empties.
    const code = await new Promise<number | 'hung'>((resolve) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('hung');
      }, 10_000);
      child.on('exit', (c) => {
        clearTimeout(t);
        resolve(c ?? -1);
      });
    });
    expect(err).toBe('');
    expect(out.trim()).toBe('done');
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
