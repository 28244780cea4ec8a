/**
 * Packaging smoke test: `npm pack` every package, install the tarballs (and the frameworks, from
 * the registry) into a fresh app outside the workspace, and serve one real request through each
 * adapter from a CommonJS app, an ES module app and a TypeScript app that must type-check.
 * Needs the packages built (`npm test` builds first) and registry access; takes a minute or two.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const PACKAGES = ['core', 'express', 'koa', 'nestjs'] as const;
const FRAMEWORKS = [
  'express@^5',
  'koa@^3',
  '@nestjs/common@^12',
  '@nestjs/core@^12',
  '@nestjs/platform-express@^12',
  'reflect-metadata@^0.2',
  'rxjs@^7',
  '@types/express@^5',
  '@types/koa@^3',
  '@types/node@^24',
];
/** The older majors the peer ranges accept, installed for real (not simulated): Express 4 and Koa 2. */
const LEGACY_FRAMEWORKS = ['express@^4', 'koa@^2'];
const MINUTES = 60_000;
/** The workspace's TypeScript compiler, run by the Node binary running this test. */
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const node = process.execPath;
/** npm itself, run by the current Node when npm started us (`npm test`), else from PATH. */
const npm = (args: string[], cwd: string) => {
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: set by npm when it runs `npm test`
  const cli = process.env.npm_execpath;
  return cli?.endsWith('.js') || cli?.endsWith('.cjs')
    ? exec(node, [cli, ...args], { cwd, maxBuffer: 64 << 20 })
    : exec('npm', args, { cwd, maxBuffer: 64 << 20 });
};

let dir = '';
let app = '';
let legacy = '';

beforeAll(async () => {
  const started = Date.now();
  dir = await mkdtemp(join(tmpdir(), 'bulwark-packaging-'));
  const packs = join(dir, 'packs');
  app = join(dir, 'app');
  await mkdir(packs);
  await mkdir(app);
  for (const name of PACKAGES) {
    await npm(['pack', '--silent', '--pack-destination', packs, join(root, 'packages', name)], root);
  }
  const tarballs = (await readdir(packs)).filter((f) => f.endsWith('.tgz')).map((f) => join(packs, f));
  expect(tarballs).toHaveLength(PACKAGES.length);
  // No "type": .cjs is CommonJS, .mjs an ES module, and smoke.ts compiles to CommonJS (as Nest apps usually do).
  await writeFile(
    join(app, 'package.json'),
    `${JSON.stringify({ name: 'bulwark-smoke', private: true }, null, 2)}\n`,
  );
  for (const f of ['smoke.cjs', 'smoke.mjs', 'smoke.ts', 'smoke-hazard.ts', 'tsconfig.json']) {
    await copyFile(join(fixtures, f), join(app, f));
  }
  legacy = join(dir, 'legacy');
  await mkdir(legacy);
  await writeFile(
    join(legacy, 'package.json'),
    `${JSON.stringify({ name: 'bulwark-smoke-legacy', private: true }, null, 2)}\n`,
  );
  await copyFile(join(fixtures, 'smoke-legacy.cjs'), join(legacy, 'smoke-legacy.cjs'));
  const coreAndHttp = tarballs.filter((t) => !t.includes('nestjs'));
  await Promise.all([
    npm(['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs, ...FRAMEWORKS], app),
    npm(
      ['install', '--no-audit', '--no-fund', '--loglevel=error', ...coreAndHttp, ...LEGACY_FRAMEWORKS],
      legacy,
    ),
  ]);
  console.log(`packaging: packed and installed in ${((Date.now() - started) / 1000).toFixed(1)} s (${dir})`);
}, 5 * MINUTES);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Answers = Record<string, { status: number; id: string | null; body: Record<string, unknown> }>;

/** Runs an entry file with this test's Node (once per file) and parses the JSON line it prints. */
const served = new Map<string, Promise<Answers>>();
function serve(file: string): Promise<Answers> {
  let p = served.get(file);
  if (!p) {
    p = exec(node, [file], { cwd: app, timeout: 30_000 }).then(({ stdout }) =>
      JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}'),
    );
    served.set(file, p);
  }
  return p;
}

/** Every adapter answers 200 with the caller's correlation ID as header, and the handler saw it in `getContext()`. */
function expectAnswers(result: Answers, format: string): void {
  for (const adapter of ['express', 'koa', 'nest']) {
    const body: Record<string, unknown> = { format, correlationId: `${format}-${adapter}` };
    expect(result[adapter], adapter).toMatchObject({ status: 200, id: `${format}-${adapter}`, body });
  }
}

/** Type-checks the TypeScript app (or another file) against the installed packages. */
async function typecheck(...args: string[]): Promise<void> {
  await exec(node, [tsc, '--noEmit', ...args], { cwd: app }).catch((e: { stdout?: string }) => {
    throw new Error(`tsc --noEmit failed:\n${e.stdout ?? e}`);
  });
}

describe('packed packages, installed outside the workspace', () => {
  it('a CommonJS app requires every package and serves a request through each adapter', async () => {
    expectAnswers(await serve('smoke.cjs'), 'cjs');
  });

  it('an ES module app imports every package and serves a request through each adapter', async () => {
    expectAnswers(await serve('smoke.mjs'), 'esm');
  });

  it(
    'a TypeScript app type-checks against the installed declarations, then serves a request through each adapter',
    async () => {
      await typecheck('-p', 'tsconfig.json');
      await exec(node, [tsc, '-p', 'tsconfig.json'], { cwd: app });
      const result = await serve('ts-out/smoke.js');
      expectAnswers(result, 'ts');
      expect(result.nest?.body).toMatchObject({ signal: true });
    },
    2 * MINUTES,
  );

  // The dual-package hazard: a CommonJS app must get one copy of core. @bulwark/nestjs ships a
  // CommonJS build (so `require` resolves core's CommonJS build too), and core keeps its
  // AsyncLocalStorage on a global symbol, so even two copies share one request context.
  it('a CommonJS Nest handler sees the request context through its own require("@bulwark/core")', async () => {
    const nest = (await serve('smoke.cjs')).nest;
    expect(nest?.id).toBe('cjs-nest');
    expect(nest?.body.correlationId).toBe('cjs-nest');
  });

  it('Express 4 and Koa 2 from the registry: a request and an async 404 through each adapter', async () => {
    const { stdout } = await exec(node, ['smoke-legacy.cjs'], { cwd: legacy, timeout: 30_000 });
    const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
    expect(result.versions.express).toMatch(/^4\./);
    expect(result.versions.koa).toMatch(/^2\./);
    for (const adapter of ['express', 'koa']) {
      const id = `legacy-${adapter}`;
      expect(result[adapter].hello, adapter).toMatchObject({ status: 200, id, body: { correlationId: id } });
      expect(result[adapter].missing, adapter).toMatchObject({
        status: 404,
        type: expect.stringContaining('application/problem+json'),
        body: { status: 404, detail: 'No such order.', correlationId: id },
      });
    }
  });

  it(
    'a CommonJS TypeScript app can pass a BulwarkConfig typed from @bulwark/core to BulwarkModule.forRoot',
    async () => {
      const flags = ['--module', 'nodenext', '--strict', '--skipLibCheck', '--experimentalDecorators'];
      await typecheck(...flags, '--types', 'node', 'smoke-hazard.ts');
    },
    2 * MINUTES,
  );
});
