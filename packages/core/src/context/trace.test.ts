import { describe, expect, it } from 'vitest';
import {
  childTraceparent,
  formatTraceparent,
  NEW_TRACE_FLAGS,
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
    const t = traceFromHeaders({ traceparent: VALID, tracestate: 'FOO=1' });
    expect(t.traceId).toBe(TRACE);
    expect(t.tracestate).toBeUndefined();
  });

  it('starts a new unsampled trace with the random flag when traceparent is malformed, dropping tracestate', () => {
    const t = traceFromHeaders({ traceparent: 'garbage', tracestate: 'rojo=1' });
    expect(t.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(t.traceId).not.toBe(TRACE);
    expect(t.parentId).toBeUndefined();
    // Level 2: the trace id is random, so the random flag (0x02) is set; not sampled (0x01 clear).
    expect(t.flags).toBe(0x02);
    expect(t.tracestate).toBeUndefined();
  });

  it('starts a new trace when traceparent is absent', () => {
    const t = traceFromHeaders({});
    expect(t.parentId).toBeUndefined();
    expect(t.flags).toBe(NEW_TRACE_FLAGS);
    expect(formatTraceparent(t.traceId, t.spanId, t.flags)).toMatch(/-02$/);
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

  it('childTraceparent keeps trace id and flags and gives every outgoing call its own parent id', () => {
    const trace = traceFromHeaders({ traceparent: VALID });
    const parents = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const child = parseTraceparent(childTraceparent(trace));
      expect(child?.traceId).toBe(TRACE);
      expect(child?.flags).toBe(1);
      expect(child?.parentId).not.toBe(PARENT);
      parents.add(child?.parentId ?? '');
    }
    expect(parents.size).toBe(100);
    const ctx = { correlationId: 'c', trace, criticality: 'default' as const, degraded: [] };
    expect(parseTraceparent(childTraceparent(ctx))?.traceId).toBe(TRACE);
  });

  it('keeps the random flag of a continued trace on outgoing calls, and leaves it unset when it was', () => {
    const random = traceFromHeaders({ traceparent: `00-${TRACE}-${PARENT}-02` });
    expect(childTraceparent(random)).toMatch(/-02$/);
    const plain = traceFromHeaders({ traceparent: `00-${TRACE}-${PARENT}-00` });
    expect(childTraceparent(plain)).toMatch(/-00$/);
  });
});
