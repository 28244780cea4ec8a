/**
 * Every fenced block of every covered Markdown file is run (the conventions are in
 * test/docs/README.md): `ts` blocks are type-checked together against the workspace sources and
 * executed (a server must stop on SIGTERM), `yaml` is loaded as a Bulwark config file, `json`
 * parses, `sh` commands are checked against the repository, bare fences must say what they are.
 * Needs the packages built (`npm test` builds first): blocks import `@bulwark/*` from dist/.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { configFromYaml, validateConfig } from '@bulwark/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { compare, exampleOf, parseConsole, runCommand, type Shown, startExample } from './examples.js';
import { type Block, blocksOf, KNOWN_DIRECTIVES, label } from './markdown.js';
import { programsOf, root, start, type TsProgram, typecheck } from './run-ts.js';
import { checkShell } from './sh.js';

/** Every Markdown file of the repository (outside node_modules, dist and dot-folders but .changeset). */
function markdownFiles(dir = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = dir === '' ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      if (['node_modules', 'dist', 'coverage'].includes(entry.name)) continue;
      if (entry.name.startsWith('.') && entry.name !== '.changeset') continue;
      out.push(...markdownFiles(rel));
    } else if (entry.name.endsWith('.md')) out.push(rel);
  }
  return out.sort();
}

const COVERED = markdownFiles();

/**
 * Files whose blocks do not run yet, with the helper who owns them. Their tests are skipped (and
 * listed as such); the owner removes the line once `npx vitest run test/docs` passes for the file.
 */
const PENDING: Record<string, string> = {};

const TS = new Set(['ts', 'typescript']);
const SH = new Set(['sh', 'bash', 'shell']);

const files = COVERED.map((file) => ({ file, blocks: blocksOf(root, file), pending: PENDING[file] }));
const programs: TsProgram[] = files.filter((f) => !f.pending).flatMap((f) => programsOf(f.blocks));
let typeErrors = new Map<string, string[]>();

beforeAll(async () => {
  for (const pkg of ['core', 'express', 'koa', 'nestjs']) {
    if (!existsSync(`${root}packages/${pkg}/dist`))
      throw new Error('Build the packages first: npm run build');
  }
  typeErrors = typecheck(programs);
}, 180_000);

