/**
 * The YAML config file as a config layer, parsed with the `yaml` package (YAML 1.2 core schema:
 * `2s` stays a string, `5` is a number). Syntax errors become an {@link InvalidConfigError}
 * naming the file, line and column.
 */
import { readFileSync } from 'node:fs';
import { type ConfigIssue, InvalidConfigError } from '../errors/bulwark-error.js';
import { isPlainObject, render } from '../util/checks.js';
import { lazyRequire } from '../util/lazy-require.js';
import type { BulwarkConfig } from './config.js';

type Yaml = typeof import('yaml');
let yaml: Yaml | undefined;

/** The `yaml` package, loaded on first use: an app without a YAML config file never loads it. */
function loadYaml(): Yaml {
  yaml ??= lazyRequire<Yaml>('yaml');
  return yaml;
}

/**
 * Parses YAML text into a config layer (not yet validated); `source` names it in errors.
 * An empty document is an empty config.
 */
export function configFromYaml(text: string, source = 'config.yaml'): BulwarkConfig {
  const doc = loadYaml().parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const issues: ConfigIssue[] = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      return {
        path: pos ? `${source}:${pos.line}:${pos.col}` : source,
        expected: 'valid YAML',
        received: (e.message.split('\n')[0] ?? e.code).replace(/ at line \d+, column \d+:?$/, ''),
        fix: pos
          ? `fix the YAML syntax at line ${pos.line}, column ${pos.col} of ${source}`
          : `fix the YAML syntax of ${source}`,
      };
    });
    throw new InvalidConfigError(issues);
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (!isPlainObject(value)) {
    throw new InvalidConfigError([
      {
        path: source,
        expected: 'a YAML mapping (policies:, http:)',
        received: render(value),
        fix: 'start the file with `policies:`',
      },
    ]);
  }
  return value as BulwarkConfig;
}

/** Reads and parses a YAML config file; an unreadable file is an {@link InvalidConfigError} too. */
export function configFromYamlFile(path: string): BulwarkConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InvalidConfigError([
      {
        path,
        expected: 'a readable YAML config file',
        received: code === 'ENOENT' ? 'no such file' : (code ?? String(e)),
        fix: 'check the path given in BULWARK_CONFIG_FILE or the `file` option (relative paths start at the working directory)',
      },
    ]);
  }
  return configFromYaml(text, path);
}
