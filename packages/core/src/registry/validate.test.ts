import { describe, expect, it } from 'vitest';
import { InvalidConfigError, isInvalidConfigError } from '../errors/bulwark-error.js';
import { EventStream } from '../telemetry/events.js';
import { closest } from '../util/checks.js';
import { createBulwark } from './bulwark.js';
import type { BulwarkConfig } from './config.js';
import { configIssues, validateConfig, validatePolicyConfig } from './validate.js';

const paths = (config: unknown) => configIssues(config).map((i) => i.path);
const issueAt = (config: unknown, path: string) => configIssues(config).find((i) => i.path === path);

describe('validateConfig', () => {
  it('accepts a full, valid config and returns it unchanged', () => {
    const config = {
      policies: {
        'payments-api': {
          fallback: { value: 'cached' },
          rateLimit: { limit: 100, interval: '1s' },
          timeout: '5s',
          retry: {
            maxAttempts: 3,
            backoff: 'exponential',
            initialDelay: '100ms',
            maxDelay: '2s',
            jitter: 'full',
          },
          circuitBreaker: { errorThresholdPercentage: 50, window: '10s', volumeThreshold: 5 },
          attemptTimeout: 1000,
          bulkhead: { maxConcurrent: 10, maxQueue: 5, queueTimeout: '1s' },
        },
        simple: { circuitBreaker: true, fallback: () => 1 },
      },
      http: {
        correlation: { header: 'x-request-id', accept: ['x-request-id', 'x-correlation-id'] },
        deadline: { header: 'x-deadline-ms', max: '30s' },
        rateLimit: { limit: 10, key: () => 'k' },
        bulkhead: false,
        production: true,
      },
      events: new EventStream(),
    };
    const before = JSON.stringify(config);
    expect(validateConfig(config)).toBe(config);
    expect(JSON.stringify(config)).toBe(before);
  });

  it('accepts undefined and an empty object', () => {
    expect(validateConfig(undefined)).toEqual({});
    expect(configIssues({})).toEqual([]);
  });

  it('names the path, the expected value and the received one', () => {
    const issue = issueAt(
      { policies: { 'payments-api': { retry: { maxAttempts: -1 } } } },
      'policies.payments-api.retry.maxAttempts',
    );
    expect(issue).toMatchObject({ expected: 'a positive integer', received: '-1' });
    expect(issue?.fix).toBeTruthy();
  });

  it('collects every problem at once into one InvalidConfigError', () => {
    const bad = {
      policies: {
        a: { retry: { maxAttempts: 0, jitter: 'fulll' }, timeout: 'soon' },
        b: { bulkhead: { maxConcurrent: 1.5, maxQueue: -1 } },
      },
      http: { production: 'yes' },
    };
    let caught: unknown;
    try {
      validateConfig(bad);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(InvalidConfigError);
    expect(isInvalidConfigError(caught)).toBe(true);
    const err = caught as InvalidConfigError;
    expect(err.issues.map((i) => i.path).sort()).toEqual(
      [
        'policies.a.retry.maxAttempts',
        'policies.a.retry.jitter',
        'policies.a.timeout',
        'policies.b.bulkhead.maxConcurrent',
        'policies.b.bulkhead.maxQueue',
        'http.production',
      ].sort(),
    );
    expect(err.message).toContain('policies.a.timeout: expected a duration, got "soon"');
    expect(err.issues.find((i) => i.path.endsWith('jitter'))?.fix).toBe("did you mean 'full'?");
  });

  it('reports unknown keys with a did-you-mean fix, at every level', () => {
    const issues = configIssues({
      polices: {},
      http: { prodution: true },
      policies: { p: { retry: { maxAtempts: 2, max_delay: '1s' }, breaker: true, zzz: 1 } },
    });
    const fix = (path: string) => issues.find((i) => i.path === path)?.fix;
    expect(fix('polices')).toBe("did you mean 'policies'?");
    expect(fix('http.prodution')).toBe("did you mean 'production'?");
    expect(fix('policies.p.retry.maxAtempts')).toBe("did you mean 'maxAttempts'?");
    expect(fix('policies.p.retry.max_delay')).toBe("did you mean 'maxDelay'?");
    expect(fix('policies.p.breaker')).toBe("did you mean 'circuitBreaker'?");
    expect(fix('policies.p.zzz')).toMatch(/^remove it; known keys: deadLetter, fallback, rateLimit/);
    expect(issues.find((i) => i.path === 'policies.p.zzz')?.received).toBe('unknown key "zzz"');
  });

  it('accepts durations as strings or ms and rejects others', () => {
    for (const ok of ['250ms', '2s', '1m', '1h', 1500, '1.5s'])
      expect(paths({ policies: { p: { timeout: ok } } })).toEqual([]);
    for (const bad of ['2 days', -5, '', true, '0ms', 0])
      expect(paths({ policies: { p: { timeout: bad } } })).toEqual(['policies.p.timeout']);
  });

  it('checks ranges: percentage, ratios, enums, booleans, functions', () => {
    const issues = paths({
      policies: {
        p: {
          circuitBreaker: { errorThresholdPercentage: 150, halfOpenProbes: 0, isFailure: 'x' },
          retry: { backoff: 'fibonacci', factor: 0.5, budget: { ratio: 2 }, honorRetryAfter: 1 },
        },
      },
    });
    expect(issues.sort()).toEqual(
      [
        'policies.p.circuitBreaker.errorThresholdPercentage',
        'policies.p.circuitBreaker.halfOpenProbes',
        'policies.p.circuitBreaker.isFailure',
        'policies.p.retry.backoff',
        'policies.p.retry.factor',
        'policies.p.retry.budget.ratio',
        'policies.p.retry.honorRetryAfter',
      ].sort(),
    );
  });

  it('accepts false for any part and for the retry budget', () => {
    const off = {
      fallback: false,
      rateLimit: false,
      timeout: false,
      retry: { budget: false },
      circuitBreaker: false,
    };
    expect(configIssues({ policies: { p: { ...off, attemptTimeout: false, bulkhead: false } } })).toEqual([]);
  });

  it('requires rateLimit.limit, in policies and in http', () => {
    const issues = configIssues({
      policies: { p: { rateLimit: { interval: '1s' } } },
      http: { rateLimit: {} },
    });
    expect(issues.map((i) => [i.path, i.expected])).toEqual([
      ['policies.p.rateLimit.limit', 'a positive integer (required)'],
      ['http.rateLimit.limit', 'a positive integer (required)'],
    ]);
  });

  it('validates the fallback forms', () => {
    expect(paths({ policies: { p: { fallback: { staleIfError: '1m' } } } })).toEqual([]);
    expect(paths({ policies: { p: { fallback: { fallback: { value: 1 }, handles: () => true } } } })).toEqual(
      [],
    );
    expect(paths({ policies: { p: { fallback: { value: null } } } })).toEqual([]);
    expect(paths({ policies: { p: { fallback: {} } } })).toEqual(['policies.p.fallback']);
    expect(paths({ policies: { p: { fallback: { value: 1, fallback: () => 2 } } } })).toEqual([
      'policies.p.fallback.value',
    ]);
    expect(paths({ policies: { p: { fallback: 'x' } } })).toEqual(['policies.p.fallback']);
  });

  it('rejects name/events inside sections and resolvePolicy in http, with a fix', () => {
    const issues = configIssues({
      policies: { p: { retry: { name: 'x' } } },
      http: { resolvePolicy: () => null },
    });
    expect(issues.map((i) => i.path)).toEqual(['policies.p.retry.name', 'http.resolvePolicy']);
    expect(issues[0]?.fix).toContain('names every part');
  });

  it('checks store and events structurally', () => {
    expect(paths({ store: {}, events: { on: 1 } })).toEqual(['store', 'events']);
  });

  it('reports a non-object config and non-object sections', () => {
    expect(paths(42)).toEqual(['config']);
    expect(paths({ policies: [], http: 'x' })).toEqual(['policies', 'http']);
    expect(paths({ policies: { p: 'retry' } })).toEqual(['policies.p']);
  });

  it('checks http header names and lists', () => {
    expect(paths({ http: { correlation: { header: 'bad header', accept: ['ok', 3] } } })).toEqual([
      'http.correlation.header',
      'http.correlation.accept[1]',
    ]);
  });
});

describe('cross-validation of the standard preset', () => {
  it('attemptTimeout must not exceed timeout', () => {
    const issue = issueAt(
      { policies: { p: { timeout: '2s', attemptTimeout: '5s' } } },
      'policies.p.attemptTimeout',
    );
    expect(issue).toMatchObject({ expected: 'at most the total timeout (2s)', received: '"5s"' });
    expect(paths({ policies: { p: { timeout: '2s', attemptTimeout: '2s' } } })).toEqual([]);
  });

  it('breaker window must be at least twice the attemptTimeout, default window included', () => {
    expect(
      issueAt(
        { policies: { p: { circuitBreaker: true, attemptTimeout: '6s' } } },
        'policies.p.circuitBreaker.window',
      ),
    ).toMatchObject({
      expected: 'at least twice the attemptTimeout (12s)',
      received: '10s (the default)',
    });
    expect(paths({ policies: { p: { circuitBreaker: { window: '4s' }, attemptTimeout: '2s' } } })).toEqual(
      [],
    );
    expect(paths({ policies: { p: { circuitBreaker: { window: '3s' }, attemptTimeout: '2s' } } })).toEqual([
      'policies.p.circuitBreaker.window',
    ]);
  });

  it('flags a retry that can never start inside the total timeout, not one that merely may', () => {
    const noJitter = { timeout: '1s', retry: { initialDelay: '2s', jitter: 'none' } };
    expect(paths({ policies: { p: noJitter } })).toEqual(['policies.p.retry.initialDelay']);
    // full jitter (the default) can pick a short delay, so retries remain possible
    expect(paths({ policies: { p: { timeout: '1s', retry: { initialDelay: '2s' } } } })).toEqual([]);
    // maxDelay above the timeout is fine: early delays are short
    expect(paths({ policies: { p: { timeout: '1s', retry: { maxDelay: '30s', jitter: 'none' } } } })).toEqual(
      [],
    );
    // a single attempt never retries
    expect(paths({ policies: { p: { ...noJitter, retry: { ...noJitter.retry, maxAttempts: 1 } } } })).toEqual(
      [],
    );
  });

  it('flags maxDelay below initialDelay when both are set', () => {
    expect(paths({ policies: { p: { retry: { initialDelay: '1s', maxDelay: '500ms' } } } })).toEqual([
      'policies.p.retry.maxDelay',
    ]);
  });

  it('skips cross-checks when the policy already has issues', () => {
    expect(
      paths({ policies: { p: { timeout: '1s', attemptTimeout: '5s', retry: { maxAttempts: 0 } } } }),
    ).toEqual(['policies.p.retry.maxAttempts']);
  });
});

describe('validatePolicyConfig', () => {
  it('validates one policy under its path', () => {
    expect(validatePolicyConfig('x', { timeout: '1s' })).toEqual({ timeout: '1s' });
    expect(() => validatePolicyConfig('x', { timeout: 'never' })).toThrow(/policies\.x\.timeout/);
    expect(() => validatePolicyConfig(' ', {})).toThrow(/non-empty policy name/);
  });
});

describe('closest', () => {
  it('forgives case, separators and small typos but not unrelated words', () => {
    expect(closest('MAXATTEMPTS', ['maxAttempts', 'maxDelay'])).toBe('maxAttempts');
    expect(closest('jiter', ['jitter'])).toBe('jitter');
    expect(closest('banana', ['jitter', 'factor'])).toBeUndefined();
  });
});

describe('nothing that passes createBulwark can fail later', () => {
  const rejects = (config: unknown, path: string, pattern: RegExp) => {
    const issue = configIssues(config).find((i) => i.path === path);
    expect(issue, `an issue at ${path}`).toBeDefined();
    expect(`${issue?.expected} ${issue?.received} ${issue?.fix}`).toMatch(pattern);
    expect(() => createBulwark(config as BulwarkConfig, { env: false, file: false })).toThrow(
      InvalidConfigError,
    );
  };

  it('rejects circuitBreaker.resetTimeout past the timer maximum at start-up', () => {
    rejects(
      { policies: { p: { circuitBreaker: { resetTimeout: '900h' } } } },
      'policies.p.circuitBreaker.resetTimeout',
      /at most 2147483647 ms.*"900h"/,
    );
  });

  it('rejects an http.rateLimit.name that cannot go in a header at start-up', () => {
    const issues = configIssues({ http: { rateLimit: { limit: 5, name: 'café' } } });
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toMatch(/^http/);
    expect(JSON.stringify(issues[0])).toMatch(/rateLimit\.name/);
    expect(() =>
      createBulwark({ http: { rateLimit: { limit: 5, name: 'café' } } }, { env: false, file: false }),
    ).toThrow(InvalidConfigError);
  });

  it('rejects retry.budget.ratio above 1, in config as in retry()', () => {
    rejects(
      { policies: { p: { retry: { budget: { ratio: 1.5 } } } } },
      'policies.p.retry.budget.ratio',
      /a ratio from 0 to 1 1\.5/,
    );
  });

  it('rejects bulkhead.queueTimeout past the timer maximum', () => {
    rejects(
      { policies: { p: { bulkhead: { maxQueue: 1, queueTimeout: '900h' } } } },
      'policies.p.bulkhead.queueTimeout',
      /at most 2147483647 ms/,
    );
    rejects({ policies: { p: { timeout: '25d' as never } } }, 'policies.p.timeout', /a duration/);
    rejects({ http: { deadline: { max: '900h' } } }, 'http.deadline.max', /at most 2147483647 ms/);
  });

  it('builds every part of a config that passed, without a throw', () => {
    const b = createBulwark(
      {
        policies: {
          p: {
            fallback: { value: 1 },
            rateLimit: { limit: 5 },
            timeout: '596h',
            retry: { jitter: true, budget: { ratio: 1 } },
            circuitBreaker: { resetTimeout: 2_147_483_647 },
            attemptTimeout: '1s',
            bulkhead: { queueTimeout: '596h' },
          },
        },
        http: { rateLimit: { limit: 5, name: 'api' }, bulkhead: { maxConcurrent: 2 } },
      },
      { env: false, file: false },
    );
    expect(() => b.policy('p')).not.toThrow();
    expect(() => b.http).not.toThrow();
    return b.close();
  });
});
