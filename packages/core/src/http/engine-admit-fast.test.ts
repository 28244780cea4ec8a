import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHttpEngine } from './engine.js';
import type { Admission, InboundRequest } from './types.js';

function req(headers: InboundRequest['headers'] = {}, extra: Partial<InboundRequest> = {}): InboundRequest {
  return { method: 'GET', path: '/orders/1', headers, ...extra };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('admit with a bulkhead', () => {
  it('stays synchronous while a slot is free and returns a promise only when it must queue', async () => {
    const e = createHttpEngine({ bulkhead: { maxConcurrent: 1, maxQueue: 1 } });
    const a = e.admit(req());
    expect(a).not.toBeInstanceOf(Promise);
    expect((a as Admission).rejection).toBeUndefined();
    const queued = e.admit(req());
    expect(queued).toBeInstanceOf(Promise);
    (a as Admission).release();
    await vi.advanceTimersByTimeAsync(0);
    const b = await queued;
    expect(b.rejection).toBeUndefined();
    b.release();
    expect(e.admit(req())).not.toBeInstanceOf(Promise);
    e.close();
  });

  it('gives up the queue place at once when the client disconnects (req.signal), with no deadline', async () => {
    const e = createHttpEngine({ bulkhead: { maxConcurrent: 1, maxQueue: 1, queueTimeout: '10s' } });
    const first = await e.admit(req());
    const client = new AbortController();
    const left = e.admit(req({}, { signal: client.signal }));
    client.abort();
    const b = await left;
    expect(b.rejection?.body?.code).toBe('CANCELLED');
    // Its place is free again: the next request queues instead of being rejected as full.
    const next = e.admit(req());
    first.release();
    await vi.advanceTimersByTimeAsync(0);
    expect((await next).rejection).toBeUndefined();
    e.close();
  });

  it('listens to both the client and the deadline while queued', async () => {
    const e = createHttpEngine({ bulkhead: { maxConcurrent: 1, maxQueue: 2, queueTimeout: '10s' } });
    await e.admit(req());
    const client = new AbortController();
    const byDeadline = e.admit(req({ 'x-deadline-ms': '50' }, { signal: client.signal }));
    const other = new AbortController();
    const byClient = e.admit(req({ 'x-deadline-ms': '5000' }, { signal: other.signal }));
    other.abort();
    expect((await byClient).rejection?.body?.code).toBe('CANCELLED');
    await vi.advanceTimersByTimeAsync(50);
    expect((await byDeadline).rejection?.body?.code).toBe('DEADLINE_EXCEEDED');
    e.close();
  });

  it('gives a client that already left an aborted signal (the adapter releases at once)', async () => {
    const e = createHttpEngine({ bulkhead: { maxConcurrent: 1 } });
    const client = new AbortController();
    client.abort();
    const a = await e.admit(req({}, { signal: client.signal }));
    expect(a.signal.aborted).toBe(true);
    a.release();
    expect((await e.admit(req())).rejection).toBeUndefined();
    e.close();
  });
});

describe('request context serialization', () => {
  it('JSON.stringify(context) works and carries no headers', async () => {
    const e = createHttpEngine({ bulkhead: { maxConcurrent: 1 } });
    const a = await e.admit(
      req({ authorization: 'Bearer secret-token', 'x-request-id': 'corr-1', 'x-deadline-ms': '1000' }),
    );
    void a.context.trace; // parsed lazily: must not add headers either
    void a.signal;
    const json = JSON.stringify(a.context);
    const parsed = JSON.parse(json) as Record<string, unknown>;
    expect(parsed.correlationId).toBe('corr-1');
    expect(parsed.criticality).toBe('default');
    expect(json).not.toContain('secret-token');
    expect(json).not.toContain('headers');
    expect(json).not.toContain('authorization');
    a.release();
    e.close();
  });
});
