// Cases written from the text of W3C Trace Context (Level 2), section "Tracestate Header", and the
// processing model ("If the tracestate header cannot be parsed the vendor MAY discard the entire header").
import { describe, expect, it } from 'vitest';
import { traceFromHeaders } from './trace.js';
import { acceptTracestate, formatTracestate, parseTracestate } from './tracestate.js';

const LCALPHA = 'abcdefghijklmnopqrstuvwxyz';
// Every character a value may hold: 0x20–0x7E except ',' and '='.
const VALUE_CHARS = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i))
  .filter((c) => c !== ',' && c !== '=')
  .join('');

describe('tracestate: list and members', () => {
  it('keeps a list of key=value members in order', () => {
    expect(acceptTracestate('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE')).toBe(
      'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
    );
  });

  it('combines several header fields into one list, in field order (RFC 9110 §5.3)', () => {
    expect(acceptTracestate(['foo=1,bar=2', 'congo=3'])).toBe('foo=1,bar=2,congo=3');
  });

  it('ignores spaces and horizontal tabs surrounding members', () => {
    expect(acceptTracestate('foo=1 \t , \t bar=2, \t baz=3')).toBe('foo=1,bar=2,baz=3');
    expect(acceptTracestate('foo=1\t \t,\t \tbar=2,\t \tbaz=3')).toBe('foo=1,bar=2,baz=3');
    expect(acceptTracestate(' foo=1')).toBe('foo=1');
    expect(acceptTracestate('\tfoo=1')).toBe('foo=1');
    expect(acceptTracestate('foo=1\t')).toBe('foo=1');
    expect(acceptTracestate('\t foo=1 \t')).toBe('foo=1');
  });

  it('allows empty and whitespace-only members, and accepts an empty header without sending it', () => {
    expect(acceptTracestate('foo=1,,bar=2')).toBe('foo=1,bar=2');
    expect(acceptTracestate('foo=1, \t ,bar=2,')).toBe('foo=1,bar=2');
    expect(parseTracestate('')).toEqual([]);
    expect(parseTracestate(' \t ')).toEqual([]);
    expect(acceptTracestate('')).toBeUndefined();
    expect(acceptTracestate(' , ')).toBeUndefined();
  });

  it('holds at most 32 members: a list of 33 cannot be parsed and is dropped', () => {
    const members = (n: number) =>
      Array.from({ length: n }, (_, i) => `bar${String(i + 1).padStart(2, '0')}=${i + 1}`);
    expect(parseTracestate(members(32).join(','))).toHaveLength(32);
    expect(acceptTracestate(members(33).join(','))).toBeUndefined();
    // Across several fields too; empty members do not count.
    expect(parseTracestate([members(30).join(','), ',,', members(32).slice(30).join(',')])).toHaveLength(32);
    expect(acceptTracestate([members(30).join(','), members(33).slice(30).join(',')])).toBeUndefined();
  });

  it('keeps the first entry of a repeated key (never the same key twice)', () => {
    expect(acceptTracestate('foo=1,foo=1')).toBe('foo=1');
    expect(acceptTracestate('foo=1,bar=2,foo=2')).toBe('foo=1,bar=2');
    expect(acceptTracestate(['foo=1', 'foo=2'])).toBe('foo=1');
  });
});

describe('tracestate: key grammar', () => {
  it('accepts lowercase letters, digits, _ - * / and @, starting with a letter or a digit', () => {
    const key = `${LCALPHA}0123456789_-*/`;
    expect(acceptTracestate(`${key}=1`)).toBe(`${key}=1`);
    expect(acceptTracestate('1vendor=1')).toBe('1vendor=1');
  });

  it('accepts multi-tenant keys (tenant@system) and @ anywhere after the first character', () => {
    expect(acceptTracestate('tenant@rojo=1,congo=2')).toBe('tenant@rojo=1,congo=2');
    expect(acceptTracestate(`${LCALPHA}@a-z0-9_-*/=1`)).toBe(`${LCALPHA}@a-z0-9_-*/=1`);
    expect(acceptTracestate('foo@=1,bar=2')).toBe('foo@=1,bar=2');
    expect(acceptTracestate('foo@@bar=1')).toBe('foo@@bar=1');
    expect(acceptTracestate('foo@bar@baz=1')).toBe('foo@bar@baz=1');
    const tenant = `${'t'.repeat(241)}@${'v'.repeat(14)}`;
    expect(acceptTracestate(`${tenant}=1`)).toBe(`${tenant}=1`);
  });

  it('accepts keys of up to 256 characters', () => {
    expect(acceptTracestate(`foo=1,${'z'.repeat(256)}=1`)).toBe(`foo=1,${'z'.repeat(256)}=1`);
    expect(acceptTracestate(`foo=1,${'z'.repeat(257)}=1`)).toBeUndefined();
  });

  it.each([
    ['an upper-case key', 'FOO=1'],
    ['a dot', 'foo.bar=1'],
    ['a space inside the member', 'foo =1'],
    ['a leading @', '@foo=1,bar=2'],
    ['a leading underscore', '_foo=1'],
    ['a member without =', 'foo'],
    ['an empty key', '=1'],
    ['non-ASCII', 'café=1'],
  ])('drops the whole header for %s', (_name, header) => {
    expect(acceptTracestate(`congo=2,${header}`)).toBeUndefined();
  });
});

