import { afterEach, describe, expect, it } from 'vitest';
import { EventStream } from '../telemetry/events.js';
import { DEFAULT_CORRELATION_ACCEPT, resolveHttpOptions } from './options.js';
import type { HttpEngineOptions } from './types.js';

const bad = (o: unknown) => () => resolveHttpOptions(o as HttpEngineOptions);

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
    expect(r.rateLimit?.takeSync('x')?.limit).toBe(5);
    expect(r.rateLimitName).toBe('api');
    expect(r.rateLimitKey).toBe(key);
    expect(r.bulkhead?.stats('x').maxConcurrent).toBe(2);
    expect(r.bulkheadKey).toBe(key);
    expect(resolveHttpOptions({ rateLimit: false, bulkhead: false }).bulkhead).toBeUndefined();
  });

  it.each([
    ['options', 'nope', /`http.\(options\)`.*"nope"/],
    ['correlation', { correlation: 'x' }, /`http.correlation` to be an object; got "x"/],
    [
      'correlation.header',
      { correlation: { header: 'bad header' } },
      /`http.correlation.header`.*"bad header"/,
    ],
    ['correlation.header (CRLF)', { correlation: { header: 'x\r\ny' } }, /`http.correlation.header`/],
    ['correlation.accept', { correlation: { accept: 'x-id' } }, /`http.correlation.accept`.*"x-id"/],
    ['correlation.accept[1]', { correlation: { accept: ['ok', 5] } }, /`http.correlation.accept\[1\]`.*5/],
    ['deadline.max', { deadline: { max: 'soon' } }, /`http.deadline.max`.*"soon"/],
    ['deadline.max zero', { deadline: { max: 0 } }, /`http.deadline.max`.*positive.*0/],
    ['deadline.default zero', { deadline: { default: '0ms' } }, /`http.deadline.default`.*"0ms"/],
    ['rateLimit', { rateLimit: 3 }, /`http.rateLimit` to be an object; got 3/],
    ['rateLimit.limit', { rateLimit: { limit: 0 } }, /`http.rateLimit`.*`limit`.*0/],
    ['rateLimit.key', { rateLimit: { limit: 1, key: 'ip' } }, /`http.rateLimit.key`.*"ip"/],
    ['rateLimit.name', { rateLimit: { limit: 1, name: 'é' } }, /`http.rateLimit.name`/],
    [
      'bulkhead.maxConcurrent',
      { bulkhead: { maxConcurrent: -1 } },
      /`http.bulkhead.maxConcurrent`: expected a positive integer, got -1/,
    ],
    ['production', { production: 'yes' }, /`http.production` to be a boolean; got "yes"/],
    ['problemTypeBase', { problemTypeBase: 42 }, /`http.problemTypeBase`.*42/],
    ['degradedHeader', { degradedHeader: '' }, /`http.degradedHeader`.*""/],
    ['traceResponse', { traceResponse: 1 }, /`http.traceResponse`.*1/],
    ['resolvePolicy', { resolvePolicy: {} }, /`http.resolvePolicy`.*\{\}/],
    ['events', { events: {} }, /`http.events` to be an EventStream/],
  ])('rejects a bad %s with a TypeError naming key and value', (_n, o, msg) => {
    expect(bad(o)).toThrow(TypeError);
    expect(bad(o)).toThrow(msg);
  });

  it('accepts an EventStream', () => {
    const events = new EventStream();
    expect(resolveHttpOptions({ events }).events).toBe(events);
  });
});
