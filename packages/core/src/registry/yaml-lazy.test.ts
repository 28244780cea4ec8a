import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

// Runs against the build (npm run build first), in a child process, so module loading is real:
// a resolve hook records every module of the `yaml` package that gets loaded.
const dist = join(import.meta.dirname, '../../dist');
const dir = mkdtempSync(join(tmpdir(), 'bulwark-yaml-lazy-'));
const file = join(dir, 'bulwark.yaml');
writeFileSync(file, 'policies:\n  api:\n    timeout: 2s\n');

const hook = `
const { registerHooks } = require('node:module');
const seen = [];
registerHooks({
  resolve(specifier, context, next) {
    const r = next(specifier, context);
    if (/[\\\\/]node_modules[\\\\/]yaml[\\\\/]/.test(r.url)) seen.push(r.url);
    return r;
  },
});
`;

function run(kind: 'esm' | 'cjs'): { before: number; after: number; timeout: unknown } {
  const load =
    kind === 'esm'
      ? `const core = await import(${JSON.stringify(pathToFileURL(join(dist, 'index.js')).href)});`
      : `const core = require(${JSON.stringify(join(dist, 'index.cjs'))});`;
  const script = `${hook}
(async () => {
  ${load}
  core.createBulwark({ policies: { api: {} } }, { env: false }).close();
  const before = seen.length;
  const b = core.createBulwark({}, { env: false, file: ${JSON.stringify(file)} });
  console.log(JSON.stringify({ before, after: seen.length, timeout: b.config.policies.api.timeout }));
  await b.close();
})();`;
  const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: dir });
  return JSON.parse(out.trim().split('\n').at(-1) as string);
}

describe('yaml is loaded only when a YAML file is configured', () => {
  it.each(['esm', 'cjs'] as const)('%s build: not at import or without a file, then on first use', (kind) => {
    const r = run(kind);
    expect(r.before).toBe(0);
    expect(r.after).toBeGreaterThan(0);
    expect(r.timeout).toBe('2s');
  });
});
