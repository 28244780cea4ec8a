/**
 * The NestJS 11 leg: the packed @bulwark/core and @bulwark/nestjs tarballs installed beside
 * @nestjs/common, core and platform-express 11 from the npm registry in a temp directory, a real app
 * (./fixtures/every-decorator.ts) type-checked and compiled by tsc against Nest 11's types, then run
 * through every decorator and the exception filter. Needs the packages built (`npm test` builds
 * first) and registry access.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const node = process.execPath;
const npm = (args: string[], cwd: string) => {
  const cli = process.env.npm_execpath;
  return cli?.endsWith('.js') || cli?.endsWith('.cjs')
    ? exec(node, [cli, ...args], { cwd, maxBuffer: 64 << 20 })
    : exec('npm', args, { cwd, maxBuffer: 64 << 20 });
};
const NEST_11 = ['@nestjs/common@^11', '@nestjs/core@^11', '@nestjs/platform-express@^11'];
const PEERS = ['reflect-metadata@^0.2', 'rxjs@^7', 'nestjs-cls@^7'];

/** The README's nestjs-cls recipe in a real app: CLS's request ID is the request's correlation ID. */
const CLS_APP = `import 'reflect-metadata';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BulwarkModule } from '@bulwark/nestjs';
import { Controller, Get, Inject, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClsModule, ClsService } from 'nestjs-cls';
import { clsOptions } from './cls-options';

@Controller()
class IdController {
  constructor(@Inject(ClsService) private readonly cls: ClsService) {}
  @Get('id') id() {
    return { cls: this.cls.getId() };
  }
}

@Module({ imports: [BulwarkModule.forRoot(), ClsModule.forRoot(clsOptions)], controllers: [IdController] })
class AppModule {}

async function main() {
  const app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  const given = await fetch(\`http://127.0.0.1:\${port}/id\`, { headers: { 'x-request-id': 'shared-1' } });
  const fresh = await fetch(\`http://127.0.0.1:\${port}/id\`);
  const out = [
    { header: given.headers.get('x-request-id'), body: await given.json() },
    { header: fresh.headers.get('x-request-id'), body: await fresh.json() },
  ];
  await app.close();
  console.log(JSON.stringify(out));
}
void main();
`;

/** The code of the README block `<!-- doc-test: id=<id> -->`. */
async function readmeBlock(id: string): Promise<string> {
  const text = await readFile(here('../README.md'), 'utf8');
  const m = new RegExp(`<!-- doc-test: id=${id} -->\\s*\`\`\`ts\\n([\\s\\S]*?)\`\`\``).exec(text);
  if (!m?.[1]) throw new Error(`README.md has no ts block with id=${id}`);
  return m[1];
}

interface Answer {
  status: number;
  type: string | null;
  body: string;
}
type Seen = Record<string, Answer> & {
  names: string[];
  busy: number[];
  observable: Record<string, number>;
  boom: Answer & { fromHandler: string | null };
};

let dir = '';
let seen: Seen;
let logs = '';
let version = '';
let cls: { header: string; body: { cls: string } }[] = [];

