import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_TIMER_MS } from '../util/duration.js';
import { configFromEnv } from './env.js';
import { deepMerge } from './merge.js';
import { validateConfig } from './validate.js';
import { configFromYaml } from './yaml.js';

const doc = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');
const blocks = (lang: string) =>
  [...doc.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1] ?? '');

describe('docs/config.md', () => {
  it('has a YAML example that parses and validates', () => {
    const yaml = blocks('yaml');
    expect(yaml.length).toBeGreaterThan(0);
    for (const text of yaml) expect(() => validateConfig(configFromYaml(text, 'config.md'))).not.toThrow();
  });

  it('has env examples that map as documented and validate on top of the YAML example', () => {
    const env = Object.fromEntries(
      blocks('text')
        .flatMap((b) => b.split('\n'))
        .filter((l) => l.startsWith('BULWARK_'))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const layer = configFromEnv(env);
    expect(layer.policies?.['payments-api']?.circuitBreaker).toEqual({ errorThresholdPercentage: 25 });
    expect(layer.policies?.search?.rateLimit).toBe(false);
    const merged = deepMerge(configFromYaml(blocks('yaml').at(-1) ?? ''), layer);
    expect(() => validateConfig(merged)).not.toThrow();
  });

  it('documents the duration grammar and the timer maximum', () => {
    expect(doc).toContain(`${MAX_TIMER_MS} ms`);
    for (const unit of ["'250ms'", "'2s'", "'1.5m'", "'1h'"]) expect(doc).toContain(unit);
  });

  it('documents every option key the validator knows', () => {
    const keys = [
      'maxAttempts',
      'backoff',
      'initialDelay',
      'maxDelay',
      'factor',
      'jitter',
      'handles',
      'retryOn',
      'honorRetryAfter',
    ];
    keys.push(
      'budget',
      'retryNonIdempotent',
      'errorThresholdPercentage',
      'window',
      'buckets',
      'volumeThreshold',
    );
    keys.push(
      'resetTimeout',
      'halfOpenProbes',
      'isFailure',
      'maxKeys',
      'maxConcurrent',
      'maxQueue',
      'queueTimeout',
    );
    keys.push(
      'limit',
      'interval',
      'staleIfError',
      'handles',
      'criticalityHeader',
      'traceResponse',
      'problemTypeBase',
    );
    keys.push('degradedHeader', 'production', 'correlation.accept', 'deadline.default', 'attemptTimeout');
    keys.push('defaults', 'allowEnvOnlyPolicies', 'failureThreshold', 'successThreshold');
    keys.push('slowCallDuration', 'slowCallRateThreshold');
    for (const key of keys) expect(doc, key).toContain(`\`${key}\``);
  });
});
