/**
 * Every fenced block of every covered Markdown file is run (the conventions are in
 * test/docs/README.md): `ts` blocks are type-checked together against the workspace sources and
 * executed (a server must stop on SIGTERM), `yaml` is loaded as a Bulwark config file, `json`
 * parses, `sh` commands are checked against the repository, bare fences must say what they are.
 * Needs the packages built (`npm test` builds first): blocks import `@bulwark/*` from dist/.
 */
import { existsSync } from 'node:fs';
import { configFromYaml, validateConfig } from '@bulwark/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Block, blocksOf, KNOWN_DIRECTIVES, label } from './markdown.js';
import { programsOf, root, start, type TsProgram, typecheck } from './run-ts.js';
import { checkShell } from './sh.js';

/** The Markdown files whose blocks are run; grows until it is every Markdown file in the repo. */
const COVERED = ['README.md', 'test/docs/README.md'];

const TS = new Set(['ts', 'typescript']);
const SH = new Set(['sh', 'bash', 'shell']);

const files = COVERED.map((file) => ({ file, blocks: blocksOf(root, file) }));
const programs: TsProgram[] = files.flatMap((f) => programsOf(f.blocks));
let typeErrors = new Map<string, string[]>();

beforeAll(async () => {
  for (const pkg of ['core', 'express', 'koa', 'nestjs']) {
    if (!existsSync(`${root}packages/${pkg}/dist`))
      throw new Error('Build the packages first: npm run build');
  }
  typeErrors = await typecheck(programs);
}, 180_000);

describe.each(files)('$file', ({ file, blocks }) => {
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
