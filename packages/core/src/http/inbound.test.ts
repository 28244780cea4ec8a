import { describe, expect, it } from 'vitest';
import {
  defaultKey,
  degradedValue,
  ENGINE_KEY,
  headerValue,
  MAX_KEY_LENGTH,
  parseCriticality,
  parseDeadlineHeader,
} from './inbound.js';

describe('headerValue', () => {
  it('reads a string, the first of a repeated header, or nothing', () => {
    expect(headerValue({ a: 'x' }, 'a')).toBe('x');
    expect(headerValue({ a: ['y', 'z'] }, 'a')).toBe('y');
    expect(headerValue({ a: undefined }, 'a')).toBeUndefined();
    expect(headerValue({}, 'a')).toBeUndefined();
  });
});

describe('parseDeadlineHeader', () => {
  it.each([
    ['1500', 1500],
    [' 250 ', 250],
    ['0', 0],
    ['-20', -20],
    ['999999999999', 999999999999],
  ])('parses %j', (v, ms) => {
    expect(parseDeadlineHeader(v)).toBe(ms);
  });
  it.each([
    [undefined],
    [''],
    ['abc'],
    ['1.5'],
    ['1e3'],
    ['12ms'],
    ['9999999999999'],
    [`${' '.repeat(40)}1`],
    ['0x10'],
    ['--1'],
  ])('ignores %j', (v) => {
    expect(parseDeadlineHeader(v)).toBeUndefined();
  });
});

describe('parseCriticality', () => {
  it('accepts the known values only', () => {
    expect(parseCriticality('critical')).toBe('critical');
    expect(parseCriticality('sheddable')).toBe('sheddable');
    expect(parseCriticality('default')).toBe('default');
    expect(parseCriticality('CRITICAL')).toBe('default');
    expect(parseCriticality('urgent')).toBe('default');
    expect(parseCriticality(undefined)).toBe('default');
  });
});

describe('degradedValue', () => {
  it('joins reasons with a comma and a space', () => {
    expect(degradedValue(['fallback', 'stale-cache'])).toBe('fallback, stale-cache');
  });
  it('strips characters that could split or inject a header', () => {
    expect(degradedValue(['a\r\nSet-Cookie: x', 'b,c', 'é'])).toBe('aSet-Cookie: x, bc');
  });
  it('bounds each reason and the whole value', () => {
    expect(degradedValue(['x'.repeat(100)])).toHaveLength(64);
    const many = Array.from({ length: 40 }, (_, i) => `reason-${i}-${'y'.repeat(20)}`);
    expect(degradedValue(many).length).toBeLessThanOrEqual(512);
  });
  it('never returns an empty value', () => {
    expect(degradedValue([])).toBe('degraded');
    expect(degradedValue(['\n'])).toBe('degraded');
  });
});

describe('defaultKey', () => {
  it('is the route pattern (bounded), else one engine-wide key, never the path', () => {
    expect(defaultKey('GET /users/:id')).toBe('GET /users/:id');
    expect(defaultKey(undefined)).toBe(ENGINE_KEY);
    expect(defaultKey(`GET /${'a'.repeat(1000)}`)).toHaveLength(MAX_KEY_LENGTH);
  });
});
