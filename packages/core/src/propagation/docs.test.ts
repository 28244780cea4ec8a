import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as core from '../index.js';
import { UNDICI_REQUEST_CREATE } from './fetch.js';

const doc = readFileSync(new URL('../../docs/propagation.md', import.meta.url), 'utf8');
const snippets = [...doc.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');

describe('docs/propagation.md', () => {
  it('imports only names @bulwark/core exports', () => {
    const names = snippets.flatMap((s) =>
      [...s.matchAll(/import \{([^}]+)\} from '@bulwark\/core'/g)].flatMap((m) =>
        (m[1] ?? '').split(',').map((n) => n.trim().replace(/^type /, '')),
      ),
    );
    expect(names.length).toBeGreaterThan(8);
    for (const name of names) expect(core, name).toHaveProperty(name);
  });

  it('states the defaults the code uses', () => {
    expect(doc).toContain(`= **${core.DEFAULT_DEADLINE_MARGIN_MS} ms**`);
    expect(doc).toContain(`${core.DEFAULT_MAX_ERROR_BODY_BYTES / 1024} KiB`);
    expect(doc).toContain('`x-deadline-ms`');
    expect(doc).toContain(UNDICI_REQUEST_CREATE);
  });
});
