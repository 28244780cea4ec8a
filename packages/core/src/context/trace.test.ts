import { describe, expect, it } from 'vitest';
import {
  acceptTracestate,
  childTraceparent,
  formatTraceparent,
  newSpanId,
  newTraceId,
  parseTraceparent,
  traceFromHeaders,
} from './trace.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${PARENT}-01`;

describe('parseTraceparent', () => {
  it('parses a version 00 header', () => {
    expect(parseTraceparent(VALID)).toEqual({ version: '00', traceId: TRACE, parentId: PARENT, flags: 1 });
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-00`)?.flags).toBe(0);
  });

  it('clears undefined flag bits, keeps sampled and random', () => {
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-ff`)?.flags).toBe(0x03);
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-02`)?.flags).toBe(0x02);
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-04`)?.flags).toBe(0);
  });

  it.each([
    ['all-zero trace id', `00-${'0'.repeat(32)}-${PARENT}-01`],
    ['all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['version ff', `ff-${TRACE}-${PARENT}-01`],
    ['uppercase hex', `00-${TRACE.toUpperCase()}-${PARENT}-01`],
    ['uppercase version', `0A-${TRACE}-${PARENT}-01`],
    ['short trace id', `00-${TRACE.slice(1)}-${PARENT}-01`],
    ['non-hex', `00-${TRACE.slice(1)}g-${PARENT}-01`],
    ['wrong separator', `00_${TRACE}-${PARENT}-01`],
    ['version 00 with trailing data', `${VALID}-extra`],
    ['version 00 with trailing space', `${VALID} `],
    ['empty', ''],
    ['huge', `01-${TRACE}-${PARENT}-01-${'a'.repeat(1000)}`],
  ])('rejects %s', (_name, v) => {
    expect(parseTraceparent(v)).toBeUndefined();
  });

  it.each([[undefined], [null], [1], [[VALID]]])('rejects non-string %j', (v) => {
    expect(parseTraceparent(v)).toBeUndefined();
  });

  it('parses a future version on its first 55 characters', () => {
    expect(parseTraceparent(`cc-${TRACE}-${PARENT}-01`)).toEqual({
      version: 'cc',
      traceId: TRACE,
      parentId: PARENT,
      flags: 1,
    });
    expect(parseTraceparent(`cc-${TRACE}-${PARENT}-01-what-the-future-holds`)?.traceId).toBe(TRACE);
  });

  it('rejects a future version whose extra data does not start with a dash', () => {
    expect(parseTraceparent(`cc-${TRACE}-${PARENT}-01.future`)).toBeUndefined();
  });
});

describe('acceptTracestate', () => {
  it('keeps a bounded printable value', () => {
    expect(acceptTracestate('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE')).toBe(
      'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
    );
    expect(acceptTracestate('x'.repeat(512))).toHaveLength(512);
  });
  it('joins repeated headers with a comma', () => {
    expect(acceptTracestate(['a=1', 'b=2'])).toBe('a=1,b=2');
  });
  it.each([
    ['too long', 'x'.repeat(513)],
    ['control character', 'a=1\r\nb=2'],
    ['non-ASCII', 'a=é'],
    ['empty', ''],
    ['not a string', 5],
    ['absent', undefined],
  ])('drops %s', (_n, v) => {
    expect(acceptTracestate(v)).toBeUndefined();
  });
});

describe('ids', () => {
  it('makes distinct non-zero lowercase hex ids of the right length', () => {
    const spans = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const s = newSpanId();
      expect(s).toMatch(/^[0-9a-f]{16}$/);
      expect(s).not.toBe('0'.repeat(16));
      spans.add(s);
    }
    expect(spans.size).toBe(1000);
    const t = newTraceId();
    expect(t).toMatch(/^[0-9a-f]{32}$/);
    expect(t).not.toBe(newTraceId());
  });
});

describe('traceFromHeaders', () => {
  it('continues a valid trace with a new span id and keeps tracestate', () => {
    const t = traceFromHeaders({ traceparent: VALID, tracestate: 'rojo=1' });
    expect(t.traceId).toBe(TRACE);
    expect(t.parentId).toBe(PARENT);
    expect(t.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(t.spanId).not.toBe(PARENT);
    expect(t.flags).toBe(1);
    expect(t.tracestate).toBe('rojo=1');
  });

  it('drops an invalid tracestate but still continues the trace', () => {
    const t = traceFromHeaders({ traceparent: VALID, tracestate: 'x'.repeat(600) });
    expect(t.traceId).toBe(TRACE);
    expect(t.tracestate).toBeUndefined();
  });

  it('starts a new unsampled trace when traceparent is malformed, dropping tracestate', () => {
    const t = traceFromHeaders({ traceparent: 'garbage', tracestate: 'rojo=1' });
    expect(t.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(t.traceId).not.toBe(TRACE);
    expect(t.parentId).toBeUndefined();
    expect(t.flags).toBe(0);
    expect(t.tracestate).toBeUndefined();
  });

  it('starts a new trace when traceparent is absent', () => {
    const t = traceFromHeaders({});
    expect(t.parentId).toBeUndefined();
    expect(t.flags).toBe(0);
  });

  it('accepts a single-element array and refuses several traceparents', () => {
    expect(traceFromHeaders({ traceparent: [VALID] }).traceId).toBe(TRACE);
    expect(traceFromHeaders({ traceparent: [VALID, VALID] }).traceId).not.toBe(TRACE);
  });
});

describe('formatting', () => {
  it('formats a version 00 header with two-digit flags', () => {
    expect(formatTraceparent(TRACE, PARENT, 1)).toBe(VALID);
    expect(formatTraceparent(TRACE, PARENT, 0x1f)).toBe(`00-${TRACE}-${PARENT}-1f`);
  });

  it('childTraceparent uses this service span as the parent, from a trace or a request context', () => {
    const trace = traceFromHeaders({ traceparent: VALID });
    const child = childTraceparent(trace);
    expect(child).toBe(`00-${TRACE}-${trace.spanId}-01`);
    expect(parseTraceparent(child)?.parentId).toBe(trace.spanId);
    expect(childTraceparent({ correlationId: 'c', trace, criticality: 'default', degraded: [] })).toBe(child);
  });
});
