/**
 * `require` from core's own file, for modules loaded on first use (an app that never needs them
 * never loads them) from code that must stay synchronous: `__filename` in the CommonJS build,
 * `import.meta.url` in the ESM one.
 */
import { createRequire } from 'node:module';
import { isAbsolute } from 'node:path';

/** Loads `id` with `require`, resolved from this package. */
export function lazyRequire<T>(id: string): T {
  // `node -e` and the REPL define a global __filename of '[eval]'; only a real path counts.
  const base = typeof __filename === 'string' && isAbsolute(__filename) ? __filename : import.meta.url;
  return createRequire(base)(id) as T;
}
