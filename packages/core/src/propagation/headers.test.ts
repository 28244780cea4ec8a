import { afterEach, describe, expect, it, vi } from 'vitest';
import { runWithContext } from '../context/context.js';
import { parseTraceparent } from '../context/trace.js';
import { isDeadlineExceededError } from '../errors/bulwark-error.js';
import { createHttpEngine } from '../http/engine.js';
import { DEFAULT_DEADLINE_MARGIN_MS, outgoingHeaders, resolvePropagation } from './headers.js';
import { testContext } from './testing.test-helper.js';

afterEach(() => vi.useRealTimers());

describe('outgoingHeaders', () => {
  it('is empty outside a request context', () => {
    expect(outgoingHeaders()).toEqual({});
  });

  it('carries the correlation ID, a child traceparent and the tracestate', () => {
    const h = runWithContext(testContext(), () => outgoingHeaders());
    expect(h).toEqual({
      'x-request-id': 'corr-123',
      traceparent: expect.stringMatching(/^00-a{32}-[0-9a-f]{16}-01$/),
      tracestate: 'vendor=x',
    });
    expect(h.traceparent).not.toContain('b'.repeat(16));
  });

  it('keeps the trace id of an incoming traceparent and sends a fresh parent id', async () => {
    const engine = createHttpEngine();
    const incoming = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`;
    const a = await engine.admit({
      method: 'GET',
      path: '/',
      headers: { traceparent: incoming, 'x-request-id': 'req-9' },
    });
    const h = engine.run(a, () => outgoingHeaders());
    const out = parseTraceparent(h.traceparent);
    expect(out?.traceId).toBe('1'.repeat(32));
    expect(out?.parentId).not.toBe('2'.repeat(16));
    // Each outgoing call is its own operation: a parent id of its own, not the service's span id.
    expect(out?.parentId).not.toBe(a.context.trace.spanId);
    expect(parseTraceparent(engine.run(a, () => outgoingHeaders()).traceparent)?.parentId).not.toBe(
      out?.parentId,
    );
    expect(h['x-request-id']).toBe('req-9');
    a.release();
  });

  it('sends the time left minus the margin, in whole ms', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const ctx = testContext({ deadline: 1_000_000 + 1000 });
    expect(runWithContext(ctx, () => outgoingHeaders())['x-deadline-ms']).toBe(
      String(1000 - DEFAULT_DEADLINE_MARGIN_MS),
    );
    expect(runWithContext(ctx, () => outgoingHeaders(undefined, { margin: '100ms' }))['x-deadline-ms']).toBe(
      '900',
    );
    vi.advanceTimersByTime(400);
    expect(outgoingHeaders(ctx, { margin: 0 })['x-deadline-ms']).toBe('600');
  });

  it('throws DEADLINE_EXCEEDED when the margin eats what is left', () => {
    vi.useFakeTimers({ now: 5_000 });
    const ctx = testContext({ deadline: 5_000 + 30 });
    expect(outgoingHeaders(ctx, { margin: 29 })['x-deadline-ms']).toBe('1');
    let err: unknown;
    try {
      outgoingHeaders(ctx, { margin: 30 });
    } catch (e) {
      err = e;
    }
    expect(isDeadlineExceededError(err)).toBe(true);
  });

  it('uses configured header names and rejects bad ones', () => {
    const ctx = testContext({ deadline: Date.now() + 10_000 });
    const h = outgoingHeaders(ctx, { correlationHeader: 'X-Correlation-Id', deadlineHeader: 'grpc-budget' });
    expect(Object.keys(h).sort()).toEqual(['grpc-budget', 'traceparent', 'tracestate', 'x-correlation-id']);
    expect(() => resolvePropagation({ correlationHeader: 'bad header' })).toThrow(/correlationHeader/);
    expect(() => resolvePropagation({ margin: 'soon' as never })).toThrow(/margin/);
  });

  it('omits tracestate when there is none', () => {
    const ctx = testContext();
    delete ctx.trace.tracestate;
    expect(outgoingHeaders(ctx)).not.toHaveProperty('tracestate');
  });
});
