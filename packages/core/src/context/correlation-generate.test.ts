import { describe, expect, it } from 'vitest';
import { createHttpEngine } from '../http/engine.js';
import { createBulwark } from '../registry/bulwark.js';
import { configIssues } from '../registry/validate.js';
import { checkedCorrelationGenerator } from './correlation-generate.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// A ULID-like generator: 26 Crockford base32 characters, time first.
let counter = 0;
const ulidish = () => `01J${(Date.now() * 1000 + counter++).toString(32).toUpperCase().padStart(23, '0')}`;

describe('checkedCorrelationGenerator', () => {
  it('defaults to random UUIDs', () => {
    expect(checkedCorrelationGenerator(undefined, 'k')()).toMatch(UUID);
  });

  it('uses a valid generator', () => {
    const g = checkedCorrelationGenerator(ulidish, 'http.correlation.generate');
    const a = g();
    expect(a).toMatch(/^01J[0-9A-Z]{23}$/);
    expect(g()).not.toBe(a);
  });

  it.each([
    ['not a function', 'ulid', /`http.correlation.generate`.*function.*got "ulid"/],
    ['an invalid first ID', () => 'has space', /returned "has space"/],
    ['a too long first ID', () => 'x'.repeat(129), /at most 128/],
    ['a non-string first ID', () => 42, /returned 42/],
    [
      'a throwing generator',
      () => {
        throw new Error('boom');
      },
      /threw "boom"/,
    ],
  ])('rejects %s at start-up, naming the key', (_name, value, message) => {
    expect(() => checkedCorrelationGenerator(value, 'http.correlation.generate')).toThrow(message);
  });

  it('replaces a later invalid ID, or a throw, with a UUID (never an unsafe value)', () => {
    const values: unknown[] = ['ok-1', 'evil\r\nset-cookie: a=1', 'y'.repeat(500), undefined];
    const g = checkedCorrelationGenerator(() => {
      const v = values.shift();
      if (v === undefined) throw new Error('later failure');
      return v;
    }, 'k');
    expect(g()).toMatch(UUID);
    expect(g()).toMatch(UUID);
    expect(g()).toMatch(UUID);
  });
});

describe('http.correlation.generate', () => {
  it('makes the ID of a request that brought none; a valid incoming ID still wins', async () => {
    const engine = createHttpEngine({ correlation: { generate: () => `orders-${++counter}` } });
    const fresh = await engine.admit({ method: 'GET', path: '/', headers: {} });
    expect(fresh.context.correlationId).toMatch(/^orders-\d+$/);
    expect(fresh.headers).toEqual(['x-request-id', fresh.context.correlationId]);
    fresh.release();
    const kept = await engine.admit({ method: 'GET', path: '/', headers: { 'x-request-id': 'caller-1' } });
    expect(kept.context.correlationId).toBe('caller-1');
    kept.release();
    const replaced = await engine.admit({ method: 'GET', path: '/', headers: { 'x-request-id': 'bad id' } });
    expect(replaced.context.correlationId).toMatch(/^orders-\d+$/);
    replaced.release();
  });

  it('is accepted by the config check and used by the registry engine', async () => {
    const config = { http: { correlation: { generate: () => 'job-abc' } } };
    expect(configIssues(config)).toEqual([]);
    expect(configIssues({ http: { correlation: { generate: 'ulid' } } })[0]?.path).toBe(
      'http.correlation.generate',
    );
    const bw = createBulwark(config);
    const a = await bw.http.admit({ method: 'GET', path: '/', headers: {} });
    expect(a.context.correlationId).toBe('job-abc');
    a.release();
  });

  it('fails engine creation for a generator whose first ID is invalid', () => {
    expect(() => createHttpEngine({ correlation: { generate: () => 'a b' } })).toThrow(
      /http.correlation.generate/,
    );
  });
});
