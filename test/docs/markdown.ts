/**
 * Finds the fenced code blocks of a Markdown file and the `<!-- doc-test: … -->` directive right
 * before each (conventions: test/docs/README.md).
 */
import { readFileSync } from 'node:fs';

/** One fenced block and what its directive says about it. */
export interface Block {
  /** Path relative to the repository root. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The info-string's first word, lower-cased ('' for a bare fence). */
  lang: string;
  code: string;
  directives: Directives;
  /** Hidden code from a multi-line directive, prepended when the block is type-checked and run. */
  setup: string;
}

/** The parsed words of a directive: `key` → true, `key=value` → 'value'. */
export type Directives = Record<string, string | true>;

/** Every directive the harness understands; anything else fails the test. */
export const KNOWN_DIRECTIVES = new Set([
  'id',
  'continues',
  'downstream',
  'no-run',
  'text',
  'output',
  'env',
  'unordered',
]);

const DIRECTIVE = /^<!--\s*doc-test:([\s\S]*?)-->\s*$/;

/** Splits `a b=c d="e f"` into directives. */
export function parseDirectives(words: string): Directives {
  const out: Directives = {};
  for (const m of words.matchAll(/([a-z-]+)(?:=("([^"]*)"|\S+))?/g)) {
    const key = m[1] as string;
    out[key] = m[2] === undefined ? true : (m[3] ?? m[2]);
  }
  return out;
}

/** Reads `file` (relative to `root`) and returns its fenced blocks in order. */
export function blocksOf(root: string, file: string): Block[] {
  return parseBlocks(file, readFileSync(`${root}/${file}`, 'utf8'));
}

/** Parses Markdown text into its fenced blocks (``` and ~~~ fences, any length ≥ 3). */
export function parseBlocks(file: string, text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  // The last directive seen, and the line it ended on (only blank lines may follow it).
  let pending: { directives: Directives; setup: string; end: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.startsWith('<!--') && line.includes('doc-test:')) {
      let j = i;
      let raw = line;
      while (!raw.includes('-->') && j + 1 < lines.length) raw += `\n${lines[++j]}`;
      const m = DIRECTIVE.exec(raw.trim());
      if (!m) throw new Error(`${file}:${i + 1}: malformed doc-test directive`);
      const [first, ...rest] = (m[1] as string).split('\n');
      pending = { directives: parseDirectives(first ?? ''), setup: rest.join('\n').trim(), end: j };
      i = j;
      continue;
    }
    const fence = /^(\s*)(`{3,}|~{3,})(.*)$/.exec(line);
    if (!fence) {
      if (line.trim() !== '' && pending) pending = undefined;
      continue;
    }
    const marker = fence[2] as string;
    const indent = (fence[1] as string).length;
    const lang = ((fence[3] as string).trim().split(/\s+/)[0] ?? '').toLowerCase();
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j] as string;
      if (
        l.trim().startsWith(marker[0]?.repeat(marker.length) ?? marker) &&
        l.trim().replace(/[`~]/g, '') === ''
      )
        break;
      body.push(indent > 0 ? l.slice(Math.min(indent, l.length - l.trimStart().length)) : l);
    }
    if (j >= lines.length) throw new Error(`${file}:${i + 1}: unclosed code fence`);
    blocks.push({
      file,
      line: i + 1,
      lang,
      code: `${body.join('\n')}\n`,
      directives: pending?.directives ?? {},
      setup: pending?.setup ?? '',
    });
    pending = undefined;
    i = j;
  }
  return blocks;
}

/** A short label for test names and messages: `README.md:23 (ts)`. */
export function label(block: Block): string {
  const id = typeof block.directives.id === 'string' ? ` #${block.directives.id}` : '';
  return `${block.file}:${block.line} (${block.lang || 'bare'})${id}`;
}
