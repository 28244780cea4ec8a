import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { getContext, markDegraded } from '../context/context.js';
import { isCancelledError, isDeadlineExceededError } from '../errors/bulwark-error.js';
import { MemoryStore } from '../stores/memory-store.js';
import type { Store } from '../stores/store.js';
import { EventStream } from '../telemetry/events.js';
import { createHttpEngine } from './engine.js';
import type { Admission, InboundRequest } from './types.js';

/** An admission's flat header pairs as a record. */
function rec(a: Admission): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < a.headers.length; i += 2) out[a.headers[i] as string] = a.headers[i + 1] as string;
  return out;
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

function req(headers: InboundRequest['headers'] = {}, extra: Partial<InboundRequest> = {}): InboundRequest {
  return { method: 'GET', path: '/orders/1', headers, ...extra };
}

/** Resolves a pending admit under fake timers. */
async function settle<T>(p: T | Promise<T>): Promise<T> {
  await vi.advanceTimersByTimeAsync(0);
  return p;
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('admit: context', () => {
  it('takes a valid correlation ID and continues the trace', async () => {
    const a = await createHttpEngine().admit(
      req({ 'x-correlation-id': 'abc-123', traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'k=v' }),
    );
    expect(a.context.correlationId).toBe('abc-123');
    expect(a.context.trace.traceId).toBe(TRACE);
    expect(a.context.trace.parentId).toBe(PARENT);
    expect(a.context.trace.tracestate).toBe('k=v');
    expect(a.context.criticality).toBe('default');
    expect(a.context.degraded).toEqual([]);
    expect(a.context.deadline).toBeUndefined();
    expect(a.rejection).toBeUndefined();
    expect(rec(a)).toEqual({ 'x-request-id': 'abc-123' });
  });

  it('replaces an invalid correlation ID instead of echoing it', async () => {
    const a = await createHttpEngine().admit(req({ 'x-request-id': 'evil\r\nSet-Cookie: a=b' }));
    expect(a.context.correlationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(rec(a)['x-request-id']).toBe(a.context.correlationId);
  });

  it('uses the configured correlation headers', async () => {
    const e = createHttpEngine({ correlation: { header: 'X-Trace', accept: ['x-in'] } });
    const a = await e.admit(req({ 'x-in': 'from-caller', 'x-request-id': 'ignored' }));
    expect(rec(a)).toEqual({ 'x-trace': 'from-caller' });
    expect(e.correlationHeader).toBe('x-trace');
  });

  it('starts a new trace on a malformed traceparent', async () => {
    const a = await createHttpEngine().admit(req({ traceparent: `00-${TRACE}-${PARENT}-1` }));
    expect(a.context.trace.traceId).not.toBe(TRACE);
    expect(a.context.trace.flags).toBe(0x02); // random trace id, not sampled
  });

  it('parses the trace once, on first read, and lets a tracer replace it', async () => {
    const headers: InboundRequest['headers'] = { traceparent: `00-${TRACE}-${PARENT}-01` };
    const a = await createHttpEngine().admit(req(headers));
    headers.traceparent = undefined; // proves the parse happens on first read, not at admit
    const first = a.context.trace;
    expect(first.traceId).not.toBe(TRACE);
    expect(a.context.trace).toBe(first);
    const own = { traceId: TRACE, spanId: PARENT, flags: 1 };
    a.context.trace = own;
    expect(a.context.trace).toBe(own);
  });

  it('adds traceresponse only when asked', async () => {
    const a = await createHttpEngine({ traceResponse: true }).admit(
      req({ traceparent: `00-${TRACE}-${PARENT}-01` }),
    );
    expect(rec(a).traceresponse).toBe(`00-${TRACE}-${a.context.trace.spanId}-01`);
    expect((await createHttpEngine().admit(req())).headers).not.toHaveProperty('traceresponse');
  });

  it('reads criticality from its header only when trusted, and only when valid', async () => {
    // Untrusted (the default): any client could claim to be critical.
    const untrusted = createHttpEngine();
    expect((await untrusted.admit(req({ 'bulwark-criticality': 'critical' }))).context.criticality).toBe(
      'default',
    );
    const e = createHttpEngine({ trustCriticalityHeader: true });
    expect((await e.admit(req({ 'bulwark-criticality': 'critical' }))).context.criticality).toBe('critical');
    expect((await e.admit(req({ 'bulwark-criticality': 'sheddable' }))).context.criticality).toBe(
      'sheddable',
    );
    expect((await e.admit(req({ 'bulwark-criticality': 'vip' }))).context.criticality).toBe('default');
    const custom = createHttpEngine({ criticalityHeader: 'x-prio', trustCriticalityHeader: true });
    expect((await custom.admit(req({ 'x-prio': 'critical' }))).context.criticality).toBe('critical');
  });

  it("takes criticality from the app's rule when no trusted header says otherwise; a bad answer is default", async () => {
    const e = createHttpEngine({
      trustCriticalityHeader: true,
      criticality: (r) =>
        r.path === '/reports' ? 'sheddable' : r.path === '/bad' ? ('vip' as never) : undefined,
    });
    expect((await e.admit(req({}, { path: '/reports' }))).context.criticality).toBe('sheddable');
    expect(
      (await e.admit(req({ 'bulwark-criticality': 'critical' }, { path: '/reports' }))).context.criticality,
    ).toBe('critical');
    expect((await e.admit(req({}, { path: '/bad' }))).context.criticality).toBe('default');
    const throwing = createHttpEngine({
      criticality: () => {
        throw new Error('bug');
      },
    });
    expect((await throwing.admit(req())).context.criticality).toBe('default');
  });

  it('admitFast returns the admission synchronously when nothing waits', () => {
    const a = createHttpEngine({ rateLimit: { limit: 10 } }).admit(req());
    expect(a).not.toBeInstanceOf(Promise);
    expect((a as Admission).context.correlationId).toBeTruthy();
  });

  it('falls back to the route key when a key function throws (a buggy key function still limits)', async () => {
    const e = createHttpEngine({
      rateLimit: {
        limit: 1,
        key: () => {
          throw new Error('bad key fn');
        },
      },
    });
    expect((await e.admit(req({}, { routeKey: 'GET /orders/:id' }))).rejection).toBeUndefined();
    expect((await e.admit(req({}, { routeKey: 'GET /orders/:id' }))).rejection?.status).toBe(429);
    expect((await e.admit(req({}, { routeKey: 'GET /other' }))).rejection).toBeUndefined();
  });
});

describe('admit: deadline', () => {
  it('sets an absolute deadline from the header', async () => {
    const a = await createHttpEngine().admit(req({ 'x-deadline-ms': '1500' }));
    expect(a.context.deadline).toBe(1_001_500);
  });

  it('bounds the deadline by max', async () => {
    const a = await createHttpEngine({ deadline: { max: '1s' } }).admit(req({ 'x-deadline-ms': '60000' }));
    expect(a.context.deadline).toBe(1_001_000);
  });

  it('uses the default when absent or garbage, and none otherwise', async () => {
    const e = createHttpEngine({ deadline: { default: 200 } });
    expect((await e.admit(req())).context.deadline).toBe(1_000_200);
    expect((await e.admit(req({ 'x-deadline-ms': 'soon' }))).context.deadline).toBe(1_000_200);
    expect(
      (await createHttpEngine().admit(req({ 'x-deadline-ms': '1e9' }))).context.deadline,
    ).toBeUndefined();
  });

  it.each([
    ['0', false],
    ['-5', false],
    ['0', true],
  ])('rejects a spent deadline (%s, bulkhead %s) at once with 504', async (v, withBulkhead) => {
    const e = createHttpEngine(withBulkhead ? { bulkhead: { maxConcurrent: 1 } } : {});
    const a = e.admit(req({ 'x-deadline-ms': v })) as Admission;
    expect(a).not.toBeInstanceOf(Promise);
    expect(a.rejection?.status).toBe(504);
    expect(a.rejection?.body?.code).toBe('DEADLINE_EXCEEDED');
    expect(a.rejection?.headers['x-request-id']).toBe(a.context.correlationId);
  });

  it('aborts the signal with DeadlineExceededError when the deadline passes', async () => {
    const events = new EventStream();
    const seen = vi.fn();
    events.on('timeout', seen);
    const a = await createHttpEngine({ events }).admit(req({ 'x-deadline-ms': '100' }));
    const signal = a.signal;
    await vi.advanceTimersByTimeAsync(99);
    expect(signal.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(signal.aborted).toBe(true);
    expect(isDeadlineExceededError(signal.reason)).toBe(true);
    expect(a.context.signal).toBe(signal);
    expect(seen).toHaveBeenCalledWith(
      expect.objectContaining({ kind: 'deadline', timeoutMs: 100, policy: 'http' }),
    );
  });

  it('aborts at once when the signal is first read after the deadline passed', async () => {
    const a = await createHttpEngine().admit(req({ 'x-deadline-ms': '50' }));
    await vi.advanceTimersByTimeAsync(60);
    expect(isDeadlineExceededError(a.signal.reason)).toBe(true);
  });

  it('release clears the deadline timer', async () => {
    const a = await createHttpEngine().admit(req({ 'x-deadline-ms': '100' }));
    const signal = a.signal;
    expect(vi.getTimerCount()).toBe(1);
    a.release();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(signal.aborted).toBe(false);
  });

  it('creates no timer when nobody reads the signal', async () => {
    const a = await createHttpEngine().admit(req({ 'x-deadline-ms': '100' }));
    expect(vi.getTimerCount()).toBe(0);
    a.release();
  });
});

describe('admit: rate limit', () => {
  it('adds RateLimit headers to allowed requests and answers 429 when exceeded, t = Retry-After', async () => {
    const e = createHttpEngine({ rateLimit: { limit: 2, interval: '1s' } });
    const first = await e.admit(req());
    expect(first.rejection).toBeUndefined();
    // t: seconds until at least one more request is allowed (a token is left: now).
    expect(rec(first)).toMatchObject({
      RateLimit: '"default";r=1;t=0',
      'RateLimit-Policy': '"default";q=2;w=1',
    });
    const second = await e.admit(req());
    expect(rec(second).RateLimit).toBe('"default";r=0;t=1'); // the next token in 500 ms
    const third = await e.admit(req());
    const r = third.rejection;
    expect(r?.status).toBe(429);
    expect(r?.body?.code).toBe('RATE_LIMITED');
    expect(r?.headers['Retry-After']).toBe('1');
    expect(r?.headers.RateLimit).toBe('"default";r=0;t=1');
    expect(r?.headers['RateLimit-Policy']).toBe('"default";q=2;w=1');
    expect(r?.headers['Content-Type']).toBe('application/problem+json');
  });

  it('t equals Retry-After on a 429 for a slow refill (not the time to a full bucket)', async () => {
    const e = createHttpEngine({ rateLimit: { limit: 10, interval: '40s' } });
    for (let i = 0; i < 10; i++) await e.admit(req());
    const r = (await e.admit(req())).rejection;
    expect(r?.headers['Retry-After']).toBe('4');
    expect(r?.headers.RateLimit).toBe('"default";r=0;t=4');
  });

  it('sends draft-6 headers when asked, and none with headers: false', async () => {
    const six = createHttpEngine({ rateLimit: { limit: 5, interval: '1m', headers: 'draft-6' } });
    expect(rec(await six.admit(req()))).toMatchObject({
      'RateLimit-Policy': '5;w=60',
      'RateLimit-Limit': '5',
      'RateLimit-Remaining': '4',
      'RateLimit-Reset': '0',
    });
    const none = createHttpEngine({ rateLimit: { limit: 5, headers: false } });
    expect(Object.keys(rec(await none.admit(req())))).toEqual(['x-request-id']);
  });

  it('keys by client address by default, IPv6 grouped by /56, and names the kind of key, never its value', async () => {
    const e = createHttpEngine({ rateLimit: { limit: 1, interval: '1m' } });
    const ip = (remoteAddress: string) => e.admit(req({}, { remoteAddress }));
    expect((await ip('203.0.113.7')).rejection).toBeUndefined();
    const limited = (await ip('203.0.113.7')).rejection;
    expect(limited?.status).toBe(429);
    expect(limited?.body?.detail).toBe('Rate limit of 1 per minute exceeded for this client IP.');
    expect(JSON.stringify(limited)).not.toContain('203.0.113.7');
    expect((await ip('203.0.113.8')).rejection).toBeUndefined();
    // ::ffff:a.b.c.d is the same IPv4 client.
    expect((await ip('::ffff:203.0.113.8')).rejection?.status).toBe(429);
    // One /56: rotating the low bits does not give a fresh bucket.
    expect((await ip('2001:db8:abcd:1200::1')).rejection).toBeUndefined();
    expect((await ip('2001:db8:abcd:12ff:ffff:ffff:ffff:ffff')).rejection?.status).toBe(429);
    expect((await ip('2001:db8:abcd:1300::1')).rejection).toBeUndefined();
    const whole = createHttpEngine({ rateLimit: { limit: 1, ipv6Subnet: false } });
    await whole.admit(req({}, { remoteAddress: '2001:db8::1' }));
    expect((await whole.admit(req({}, { remoteAddress: '2001:db8::2' }))).rejection).toBeUndefined();
  });

  it("keys by route, globally or by the key function; 'route' and 'global' send no RateLimit headers unless asked", async () => {
    const byRoute = createHttpEngine({ rateLimit: { limit: 1, key: 'route' } });
    const at = (routeKey: string | undefined, path: string) => byRoute.admit(req({}, { routeKey, path }));
    expect((await at('GET /orders/:id', '/orders/1')).rejection).toBeUndefined();
    expect((await at('GET /orders/:id', '/orders/2')).rejection?.status).toBe(429);
    expect((await at('GET /orders', '/orders')).rejection).toBeUndefined();
    // No route pattern: one engine-wide key, whatever the path.
    const first = await at(undefined, '/a');
    expect(rec(first).RateLimit).toBeUndefined();
    expect((await at(undefined, '/b')).rejection?.body?.detail).toMatch(/for this route\.$/);

    const global = createHttpEngine({ rateLimit: { limit: 1, key: 'global', headers: 'draft-8' } });
    expect(rec(await global.admit(req({}, { remoteAddress: '1.1.1.1' }))).RateLimit).toBeDefined();
    expect((await global.admit(req({}, { remoteAddress: '2.2.2.2' }))).rejection?.status).toBe(429);

    const byTenant = createHttpEngine({
      rateLimit: { limit: 1, key: (r) => String(r.headers['x-tenant']), keyKind: 'tenant' },
    });
    const tenant = (t: string) => byTenant.admit(req({ 'x-tenant': t }));
    expect((await tenant('acme')).rejection).toBeUndefined();
    const refused = (await tenant('acme')).rejection;
    expect(refused?.body?.detail).toMatch(/for this tenant\.$/);
    expect(JSON.stringify(refused)).not.toContain('acme');
    expect((await tenant('globex')).rejection).toBeUndefined();
  });

  it('skip(request) leaves a request uncounted; a throwing skip counts it', async () => {
    const e = createHttpEngine({
      rateLimit: {
        limit: 1,
        skip: (r) => {
          if (r.headers['x-boom']) throw new Error('bug');
          return r.headers['x-internal'] === 'yes';
        },
      },
    });
    for (let i = 0; i < 3; i++)
      expect((await e.admit(req({ 'x-internal': 'yes' }))).rejection).toBeUndefined();
    expect((await e.admit(req({ 'x-boom': '1' }))).rejection).toBeUndefined();
    expect((await e.admit(req())).rejection?.status).toBe(429);
  });

  it('exempts /livez, /readyz and /health from the rate limit and the bulkhead (configurable)', async () => {
    const e = createHttpEngine({ rateLimit: { limit: 1 }, bulkhead: { maxConcurrent: 1, maxQueue: 0 } });
    const held = await e.admit(req({}, { path: '/work' }));
    expect(held.rejection).toBeUndefined();
    // The probes are the engine's own answers (200), never refused; with `health: false` they pass
    // to the app, still exempt.
    for (const path of ['/livez', '/readyz', '/health', '/health'])
      expect((await e.admit(req({}, { path }))).rejection?.status).toBe(200);
    const passing = createHttpEngine({ rateLimit: { limit: 1 }, health: false });
    for (const path of ['/livez', '/readyz', '/health', '/health'])
      expect((await passing.admit(req({}, { path }))).rejection).toBeUndefined();
    expect((await e.admit(req({}, { path: '/work' }))).rejection?.status).toBe(429);
    const own = createHttpEngine({ rateLimit: { limit: 1 }, exempt: ['/ping'], health: false });
    await own.admit(req({}, { path: '/ping' }));
    await own.admit(req({}, { path: '/health' }));
    expect((await own.admit(req({}, { path: '/health' }))).rejection?.status).toBe(429);
    held.release();
  });

  it('keeps its buckets bounded: a client rotating IPv6 /56 prefixes evicts old buckets (maxKeys)', async () => {
    const e = createHttpEngine({ rateLimit: { limit: 1, maxKeys: 100 } });
    const first = '2001:db8:0:0::1';
    await e.admit(req({}, { remoteAddress: first }));
    for (let i = 1; i <= 1000; i++)
      await e.admit(req({}, { remoteAddress: `2001:db8:${i.toString(16)}:0::1` }));
    // The first bucket was evicted long ago: a fresh one admits.
    expect((await e.admit(req({}, { remoteAddress: first }))).rejection).toBeUndefined();
  });

  it("reports a rate-limit rejection with the request's correlation ID", async () => {
    const events = new EventStream();
    const seen: (string | undefined)[] = [];
    events.on('rate-limit.rejected', (e) => seen.push(e.correlationId));
    const e = createHttpEngine({ rateLimit: { limit: 1 }, events });
    await e.admit(req({ 'x-request-id': 'first' }));
    expect((await e.admit(req({ 'x-request-id': 'second' }))).rejection?.status).toBe(429);
    expect(seen).toEqual(['second']);
  });

  it('falls back to the route key when the key function returns a non-string', async () => {
    const e = createHttpEngine({ rateLimit: { limit: 1, key: () => 42 as unknown as string } });
    await e.admit(req({}, { routeKey: 'GET /orders/:id' }));
    expect((await e.admit(req({}, { routeKey: 'GET /orders/:id' }))).rejection?.status).toBe(429);
    expect((await e.admit(req({}, { routeKey: 'GET /other' }))).rejection).toBeUndefined();
  });

  it('shares the default key across distinct paths when no route pattern is known (no bypass by varying the URL)', async () => {
    const bh = createHttpEngine({ bulkhead: { maxConcurrent: 1, maxQueue: 0 } });
    const admitted: Admission[] = [];
    let shed = 0;
    for (let i = 0; i < 500; i++) {
      const a = await bh.admit(req({}, { path: `/users/${i}` }));
      if (a.rejection === undefined) admitted.push(a);
      else if (a.rejection.status === 503) shed++;
    }
    expect(admitted).toHaveLength(1);
    expect(shed).toBe(499);
    for (const a of admitted) a.release();
    bh.close();

    const rl = createHttpEngine({ rateLimit: { limit: 2 } });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const a = await rl.admit(req({}, { method: i % 2 ? 'POST' : 'GET', path: `/p/${i}` }));
      statuses.push(a.rejection?.status ?? 200);
    }
    expect(statuses).toEqual([200, 200, 429, 429, 429]);
    rl.close();
  });

  it('uses the async take when a store is configured', async () => {
    let count = 0;
    const store = Object.assign(Object.create(new MemoryStore()) as Store, {
      increment: async () => ++count,
    });
    const e = createHttpEngine({ rateLimit: { limit: 1, store } });
    const p = e.admit(req());
    expect(p).toBeInstanceOf(Promise);
    expect((await p).rejection).toBeUndefined();
    expect((await e.admit(req())).rejection?.status).toBe(429);
  });
});

describe('admit: bulkhead', () => {
  it('holds a slot until release, then admits the next one', async () => {
    const e = createHttpEngine({ bulkhead: { maxConcurrent: 1 } });
    const a = await e.admit(req());
    expect(a.rejection).toBeUndefined();
    const b = await e.admit(req());
    expect(b.rejection?.status).toBe(503);
    expect(b.rejection?.body?.code).toBe('BULKHEAD_FULL');
    expect(b.rejection?.headers['Retry-After']).toMatch(/^\d+$/);
    a.release();
    a.release(); // idempotent: must not free a second slot
    const c = await e.admit(req());
    expect(c.rejection).toBeUndefined();
    expect((await e.admit(req())).rejection?.status).toBe(503);
  });

  it('rejects with 503 QUEUE_TIMEOUT when queued too long', async () => {
    const e = createHttpEngine({ bulkhead: { maxConcurrent: 1, maxQueue: 1, queueTimeout: 100 } });
    await e.admit(req());
    const p = e.admit(req());
    await vi.advanceTimersByTimeAsync(100);
    const b = await p;
    expect(b.rejection?.status).toBe(503);
    expect(b.rejection?.body?.code).toBe('QUEUE_TIMEOUT');
    expect(b.rejection?.headers['Retry-After']).toBeDefined();
  });

  it('admits from the queue when a slot frees', async () => {
    const e = createHttpEngine({ bulkhead: { maxConcurrent: 1, maxQueue: 1, queueTimeout: 1000 } });
    const a = await e.admit(req());
    const p = e.admit(req());
    a.release();
    expect((await settle(p)).rejection).toBeUndefined();
  });

  it('a deadline that passes in the queue rejects with 504', async () => {
    const e = createHttpEngine({ bulkhead: { maxConcurrent: 1, maxQueue: 1, queueTimeout: '10s' } });
    await e.admit(req());
    const p = e.admit(req({ 'x-deadline-ms': '50' }));
    await vi.advanceTimersByTimeAsync(50);
    const b = await p;
    expect(b.rejection?.status).toBe(504);
    expect(b.rejection?.body?.code).toBe('DEADLINE_EXCEEDED');
  });

  it('keys the bulkhead with the key option', async () => {
    const e = createHttpEngine({ bulkhead: { maxConcurrent: 1, key: (r) => String(r.headers.tenant) } });
    await e.admit(req({ tenant: 'a' }));
    expect((await e.admit(req({ tenant: 'b' }))).rejection).toBeUndefined();
    expect((await e.admit(req({ tenant: 'a' }))).rejection?.status).toBe(503);
  });

  it('checks the rate limit before taking a bulkhead slot', async () => {
    const e = createHttpEngine({
      rateLimit: { limit: 1, key: (r) => r.path },
      bulkhead: { maxConcurrent: 1 },
    });
    const a = await e.admit(req());
    const b = await e.admit(req());
    expect(b.rejection?.status).toBe(429);
    a.release();
    expect((await e.admit(req({}, { path: '/other' }))).rejection).toBeUndefined();
  });

  it('close() rejects queued requests', async () => {
    const e = createHttpEngine({ bulkhead: { maxConcurrent: 1, maxQueue: 1 } });
    await e.admit(req());
    const p = e.admit(req());
    e.close();
    expect((await p).rejection?.body?.code).toBe('CANCELLED');
  });
});

describe('abort and release', () => {
  it('a client leaving aborts the signal with a CancelledError', async () => {
    const client = new AbortController();
    const a = await createHttpEngine().admit(req({}, { signal: client.signal }));
    const signal = a.signal;
    client.abort('socket closed');
    expect(signal.aborted).toBe(true);
    expect(isCancelledError(signal.reason)).toBe(true);
  });

  it('a client that left before the signal is read still gets an aborted signal, and no timer', async () => {
    const client = new AbortController();
    const a = await createHttpEngine().admit(req({ 'x-deadline-ms': '100' }, { signal: client.signal }));
    client.abort();
    expect(a.signal.aborted).toBe(true);
    expect(isCancelledError(a.signal.reason)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a client leaving clears the deadline timer', async () => {
    const client = new AbortController();
    const a = await createHttpEngine().admit(req({ 'x-deadline-ms': '100' }, { signal: client.signal }));
    void a.signal;
    client.abort();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('release() stops listening to the client signal', async () => {
    const client = new AbortController();
    const a = await createHttpEngine().admit(req({}, { signal: client.signal }));
    const signal = a.signal;
    a.release();
    client.abort();
    expect(signal.aborted).toBe(false);
  });

  it('release() does not abort the signal', async () => {
    const a = await createHttpEngine().admit(req());
    a.release();
    expect(a.signal.aborted).toBe(false);
  });
});

describe('run and degraded', () => {
  it('runs inside the request context', async () => {
    const e = createHttpEngine();
    const a = await e.admit(req());
    expect(getContext()).toBeUndefined();
    expect(e.run(a, () => getContext())).toBe(a.context);
  });

  it('sets the degraded header through setHeader as soon as the answer is marked', async () => {
    const setHeader = vi.fn();
    const e = createHttpEngine({ degradedHeader: 'X-Degraded' });
    const a = await e.admit(req({}, { setHeader }));
    e.run(a, () => {
      markDegraded('fallback');
      markDegraded('stale');
    });
    expect(setHeader).toHaveBeenLastCalledWith('x-degraded', 'fallback, stale');
    expect(e.degradedHeader).toBe('x-degraded');
  });

  it('survives a setHeader that throws (headers already sent)', async () => {
    const e = createHttpEngine();
    const a = await e.admit(
      req(
        {},
        {
          setHeader: () => {
            throw new Error('ERR_HTTP_HEADERS_SENT');
          },
        },
      ),
    );
    expect(() => e.run(a, () => markDegraded('late'))).not.toThrow();
    expect(a.context.degraded).toEqual(['late']);
  });

  it('lets an adapter install its own onDegraded hook', async () => {
    const e = createHttpEngine();
    const a = await e.admit(req());
    const hook = vi.fn();
    a.context.onDegraded = hook;
    e.run(a, () => markDegraded('x'));
    expect(hook).toHaveBeenCalledWith(['x']);
  });
});
