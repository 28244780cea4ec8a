import { afterEach, describe, expect, it } from 'vitest';
import { type InvalidConfigError, isInvalidConfigError } from '../errors/bulwark-error.js';
import { EventStream } from '../telemetry/events.js';
import { DEFAULT_CORRELATION_ACCEPT, resolveHttpOptions } from './options.js';
import type { HttpEngineOptions } from './types.js';

describe('resolveHttpOptions', () => {
  const env = process.env.NODE_ENV;
  afterEach(() => {
    process.env.NODE_ENV = env;
  });

  it('defaults everything', () => {
    const r = resolveHttpOptions(undefined);
    expect(r.correlationHeader).toBe('x-request-id');
    expect(r.correlationAccept).toEqual(DEFAULT_CORRELATION_ACCEPT);
    expect(r.deadlineHeader).toBe('x-deadline-ms');
    expect(r.deadlineMaxMs).toBeUndefined();
    expect(r.deadlineDefaultMs).toBeUndefined();
    expect(r.criticalityHeader).toBe('bulwark-criticality');
    expect(r.rateLimit).toBeUndefined();
    expect(r.bulkhead).toBeUndefined();
    expect(r.degradedHeader).toBe('bulwark-degraded');
    expect(r.problemTypeBase).toBe('tag:bulwark,2026:problems/');
    expect(r.traceResponse).toBe(false);
  });

  it('takes production from NODE_ENV unless given', () => {
    process.env.NODE_ENV = 'production';
    expect(resolveHttpOptions({}).production).toBe(true);
    expect(resolveHttpOptions({ production: false }).production).toBe(false);
    process.env.NODE_ENV = 'development';
    expect(resolveHttpOptions({}).production).toBe(false);
    // Safe by default: an unset or unknown NODE_ENV hides messages and stacks.
    delete process.env.NODE_ENV;
    expect(resolveHttpOptions({}).production).toBe(true);
    process.env.NODE_ENV = 'staging';
    expect(resolveHttpOptions({}).production).toBe(true);
  });

  it('lower-cases header names and parses durations', () => {
    const r = resolveHttpOptions({
      correlation: { header: 'X-Trace-Id', accept: ['X-Trace-Id', 'x-b3-id'] },
      deadline: { header: 'Grpc-Timeout-Ms', max: '30s', default: 5000 },
      degradedHeader: 'X-Degraded',
    });
    expect(r.correlationHeader).toBe('x-trace-id');
    expect(r.correlationAccept).toEqual(['x-trace-id', 'x-b3-id']);
    expect(r.deadlineHeader).toBe('grpc-timeout-ms');
    expect(r.deadlineMaxMs).toBe(30_000);
    expect(r.deadlineDefaultMs).toBe(5000);
    expect(r.degradedHeader).toBe('x-degraded');
  });

  it('does not mutate or keep the caller object', () => {
    const accept = ['x-a'];
    const input = { correlation: { accept } };
    const r = resolveHttpOptions(input);
    expect(r.correlationAccept).not.toBe(accept);
    expect(input).toEqual({ correlation: { accept: ['x-a'] } });
  });

  it('builds the rate limit and bulkhead, keeping key functions', () => {
    const key = () => 'k';
    const r = resolveHttpOptions({
      rateLimit: { limit: 5, key, name: 'api' },
      bulkhead: { maxConcurrent: 2, key },
    });
    expect(r.rateLimit?.name).toBe('api');
    expect(r.rateLimit?.policy.takeSync('x')?.limit).toBe(5);
    expect(r.bulkhead?.stats('x').maxConcurrent).toBe(2);
    expect(r.bulkheadKey).toBe(key);
    expect(resolveHttpOptions({ rateLimit: false, bulkhead: false }).bulkhead).toBeUndefined();
    expect([...resolveHttpOptions({}).exempt]).toEqual(['/livez', '/readyz', '/health']);
  });

  it.each([
    ['options', 'nope', 'http', '"nope"'],
    ['correlation', { correlation: 'x' }, 'http.correlation', '"x"'],
    [
      'correlation.header',
      { correlation: { header: 'bad header' } },
      'http.correlation.header',
      '"bad header"',
    ],
    ['correlation.header (CRLF)', { correlation: { header: 'x\r\ny' } }, 'http.correlation.header', 'x'],
    ['correlation.accept', { correlation: { accept: 'x-id' } }, 'http.correlation.accept', '"x-id"'],
    ['correlation.accept[1]', { correlation: { accept: ['ok', 5] } }, 'http.correlation.accept[1]', '5'],
    ['deadline.max', { deadline: { max: 'soon' } }, 'http.deadline.max', '"soon"'],
    ['deadline.max zero', { deadline: { max: 0 } }, 'http.deadline.max', '0'],
    ['deadline.default zero', { deadline: { default: '0ms' } }, 'http.deadline.default', '"0ms"'],
    ['deadline.max past the timer maximum', { deadline: { max: '900h' } }, 'http.deadline.max', '"900h"'],
    ['rateLimit', { rateLimit: 3 }, 'http.rateLimit', '3'],
    ['rateLimit.limit', { rateLimit: { limit: 0 } }, 'http.rateLimit.limit', '0'],
    ['rateLimit.key', { rateLimit: { limit: 1, key: 'ipv4' } }, 'http.rateLimit.key', '"ipv4"'],
    ['rateLimit.name', { rateLimit: { limit: 1, name: 'é' } }, 'http.rateLimit.name', '"é"'],
    [
      'rateLimit.headers',
      { rateLimit: { limit: 1, headers: 'draft-7' } },
      'http.rateLimit.headers',
      '"draft-7"',
    ],
    [
      'rateLimit.ipv6Subnet',
      { rateLimit: { limit: 1, ipv6Subnet: 200 } },
      'http.rateLimit.ipv6Subnet',
      '200',
    ],
    ['bulkhead.maxConcurrent', { bulkhead: { maxConcurrent: -1 } }, 'http.bulkhead.maxConcurrent', '-1'],
    ['exempt', { exempt: ['health'] }, 'http.exempt[0]', '"health"'],
    ['production', { production: 'yes' }, 'http.production', '"yes"'],
    ['problemTypeBase (not a string)', { problemTypeBase: 42 }, 'http.problemTypeBase', '42'],
    [
      'problemTypeBase (not absolute)',
      { problemTypeBase: 'my problems/' },
      'http.problemTypeBase',
      '"my problems/"',
    ],
    ['degradedHeader', { degradedHeader: '' }, 'http.degradedHeader', '""'],
    ['traceResponse', { traceResponse: 1 }, 'http.traceResponse', '1'],
    ['onError', { onError: 'log' }, 'http.onError', '"log"'],
    ['resolvePolicy', { resolvePolicy: {} }, 'http.resolvePolicy', '{}'],
    ['events', { events: {} }, 'http.events', '{}'],
  ])('rejects a bad %s with an InvalidConfigError naming the key and the value', (_n, o, path, received) => {
    let err: unknown;
    try {
      resolveHttpOptions(o as HttpEngineOptions);
    } catch (e) {
      err = e;
    }
    expect(isInvalidConfigError(err)).toBe(true);
    const issue = (err as InvalidConfigError).issues.find((i) => i.path === path);
    expect(issue, JSON.stringify((err as InvalidConfigError).issues)).toBeDefined();
    expect(issue?.received).toContain(received);
  });

  it('collects every problem at once', () => {
    try {
      resolveHttpOptions({ production: 'yes', traceResponse: 1 } as never);
      expect.unreachable();
    } catch (e) {
      expect((e as InvalidConfigError).issues.map((i) => i.path)).toEqual([
        'http.production',
        'http.traceResponse',
      ]);
    }
  });

  it('accepts an absolute problemTypeBase', () => {
    expect(resolveHttpOptions({ problemTypeBase: 'https://errors.example.com/' }).problemTypeBase).toBe(
      'https://errors.example.com/',
    );
  });

  it('accepts an EventStream', () => {
    const events = new EventStream();
    expect(resolveHttpOptions({ events }).events).toBe(events);
  });
});