describe.each(files)('$file', ({ file, blocks, pending }) => {
  if (pending) {
    it.skip(`pending: its blocks do not all run yet (owner: ${pending}; remove it from PENDING in test/docs/docs.test.ts)`, () => {});
    return;
  }
  it('every directive is known, every bare fence says what it is', () => {
    const problems: string[] = [];
    for (const b of blocks) {
      for (const key of Object.keys(b.directives)) {
        if (!KNOWN_DIRECTIVES.has(key)) problems.push(`${label(b)}: unknown directive "${key}"`);
      }
      if ((b.lang === '' || b.lang === 'text') && !b.directives.text && !b.directives.output) {
        problems.push(`${label(b)}: a bare fence needs <!-- doc-test: text --> or output`);
      }
      const known =
        TS.has(b.lang) || SH.has(b.lang) || ['yaml', 'yml', 'json', 'console', '', 'text'].includes(b.lang);
      if (!known) problems.push(`${label(b)}: the harness does not run "${b.lang}" blocks`);
    }
    expect(problems).toEqual([]);
  });

  it('every relative link resolves inside the repository (and, in a package, inside its tarball)', () => {
    const text = readFileSync(join(root, file), 'utf8').replace(/```[\s\S]*?```/g, '');
    const pkg = /^packages\/[^/]+\//.exec(file)?.[0];
    const shipped: string[] = pkg
      ? [
          ...(JSON.parse(readFileSync(join(root, pkg, 'package.json'), 'utf8')).files ?? []),
          'README.md',
          'LICENSE',
          'package.json',
        ]
      : [];
    const problems: string[] = [];
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = (m[1] as string).split('#')[0] as string;
      if (target === '' || /^[a-z]+:/i.test(target)) continue;
      const abs = resolve(join(root, file, '..'), target);
      if (!abs.startsWith(root)) problems.push(`${target}: outside the repository`);
      else if (!existsSync(abs)) problems.push(`${target}: no such file`);
      else if (pkg) {
        const inPkg = relative(join(root, pkg), abs);
        if (inPkg.startsWith('..') || !shipped.some((f) => inPkg === f || inPkg.startsWith(`${f}/`))) {
          problems.push(`${target}: not in the package's tarball ("files"); ship it or link it absolutely`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  const fileBlocks = (pred: (b: Block) => boolean) => blocks.filter(pred);

  for (const b of fileBlocks((x) => x.lang === 'yaml' || x.lang === 'yml')) {
    it(`${label(b)} is a valid Bulwark config file`, () => {
      const config = configFromYaml(b.code);
      expect(() => validateConfig(config)).not.toThrow();
    });
  }

  for (const b of fileBlocks((x) => x.lang === 'json')) {
    it(`${label(b)} is JSON`, () => {
      expect(() => JSON.parse(b.code)).not.toThrow();
    });
  }

  for (const b of fileBlocks((x) => SH.has(x.lang))) {
    it(`${label(b)}: every command exists in the repository`, () => {
      expect(checkShell(root, file, b.code).issues).toEqual([]);
    });
  }

  const example = exampleOf(file);
  const envOf = (b: Block): Record<string, string> =>
    typeof b.directives.env === 'string'
      ? Object.fromEntries(b.directives.env.split(/\s+/).map((kv) => kv.split('=', 2) as [string, string]))
      : {};
  /**
   * Runs shown commands against a fresh instance of the example; returns every mismatch. With
   * DOCS_UPDATE=1 it writes the real output into the Markdown file instead (review the diff).
   */
  const check = async (b: Block, shown: Shown[], rewrite?: (actual: string[][]) => string) => {
    if (!example) throw new Error(`${label(b)}: shown output outside an example's README`);
    const running = await startExample(example, envOf(b));
    const problems: string[] = [];
    const outputs: string[][] = [];
    try {
      for (const s of shown) {
        const actual = await runCommand(running, example, s.command);
        outputs.push(actual);
        const diff = compare(s.expected, actual, b.directives.unordered === true);
        if (diff) problems.push(`$ ${s.command}\n${diff}`);
      }
    } finally {
      await running.stop();
    }
    // biome-ignore lint/suspicious/noUndeclaredEnvVars: a switch for the person updating docs
    if (process.env.DOCS_UPDATE === '1' && problems.length > 0 && rewrite) {
      const replacement = rewrite(outputs);
      const text = readFileSync(join(root, file), 'utf8');
      if (replacement !== b.code) writeFileSync(join(root, file), text.replace(b.code, replacement));
      return [];
    }
    return problems;
  };

  for (const b of fileBlocks((x) => x.lang === 'console')) {
    it(`${label(b)}: the shown output is real`, async () => {
      const shown = parseConsole(b.code);
      const rewrite = (outputs: string[][]) =>
        `${shown.map((x, k) => [`$ ${x.command}`, ...(outputs[k] ?? [])].join('\n')).join('\n\n')}\n`;
      expect(await check(b, shown, rewrite)).toEqual([]);
    }, 60_000);
  }

  blocks.forEach((b, i) => {
    if (!SH.has(b.lang)) return;
    const curls = checkShell(root, file, b.code).curls;
    if (curls.length === 0) return;
    const next = blocks[i + 1];
    it(`${label(b)}: each curl's shown output is real`, async () => {
      expect(curls.length, 'one curl per block, followed by its output').toBe(1);
      expect(next?.directives.output, `${label(b)}: an output block must follow the curl`).toBe(true);
      const shown = [
        { command: curls[0]?.command as string, expected: (next as Block).code.trimEnd().split('\n') },
      ];
      const rewrite = (outputs: string[][]) => {
        // The curl block stays; its output block is the one rewritten.
        const text = readFileSync(join(root, file), 'utf8');
        writeFileSync(
          join(root, file),
          text.replace((next as Block).code, `${(outputs[0] ?? []).join('\n')}\n`),
        );
        return b.code;
      };
      expect(await check(b, shown, rewrite)).toEqual([]);
    }, 60_000);
  });

  for (const p of programs.filter((x) => x.blocks[0]?.file === file)) {
    const name =
      label(p.blocks[0] as Block) + (p.blocks.length > 1 ? ` (+${p.blocks.length - 1} continuing)` : '');
    it(`${name} type-checks against the workspace sources`, () => {
      expect(typeErrors.get(p.name) ?? []).toEqual([]);
    });
    if (p.noRun !== undefined) {
      it.skip(`${name} runs (no-run: ${p.noRun})`, () => {});
      continue;
    }
    it(`${name} runs (and a server stops on SIGTERM)`, async () => {
      const r = await start(p);
      if (r.kind === 'exited') {
        expect({ code: r.code, signal: r.signal, stderr: r.stderr.join('') }).toEqual({
          code: 0,
          signal: null,
          stderr: '',
        });
        return;
      }
      const stopped = await r.stop();
      expect(r.stderr.join('')).toBe('');
      // Either its own shutdown exited (code 0) or SIGTERM's default ended it.
      expect(stopped.code === 0 || stopped.signal === 'SIGTERM').toBe(true);
    }, 30_000);
  }
});
