import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidConfigError } from '../errors/bulwark-error.js';
import { validateConfig } from './validate.js';
import { configFromYaml, configFromYamlFile } from './yaml.js';

const catchIssues = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidConfigError);
    return (e as InvalidConfigError).issues;
  }
  throw new Error('expected an InvalidConfigError');
};

describe('configFromYaml', () => {
  it('parses policies with durations as strings and numbers as numbers', () => {
    const config = configFromYaml(
      [
        'policies:',
        '  payments-api:',
        '    timeout: 5s',
        '    attemptTimeout: 1500',
        '    retry: { maxAttempts: 3, jitter: full }',
        '    circuitBreaker: true',
        'http:',
        '  production: true',
      ].join('\n'),
    );
    expect(config).toEqual({
      policies: {
        'payments-api': {
          timeout: '5s',
          attemptTimeout: 1500,
          retry: { maxAttempts: 3, jitter: 'full' },
          circuitBreaker: true,
        },
      },
      http: { production: true },
    });
    expect(() => validateConfig(config)).not.toThrow();
  });

  it('treats an empty document as an empty config', () => {
    expect(configFromYaml('')).toEqual({});
    expect(configFromYaml('# nothing here\n')).toEqual({});
  });

  it('turns a syntax error into an issue naming the source, line and column', () => {
    const issues = catchIssues(() =>
      configFromYaml('policies:\n  a:\n    timeout: [1s\n', 'conf/bulwark.yaml'),
    );
    expect(issues[0]?.path).toMatch(/^conf\/bulwark\.yaml:\d+:\d+$/);
    expect(issues[0]?.expected).toBe('valid YAML');
    expect(issues[0]?.fix).toMatch(/line \d+, column \d+ of conf\/bulwark\.yaml/);
  });

  it('reports duplicate keys with their line', () => {
    const issues = catchIssues(() => configFromYaml('policies:\n  a: {}\n  a: {}\n', 'x.yaml'));
    expect(issues[0]?.path).toBe('x.yaml:3:3');
  });

  it('rejects a document that is not a mapping', () => {
    const issues = catchIssues(() => configFromYaml('- a\n- b\n', 'list.yaml'));
    expect(issues).toEqual([
      expect.objectContaining({ path: 'list.yaml', expected: 'a YAML mapping (policies:, http:)' }),
    ]);
  });
});

describe('configFromYamlFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-yaml-'));

  it('reads a file', () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, 'policies:\n  a:\n    timeout: 2s\n');
    expect(configFromYamlFile(file)).toEqual({ policies: { a: { timeout: '2s' } } });
  });

  it('names the file in parse errors', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'policies:\n  a: {\n');
    expect(catchIssues(() => configFromYamlFile(file))[0]?.path.startsWith(`${file}:`)).toBe(true);
  });

  it('reports a missing file as a config issue', () => {
    const file = join(dir, 'missing.yaml');
    expect(catchIssues(() => configFromYamlFile(file))).toEqual([
      expect.objectContaining({
        path: file,
        expected: 'a readable YAML config file',
        received: 'no such file',
      }),
    ]);
  });
});
