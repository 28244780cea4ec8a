import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isAbsoluteUri, MAX_INSTANCE_LENGTH, problemInstance, problemType } from './problem-details.js';

// RFC 3986 relative-ref (path-absolute / path-noscheme with query), as a checker independent of the encoder.
const RELATIVE_REF = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-F]{2})*$/;

describe('isAbsoluteUri', () => {
  it.each([
    'https://errors.example.com/problems/',
    'tag:bulwark,2026:problems/',
    'urn:example:problems:',
    'https://docs.example.com/errors#',
    'http://x/%7Efoo/',
  ])('accepts %s', (v) => {
    expect(isAbsoluteUri(v)).toBe(true);
  });

  it.each([
    ['a relative path with a space', 'my problems/'],
    ['no scheme', '/problems/'],
    ['a scheme starting with a digit', '1http://x/'],
    ['a raw space', 'https://x/a b/'],
    ['a broken escape', 'https://x/%zz/'],
    ['two fragments', 'https://x/#a#b'],
    ['braces', 'https://x/{code}'],
    ['empty', ''],
    ['a number', 42],
    ['too long', `https://x/${'a'.repeat(3000)}`],
  ])('refuses %s', (_n, v) => {
    expect(isAbsoluteUri(v)).toBe(false);
  });
});

describe('problemType', () => {
  it('appends the kebab-case code to the base', () => {
    expect(problemType('CIRCUIT_OPEN')).toBe('tag:bulwark,2026:problems/circuit-open');
    expect(problemType('CIRCUIT_OPEN', 'https://e.x/p/')).toBe('https://e.x/p/circuit-open');
  });
});

describe('problemInstance', () => {
  it('keeps valid paths and escapes as they are', () => {
    expect(problemInstance('/orders/42?x=1&y=%20')).toBe('/orders/42?x=1&y=%20');
    expect(problemInstance("/a/b;c=d/@e:f/!$&'()*+,=~")).toBe("/a/b;c=d/@e:f/!$&'()*+,=~");
  });

  it("encodes a stray %, non-ASCII as UTF-8, and a lone surrogate as U+FFFD (issue 8's /orders/%E0%A4%A)", () => {
    expect(problemInstance('/orders/%E0%A4%A')).toBe('/orders/%E0%A4%25A');
    expect(problemInstance('/100%')).toBe('/100%25');
    expect(problemInstance('/ü/😀')).toBe('/%C3%BC/%F0%9F%98%80');
    expect(problemInstance('/x\uD800y')).toBe('/x%EF%BF%BDy');
    expect(problemInstance('/\u0000\n')).toBe('/%00%0A');
  });

  it('escapes what would read as a host or a scheme', () => {
    expect(problemInstance('//evil.example/x')).toBe('/%2Fevil.example/x');
    expect(problemInstance('javascript:alert(1)')).toBe('javascript%3Aalert(1)');
    expect(problemInstance('a/b:c')).toBe('a/b:c');
  });

  it('cuts at the bound between escapes, never inside one', () => {
    const p = problemInstance(`/${'a'.repeat(1021)}%41%42`);
    expect(p).toBe(`/${'a'.repeat(1021)}`);
    expect(problemInstance('/ééé', 8)).toBe('/%C3%A9');
    expect(problemInstance('/😀', 12)).toBe('/');
  });

  it('always yields a valid relative reference within the bound (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 1500 }), (s) => {
        const out = problemInstance(`/${s}`);
        expect(out.length).toBeLessThanOrEqual(MAX_INSTANCE_LENGTH);
        expect(out).toMatch(RELATIVE_REF);
        expect(out.startsWith('//')).toBe(false);
        expect(() => decodeURI(out)).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });
});
