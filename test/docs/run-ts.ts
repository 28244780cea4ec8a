/**
 * `ts` doc blocks: joined (`continues`), type-checked together in one `tsc` program against the
 * workspace sources, then transpiled and run in a child process with the preload (free ports,
 * loopback only) and with `downstream=` origins replaced by real local servers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Downstream, type DownstreamScript, startDownstream } from './downstream.js';
import { type Block, label } from './markdown.js';

export const root = fileURLToPath(new URL('../../', import.meta.url));
/** Extracted blocks live under node_modules (git- and biome-ignored, outside the root tsconfig). */
export const outDir = join(root, 'node_modules/.cache/bulwark-doc-test');
const preload = pathToFileURL(fileURLToPath(new URL('./preload.mjs', import.meta.url))).href;
const require = createRequire(import.meta.url);

/** One runnable TypeScript program: a block, plus the blocks that continue it. */
export interface TsProgram {
  name: string;
  blocks: Block[];
  /** The code as written in the docs (setup lines first). */
  code: string;
  /** For each line of `code`, the Markdown line it came from (0 for setup lines). */
  lines: number[];
  origins: string[];
  noRun?: string;
  id?: string;
}

/** Groups a file's `ts` blocks into programs (a `continues` block joins the one before it). */
export function programsOf(blocks: Block[]): TsProgram[] {
  const programs: TsProgram[] = [];
  for (const block of blocks) {
    if (block.lang !== 'ts' && block.lang !== 'typescript') continue;
    const d = block.directives;
    const prev = programs.at(-1);
    const setup = block.setup ? `${block.setup}\n` : '';
    const setupLines =
      setup === ''
        ? []
        : setup
            .trimEnd()
            .split('\n')
            .map(() => 0);
    const bodyLines = block.code
      .trimEnd()
      .split('\n')
      .map((_, i) => block.line + 1 + i);
    const origins = typeof d.downstream === 'string' ? d.downstream.split(',') : [];
    if (d.continues === true) {
      if (!prev || prev.blocks[0]?.file !== block.file)
        throw new Error(`${label(block)}: nothing to continue`);
      prev.blocks.push(block);
      prev.code += `${setup}${block.code}`;
      prev.lines.push(...setupLines, ...bodyLines);
      prev.origins.push(...origins.filter((o) => !prev.origins.includes(o)));
      if (typeof d['no-run'] === 'string') prev.noRun = d['no-run'];
      if (typeof d.id === 'string') prev.id ??= d.id;
      continue;
    }
    const slug = block.file.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
    programs.push({
      name: `${slug}-${block.line}`,
      blocks: [block],
      code: `${setup}${block.code}`,
      lines: [...setupLines, ...bodyLines],
      origins,
      ...(typeof d['no-run'] === 'string' ? { noRun: d['no-run'] } : {}),
      ...(typeof d.id === 'string' ? { id: d.id } : {}),
    });
  }
  return programs;
}

/** Replaces each origin by its local URL (longest first, so `http://a` never eats `http://ab`). */
function mapOrigins(code: string, origins: string[], urls: string[]): string {
  const pairs = origins
    .map((o, i) => [o, urls[i] as string] as const)
    .sort((a, b) => b[0].length - a[0].length);
  let out = code;
  for (const [from, to] of pairs) out = out.split(from).join(to);
  return out;
}

const PLACEHOLDER = 'http://127.0.0.1:9';

/**
 * Type-checks every program in one `tsc --noEmit` run. Returns the errors per program name,
 * each pointing at the Markdown line.
 */
export function typecheck(programs: TsProgram[]): Map<string, string[]> {
  const dir = join(outDir, 'typecheck');
  mkdirSync(dir, { recursive: true });
  const src = (p: string, entry = 'index') => join(root, `packages/${p}/src/${entry}.ts`);
  const files: string[] = [];
  for (const p of programs) {
    const file = join(dir, `${p.name}.mts`);
    const code = mapOrigins(
      p.code,
      p.origins,
      p.origins.map(() => PLACEHOLDER),
    );
    // A block without import/export is a script to tsc; make every block a module.
    writeFileSync(file, `${code}\nexport {};\n`);
    files.push(file);
  }
  const tsconfig = {
    extends: join(root, 'tsconfig.base.json'),
    compilerOptions: {
      noEmit: true,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      noUnusedLocals: false,
      baseUrl: root,
      typeRoots: [join(root, 'node_modules/@types')],
      paths: {
        '@bulwark/core': [src('core')],
        '@bulwark/core/adapter': [src('core', 'adapter')],
        '@bulwark/express': [src('express')],
        '@bulwark/koa': [src('koa')],
        '@bulwark/nestjs': [src('nestjs')],
      },
    },
    files,
  };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  // The compiler API, not the tsc CLI: tsc stops at the first file with a syntax error, and every
  // other block's semantic errors would go unreported.
  const ts = require('typescript') as typeof import('typescript');
  const parsed = ts.parseJsonConfigFileContent(tsconfig, ts.sys, dir);
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
  const errors = new Map<string, string[]>(programs.map((p) => [p.name, []]));
  const global = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
  programs.forEach((p, i) => {
    const sf = program.getSourceFile(files[i] as string);
    const list = errors.get(p.name) as string[];
    const diagnostics = sf
      ? [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]
      : [];
    for (const d of [...global, ...diagnostics]) {
      const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      if (d.file && d.start !== undefined) {
        const { line } = d.file.getLineAndCharacterOfPosition(d.start);
        const at = d.file === sf ? (p.lines[line] ?? 0) : 0;
        const where = d.file === sf ? `${p.blocks[0]?.file}:${at === 0 ? 'setup' : at}` : d.file.fileName;
        list.push(`${where}: TS${d.code}: ${text}`);
      } else list.push(`TS${d.code}: ${text}`);
    }
  });
  return errors;
}

