import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, type ErrorCode } from './codes.js';
import { ABOUT_BLANK, HTTP_ERROR_CODE, HTTP_ERROR_SUGGESTIONS, problemType } from './problem.js';

const docs = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

/** The text of the `### \`CODE\`` section of errors.md, or undefined. */
function section(code: string): string | undefined {
  const start = docs.indexOf(`### \`${code}\``);
  if (start < 0) return undefined;
  const next = docs.indexOf('\n#', start + 1);
  return docs.slice(start, next < 0 ? undefined : next);
}

describe('ERROR_CODES', () => {
  const codes = Object.keys(ERROR_CODES) as ErrorCode[];

  it.each(codes)('%s has a title, an error status and an actionable suggestion', (code) => {
    const def = ERROR_CODES[code];
    expect(def.title.trim()).not.toBe('');
    expect(def.status).toBeGreaterThanOrEqual(400);
    expect(def.status).toBeLessThanOrEqual(599);
    expect(def.suggestion.trim().length).toBeGreaterThan(10);
  });

  it.each(codes)('%s is documented in docs/errors.md with its status, title, suggestion and type', (code) => {
    const def = ERROR_CODES[code];
    const text = section(code);
    expect(text, `docs/errors.md has no "### \`${code}\`" section`).toBeDefined();
    expect(text).toContain(`**Status:** ${def.status}`);
    expect(text).toContain(`**Title:** ${def.title}`);
    expect(text).toContain(`**Suggestion:** ${def.suggestion}`);
    expect(text).toContain(`**Type:** \`${problemType(code)}\``);
  });

  it('documents the HTTP_ERROR code and its suggestions', () => {
    const text = section(HTTP_ERROR_CODE);
    expect(text).toBeDefined();
    expect(text).toContain(HTTP_ERROR_SUGGESTIONS.client);
    expect(text).toContain(HTTP_ERROR_SUGGESTIONS.server);
    expect(text).toContain(`**Type:** \`${ABOUT_BLANK}\``);
  });

  it('documents no code that does not exist', () => {
    const documented = [...docs.matchAll(/^### `([A-Z_]+)`/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...codes, HTTP_ERROR_CODE].sort());
  });
});