describe('tracestate: value grammar', () => {
  it('accepts every printable ASCII character but , and =, and values of up to 256 characters', () => {
    expect(acceptTracestate(`foo=${VALUE_CHARS.trimStart()}`)).toBe(`foo=${VALUE_CHARS.trimStart()}`);
    expect(parseTracestate(`foo=${'v'.repeat(256)}`)?.[0]?.value).toHaveLength(256);
    expect(acceptTracestate(`foo=${'v'.repeat(257)}`)).toBeUndefined();
  });

  it('preserves leading spaces of a value and treats trailing ones as optional whitespace', () => {
    expect(parseTracestate('foo=  1')).toEqual([{ key: 'foo', value: '  1' }]);
    expect(parseTracestate('foo=1  ')).toEqual([{ key: 'foo', value: '1' }]);
  });

  it.each([
    ['an empty value', 'foo=,bar=3'],
    ['an = inside the value', 'foo=bar=baz'],
    ['a value of only spaces', 'foo=   ,bar=3'],
    ['a control character', 'foo=a\u0001b'],
    ['CR LF', 'foo=1\r\nset-cookie: x=1'],
    ['a tab inside the value', 'foo=a\tb'],
    ['non-ASCII', 'foo=é'],
  ])('drops the whole header for %s', (_name, header) => {
    expect(acceptTracestate(header)).toBeUndefined();
  });
});

describe('tracestate: limits and truncation', () => {
  const entry = (key: string, length: number) => `${key}=${'v'.repeat(length - key.length - 1)}`;

  it('propagates a combined header of up to 512 characters unchanged', () => {
    const list = [entry('a', 100), entry('b', 100), entry('c', 100), entry('d', 100), entry('e', 108)];
    expect(list.join(',')).toHaveLength(512);
    expect(acceptTracestate(list.join(','))).toBe(list.join(','));
  });

  it('truncates longer lists by whole entries, removing entries over 128 characters first', () => {
    const big = entry('big', 200);
    const small = [entry('a', 100), entry('b', 100), entry('c', 100), entry('d', 100)];
    const out = acceptTracestate([small[0], big, ...small.slice(1)].join(','));
    expect(out).toBe(small.join(','));
  });

  it('then removes entries from the end of the list', () => {
    const list = Array.from({ length: 8 }, (_, i) => entry(`k${i}`, 100));
    const out = acceptTracestate(list.join(',')) as string;
    expect(out).toBe(list.slice(0, 5).join(','));
    expect(out.length).toBeLessThanOrEqual(512);
  });

  it('removes only as many large entries as needed, right-most first', () => {
    const list = [entry('a', 200), entry('b', 200), entry('c', 200)];
    expect(acceptTracestate(list.join(','))).toBe(list.slice(0, 2).join(','));
  });

  it('never cuts an entry: every entry out is an entry in', () => {
    const list = Array.from({ length: 32 }, (_, i) => entry(`k${i}`, 17 + (i % 5) * 20));
    const out = acceptTracestate(list.join(',')) as string;
    expect(out.length).toBeLessThanOrEqual(512);
    for (const part of out.split(',')) expect(list).toContain(part);
    expect(formatTracestate([])).toBeUndefined();
  });

  it('refuses absurdly long raw headers and non-string values without parsing them', () => {
    expect(acceptTracestate(`${' '.repeat(40_000)}foo=1`)).toBeUndefined();
    expect(acceptTracestate(5)).toBeUndefined();
    expect(acceptTracestate(undefined)).toBeUndefined();
    expect(acceptTracestate(['a=1', 2])).toBeUndefined();
  });
});

describe('tracestate with traceparent', () => {
  const TP = '00-12345678901234567890123456789012-1234567890123456-00';

  it('is inherited with a valid traceparent, parsed and normalised', () => {
    expect(traceFromHeaders({ traceparent: TP, tracestate: 'foo=1 \t, bar=2' }).tracestate).toBe(
      'foo=1,bar=2',
    );
  });

  it('is discarded without a valid traceparent', () => {
    expect(traceFromHeaders({ tracestate: 'foo=1' }).tracestate).toBeUndefined();
    expect(traceFromHeaders({ traceparent: 'nope', tracestate: 'foo=1' }).tracestate).toBeUndefined();
  });

  it('failing to parse it does not affect the traceparent', () => {
    const t = traceFromHeaders({ traceparent: TP, tracestate: 'foo=bar=baz' });
    expect(t.traceId).toBe('12345678901234567890123456789012');
    expect(t.parentId).toBe('1234567890123456');
    expect(t.tracestate).toBeUndefined();
  });
});
