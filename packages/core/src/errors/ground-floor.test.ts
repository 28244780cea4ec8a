import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const dir = new URL('./', import.meta.url);
const sources = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));

describe('errors/ is the ground floor (issue 7 §5)', () => {
  it.each(sources)('%s imports only from errors/ and node:', (file) => {
    const text = readFileSync(new URL(file, dir), 'utf8');
    const from = [...text.matchAll(/^(?:import|export)[^;]*?from '([^']+)'/gms)].map((m) => m[1] as string);
    expect(from.filter((p) => !p.startsWith('./') && !p.startsWith('node:'))).toEqual([]);
  });
});
