import { describe, expect, it } from 'vitest';
import { acceptCorrelationId, correlationFromHeaders, newCorrelationId } from './correlation.js';

describe('acceptCorrelationId', () => {
  it.each([
    'abc',
    'a',
    '3f2b8c1e-0b7a-4c8e-9a51-7d1f4b0c2e9d',
    'svc:checkout/01HZY+abc=@x_y.z',
    'x'.repeat(128),
  ])('accepts %s', (v) => {
    expect(acceptCorrelationId(v)).toBe(v);
  });

  it.each([
    ['empty', ''],
    ['too long', 'x'.repeat(129)],
    ['space', 'a b'],
    ['CRLF injection', 'abc\r\nSet-Cookie: x=1'],
    ['quote', 'a"b'],
    ['angle brackets', '<script>'],
    ['non-ASCII', 'abcé'],
    ['tab', 'a\tb'],
    ['semicolon', 'a;b'],
    ['comma', 'a,b'],
  ])('rejects %s', (_name, v) => {
    expect(acceptCorrelationId(v)).toBeUndefined();
  });

  it.each([[undefined], [null], [42], [['abc']], [{}]])('rejects non-string %j', (v) => {
    expect(acceptCorrelationId(v)).toBeUndefined();
  });
});

describe('newCorrelationId', () => {
  it('is a fresh, acceptable UUID', () => {
    const a = newCorrelationId();
    const b = newCorrelationId();
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
    expect(acceptCorrelationId(a)).toBe(a);
  });
});

describe('correlationFromHeaders', () => {
  const names = ['x-request-id', 'x-correlation-id'];

  it('takes the first accepted header in order', () => {
    expect(correlationFromHeaders({ 'x-request-id': 'one', 'x-correlation-id': 'two' }, names)).toBe('one');
    expect(correlationFromHeaders({ 'x-correlation-id': 'two' }, names)).toBe('two');
  });

  it('skips an invalid value and falls through to the next header', () => {
    expect(correlationFromHeaders({ 'x-request-id': 'bad id', 'x-correlation-id': 'good' }, names)).toBe(
      'good',
    );
  });

  it('returns undefined when nothing valid is present', () => {
    expect(correlationFromHeaders({}, names)).toBeUndefined();
    expect(correlationFromHeaders({ 'x-request-id': 'bad\nid' }, names)).toBeUndefined();
    expect(correlationFromHeaders({ 'x-other': 'abc' }, names)).toBeUndefined();
  });

  it('takes only the first element of a repeated header, if valid', () => {
    expect(correlationFromHeaders({ 'x-request-id': ['first', 'second'] }, names)).toBe('first');
    expect(correlationFromHeaders({ 'x-request-id': ['bad id', 'second'] }, names)).toBeUndefined();
    expect(correlationFromHeaders({ 'x-request-id': [] }, names)).toBeUndefined();
  });
});