beforeAll(async () => {
  for (const pkg of ['core', 'nestjs']) {
    if (!existsSync(join(root, 'packages', pkg, 'dist'))) {
      throw new Error(`packages/${pkg}/dist is missing: run \`npm run build\` first`);
    }
  }
  const started = Date.now();
  dir = await mkdtemp(join(tmpdir(), 'bulwark-nest11-'));
  for (const pkg of ['core', 'nestjs']) {
    await npm(['pack', '--silent', '--pack-destination', dir, join(root, 'packages', pkg)], root);
  }
  const tarballs = (await readdir(dir)).filter((f) => f.endsWith('.tgz')).map((f) => join(dir, f));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'bulwark-nest11', private: true }));
  await npm(
    ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs, ...NEST_11, ...PEERS],
    dir,
  );
  version = JSON.parse(await readFile(join(dir, 'node_modules/@nestjs/core/package.json'), 'utf8')).version;
  await copyFile(here('./fixtures/every-decorator.ts'), join(dir, 'app.ts'));
  // CommonJS, as Nest 11 apps are; node types from the workspace (the app uses fetch and timers).
  const tsconfig = {
    compilerOptions: {
      target: 'ES2023',
      module: 'commonjs',
      moduleResolution: 'node10',
      strict: true,
      esModuleInterop: true,
      skipLibCheck: true,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      typeRoots: [join(root, 'node_modules/@types')],
      types: ['node'],
    },
    files: ['app.ts'],
  };
  await writeFile(join(dir, 'cls-options.ts'), await readmeBlock('nestjs-cls'));
  await writeFile(join(dir, 'cls-app.ts'), CLS_APP);
  tsconfig.files.push('cls-options.ts', 'cls-app.ts');
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
  await exec(node, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir]);
  const run = await exec(node, [join(dir, 'app.js')], { cwd: dir, timeout: 30_000 });
  logs = run.stderr;
  seen = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as Seen;
  const clsRun = await exec(node, [join(dir, 'cls-app.js')], { cwd: dir, timeout: 30_000 });
  cls = JSON.parse(clsRun.stdout.trim().split('\n').at(-1) ?? '[]');
  console.log(`nest11: installed, compiled and ran in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}, 180_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('on NestJS 11 (platform-express)', () => {
  it("the README's nestjs-cls recipe shares one correlation ID with CLS", () => {
    expect(cls[0]).toEqual({ header: 'shared-1', body: { cls: 'shared-1' } });
    expect(cls[1]?.header).toMatch(/^[0-9a-f-]{36}$/);
    expect(cls[1]?.body.cls).toBe(cls[1]?.header);
  });

  it('runs against the NestJS 11 the registry serves, type-checked against its types', () => {
    expect(version).toMatch(/^11\./);
  });

  it('defines every decorated method as a named policy', () => {
    expect(seen.names).toEqual(
      expect.arrayContaining(['Dependencies.retried', 'Dependencies.guarded', 'Dependencies.busy', 'named']),
    );
  });

  it('@Retry, @UsePolicy, @Fallback answer', () => {
    expect([seen.retried?.status, seen.retried?.body]).toEqual([200, '3']);
    expect([seen.named?.status, seen.named?.body]).toEqual([200, '2']);
    expect([seen.price?.status, seen.price?.body]).toEqual([200, 'cached sku-1']);
  });

  it('@Timeout and @TimeLimit (on an Observable) answer 504 problems and unsubscribe', () => {
    for (const r of [seen.slow, seen.slow$]) {
      expect(r?.status).toBe(504);
      expect(r?.type).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(r?.body ?? '{}').code).toBe('TIMEOUT');
    }
    expect(seen.observable).toMatchObject({ subscriptions: 1, torndown: 1 });
  });

  it('@CircuitBreaker is forced open by name, @Bulkhead sheds', () => {
    expect(seen.guarded?.status).toBe(503);
    expect(JSON.parse(seen.guarded?.body ?? '{}').code).toBe('CIRCUIT_OPEN');
    expect(seen.busy).toEqual([200, 503]);
  });

  it('the filter answers a problem that leaks nothing, keeps @Header, and BulwarkLogger logs it once with the ID', () => {
    expect(seen.boom.status).toBe(500);
    expect(seen.boom.type).toMatch(/^application\/problem\+json/);
    expect(seen.boom.body).not.toContain('hunter2');
    expect(seen.boom.fromHandler).toBe('kept');
    const lines = logs
      .split('\n')
      .filter((l) => l.includes('hunter2'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'error',
      context: 'Bulwark',
      params: { correlationId: 'nest11-boom' },
    });
    expect(String(lines[0]?.stack)).toMatch(/RoutesController\.boom/);
  });
});
