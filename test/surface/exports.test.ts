/**
 * The exports snapshot: the sorted runtime export names of `@bulwark/core`, `@bulwark/core/adapter`
 * and each adapter package, compared with the lists committed in ./exports/*.txt. Every addition
 * or removal shows up in review as a one-line diff, so each public name is a deliberate choice.
 *
 * To change the surface: add (or remove) the named export in the package's `src/index.ts` (core's
 * adapter-facing names go in `packages/core/src/adapter.ts`), give it a one-line TSDoc, then run
 *   npx vitest run test/surface -u
 * and commit the updated ./exports/<entry>.txt with it. In CI (`CI=true`) vitest never writes
 * snapshots, so a changed surface without the updated list fails here.
 *
 * Type-only exports have no runtime name; they are listed by name in the entry files (no
 * `export *`), which the last test enforces.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const entries = {
  core: () => import('@bulwark/core'),
  'core-adapter': () => import('@bulwark/core/adapter'),
  express: () => import('@bulwark/express'),
  koa: () => import('@bulwark/koa'),
  nestjs: () => import('@bulwark/nestjs'),
} as const;

describe('public surface', () => {
  for (const [entry, load] of Object.entries(entries)) {
    it(`${entry}: the runtime export names match ./exports/${entry}.txt`, async () => {
      const names = Object.keys(await load()).sort();
      await expect(`${names.join('\n')}\n`).toMatchFileSnapshot(`./exports/${entry}.txt`);
    });
  }

  it('core and the adapter subpath share no runtime name', async () => {
    const root = new Set(Object.keys(await entries.core()));
    const shared = Object.keys(await entries['core-adapter']()).filter((n) => root.has(n));
    expect(shared).toEqual([]);
  });

  it('entry files export by name only (no `export *`)', () => {
    const files = [
      'packages/core/src/index.ts',
      'packages/core/src/adapter.ts',
      'packages/express/src/index.ts',
      'packages/koa/src/index.ts',
      'packages/nestjs/src/index.ts',
    ];
    for (const f of files) {
      const text = readFileSync(new URL(`../../${f}`, import.meta.url), 'utf8');
      expect(text, f).not.toMatch(/^\s*export\s+(type\s+)?\*/m);
    }
  });
});
