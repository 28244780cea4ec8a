import { describe, expect, it } from 'vitest';
import { InvalidConfigError } from '../errors/bulwark-error.js';
import { configFromEnv, envPath, envVarFor, parseEnvValue } from './env.js';
import { validateConfig } from './validate.js';

describe('configFromEnv', () => {
  it('maps BULWARK_ variables onto config paths', () => {
    const config = configFromEnv({
      BULWARK_POLICIES__PAYMENTS_API__RETRY__MAX_ATTEMPTS: '5',
      BULWARK_POLICIES__PAYMENTS_API__TIMEOUT: '2s',
      BULWARK_POLICIES__PAYMENTS_API__CIRCUIT_BREAKER__ERROR_THRESHOLD_PERCENTAGE: '25',
      BULWARK_HTTP__PRODUCTION: 'true',
      BULWARK_HTTP__CORRELATION__ACCEPT: '["x-a","x-b"]',
      PATH: '/usr/bin',
      OTHER_BULWARK_X: '1',
    });
    expect(config).toEqual({
      policies: {
        'payments-api': {
          retry: { maxAttempts: 5 },
          timeout: '2s',
          circuitBreaker: { errorThresholdPercentage: 25 },
        },
      },
      http: { production: true, correlation: { accept: ['x-a', 'x-b'] } },
    });
    expect(() => validateConfig(config)).not.toThrow();
  });

  it('ignores BULWARK_CONFIG_FILE, empty values and unrelated variables', () => {
    expect(
      configFromEnv({ BULWARK_CONFIG_FILE: 'x.yaml', BULWARK_HTTP__PRODUCTION: '', HOME: '/h' }),
    ).toEqual({});
  });

  it('defaults to process.env', () => {
    process.env.BULWARK_POLICIES__ENV_DEFAULT__TIMEOUT = '3s';
    try {
      expect(configFromEnv().policies?.['env-default']).toEqual({ timeout: '3s' });
    } finally {
      delete process.env.BULWARK_POLICIES__ENV_DEFAULT__TIMEOUT;
    }
  });

  it('lets true enable a section that nested variables configure', () => {
    expect(
      configFromEnv({
        BULWARK_POLICIES__A__CIRCUIT_BREAKER: 'true',
        BULWARK_POLICIES__A__CIRCUIT_BREAKER__WINDOW: '20s',
      }),
    ).toEqual({ policies: { a: { circuitBreaker: { window: '20s' } } } });
  });

  it('reports conflicting and malformed variables together', () => {
    let err: InvalidConfigError | undefined;
    try {
      configFromEnv({
        BULWARK_POLICIES__A__RETRY: 'false',
        BULWARK_POLICIES__A__RETRY__MAX_ATTEMPTS: '2',
        BULWARK_POLICIES____TIMEOUT: '1s',
      });
    } catch (e) {
      err = e as InvalidConfigError;
    }
    expect(err).toBeInstanceOf(InvalidConfigError);
    expect(err?.issues.map((i) => [i.path, i.received])).toEqual([
      ['BULWARK_POLICIES__A__RETRY__MAX_ATTEMPTS', 'a conflict with BULWARK_POLICIES__A__RETRY'],
      ['BULWARK_POLICIES____TIMEOUT', '"BULWARK_POLICIES____TIMEOUT"'],
    ]);
  });

  it('leaves a misspelt key for validation to report with a suggestion', () => {
    const config = configFromEnv({ BULWARK_POLICIES__A__RETRY__MAX_ATEMPTS: '2' });
    expect(() => validateConfig(config)).toThrow(
      /policies\.a\.retry\.maxAtempts.*did you mean 'maxAttempts'/,
    );
  });
});

describe('parseEnvValue', () => {
  it('turns booleans and numbers into values and keeps the rest as strings', () => {
    expect(parseEnvValue('true')).toBe(true);
    expect(parseEnvValue('FALSE')).toBe(false);
    expect(parseEnvValue('5')).toBe(5);
    expect(parseEnvValue('-1.5')).toBe(-1.5);
    expect(parseEnvValue('250ms')).toBe('250ms');
    expect(parseEnvValue('1e3')).toBe('1e3');
    expect(parseEnvValue('{"value":1}')).toEqual({ value: 1 });
    expect(parseEnvValue('[oops')).toBe('[oops');
  });
});

describe('envPath / envVarFor', () => {
  it('converts names both ways', () => {
    expect(envPath('BULWARK_POLICIES__PAYMENTS_API__RETRY__MAX_ATTEMPTS')).toEqual([
      'policies',
      'payments-api',
      'retry',
      'maxAttempts',
    ]);
    expect(envPath('BULWARK_CONFIG_FILE')).toBeUndefined();
    expect(envPath('NOT_BULWARK')).toBeUndefined();
    expect(envVarFor(['policies', 'payments-api', 'attemptTimeout'])).toBe(
      'BULWARK_POLICIES__PAYMENTS_API__ATTEMPT_TIMEOUT',
    );
    expect(envVarFor(['http', 'problemTypeBase'])).toBe('BULWARK_HTTP__PROBLEM_TYPE_BASE');
  });

  it('round-trips option keys', () => {
    for (const key of ['maxAttempts', 'errorThresholdPercentage', 'retryNonIdempotent', 'timeout']) {
      expect(envPath(envVarFor(['http', key]))).toEqual(['http', key]);
    }
  });
});