/** A doc block running in its own process. */
export interface RunningBlock {
  /** `http://127.0.0.1:<port>` of the first server the block listened on, if any. */
  url: string | undefined;
  ports: number[];
  downstreams: Downstream[];
  stdout: string[];
  stderr: string[];
  /** Sends SIGTERM and waits; rejects unless the process is gone within 5 s. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Options for starting a program: how its downstreams answer, extra environment. */
export interface StartOptions {
  downstream?: DownstreamScript;
  env?: NodeJS.ProcessEnv;
  /** ms to wait for the block to exit or to listen. */
  timeoutMs?: number;
}

/** The result of a block that ran to its end (exited by itself). */
export interface Finished {
  kind: 'exited';
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string[];
  stderr: string[];
}

/** Starts `program`; resolves once it exited (a script) or is listening and quiet (a server). */
export async function start(
  program: TsProgram,
  options: StartOptions = {},
): Promise<Finished | ({ kind: 'server' } & RunningBlock)> {
  const ts = require('typescript') as typeof import('typescript');
  const downstreams = await Promise.all(program.origins.map(() => startDownstream(options.downstream)));
  const code = mapOrigins(
    program.code,
    program.origins,
    downstreams.map((d) => d.url),
  );
  const js = ts.transpileModule(code, {
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2023,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
    },
  }).outputText;
  const dir = join(outDir, 'run');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${program.name}.mjs`);
  writeFileSync(file, js);
  const child: ChildProcess = spawn(process.execPath, ['--import', preload, file], {
    cwd: root,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout?.setEncoding('utf8').on('data', (s: string) => stdout.push(s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => stderr.push(s));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const ports: number[] = [];
  const closeDownstreams = () => Promise.all(downstreams.map((d) => d.close()));
  const ready = new Promise<'server' | 'timeout'>((resolve) => {
    let quiet: NodeJS.Timeout | undefined;
    const limit = setTimeout(() => resolve('timeout'), options.timeoutMs ?? 10_000);
    child.on('message', (m: { type?: string; port?: number }) => {
      if (m?.type !== 'listening' || typeof m.port !== 'number') return;
      ports.push(m.port);
      clearTimeout(quiet);
      quiet = setTimeout(() => {
        clearTimeout(limit);
        resolve('server');
      }, 500);
    });
    void exit.then(() => {
      clearTimeout(quiet);
      clearTimeout(limit);
    });
  });
  const first = await Promise.race([exit, ready]);
  if (typeof first === 'object') {
    await closeDownstreams();
    return { kind: 'exited', ...first, stdout, stderr };
  }
  if (first === 'timeout') {
    child.kill('SIGKILL');
    await exit;
    await closeDownstreams();
    throw new Error(
      `${label(program.blocks[0] as Block)}: neither exited nor listened within ${options.timeoutMs ?? 10_000} ms\n${stderr.join('')}`,
    );
  }
  return {
    kind: 'server',
    url: ports[0] === undefined ? undefined : `http://127.0.0.1:${ports[0]}`,
    ports,
    downstreams,
    stdout,
    stderr,
    async stop() {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), 5000);
      });
      const r = await Promise.race([exit, late]);
      clearTimeout(timer);
      await closeDownstreams();
      if (r === 'late') {
        child.kill('SIGKILL');
        await exit;
        throw new Error(
          `${label(program.blocks[0] as Block)}: still running 5 s after SIGTERM (its shutdown leaves the process alive)`,
        );
      }
      return r;
    },
  };
}

/**
 * Starts the block named `id` in `file` on its own (without the blocks continuing it), for a
 * test that drives it; fails unless it is a server.
 */
export async function startBlock(
  file: string,
  id: string,
  options: StartOptions = {},
): Promise<RunningBlock> {
  const { blocksOf } = await import('./markdown.js');
  const block = blocksOf(root, file).find((b) => b.directives.id === id);
  if (!block) throw new Error(`${file} has no block with <!-- doc-test: id=${id} -->`);
  const program = programsOf([block])[0] as TsProgram;
  const r = await start(program, options);
  if (r.kind !== 'server')
    throw new Error(`${label(block)} exited (${r.code}) instead of serving: ${r.stderr.join('')}`);
  return r;
}
