import { afterEach, describe, expect, it, vi } from 'vitest';
import { getContext } from '../context/context.js';
import { InvalidConfigError } from '../errors/bulwark-error.js';
import { type BulwarkEvent, EventStream } from '../telemetry/events.js';
import { createHttpEngine, type HttpEngine } from './engine.js';
import { type OverloadOptions, resolveOverloadOptions } from './overload.js';
import { PressureMonitor } from './pressure.js';
import type { Admission, InboundRequest } from './types.js';

function req(path = '/hello', headers: InboundRequest['headers'] = {}): InboundRequest {
  return { method: 'GET', path, headers };
}

const engines: HttpEngine[] = [];
function engine(overload: OverloadOptions, extra: Record<string, unknown> = {}): HttpEngine {
  const e = createHttpEngine({ production: true, overload, ...extra });
  engines.push(e);
  return e;
}

afterEach(() => {
  for (const e of engines.splice(0)) e.close();
  vi.useRealTimers();
});

describe('http.overload options', () => {
  it('defaults every limit off, the queue to none, sampling to 250 ms, Retry-After to 5 s', () => {
    expect(resolveOverloadOptions({})).toEqual({
      maxConcurrent: undefined,
      maxQueue: 0,
      queueTimeoutMs: 500,
      maxEventLoopDelayMs: undefined,
      maxHeapUsedBytes: undefined,
      maxRssBytes: undefined,
      sampleIntervalMs: 250,
      retryAfterMs: 5000,
      pressureShares: [0.5, 1],
      criticality: undefined,
      maxSharePerCaller: undefined,
    });
    expect(resolveOverloadOptions({ maxEventLoopDelay: '200ms', maxRssBytes: false })).toMatchObject({
      maxEventLoopDelayMs: 200,
      maxRssBytes: undefined,
    });
  });

  it('names the bad key, the value and the fix', () => {
    let err: unknown;
    try {
      createHttpEngine({ overload: { maxConcurrent: 0, maxLag: '200ms' } as never });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidConfigError);
    const text = (err as Error).message;
    expect(text).toContain('http.overload.maxConcurrent: expected a positive integer, got 0');
    expect(text).toContain(
      'http.overload.maxLag: expected a known key, got unknown key "maxLag" (fix: did you mean \'maxEventLoopDelay\'?)',
    );
  });

  it('builds nothing when no limit is set', () => {
    expect(engine({}).overloadStats()).toBeUndefined();
    expect(engine(false as never).overloadStats()).toBeUndefined();
  });
});

describe('the engine-wide concurrency limit', () => {
  it('refuses the request over the limit with 503 OVERLOADED and Retry-After, before any work', async () => {
    const e = engine({ maxConcurrent: 2 });
    const a1 = (await e.admit(req())) as Admission;
    const a2 = (await e.admit(req('/other'))) as Admission;
    expect(a1.rejection).toBeUndefined();
    expect(a2.rejection).toBeUndefined();
    const a3 = (await e.admit(req())) as Admission;
    expect(a3.rejection?.status).toBe(503);
    expect(a3.rejection?.body?.code).toBe('OVERLOADED');
    expect(a3.rejection?.headers['Retry-After']).toBe('1');
    expect(e.overloadStats()).toMatchObject({ inFlight: 2, queued: 0, maxConcurrent: 2 });
    a3.release();
    a1.release();
    expect(((await e.admit(req())) as Admission).rejection).toBeUndefined();
    a2.release();
  });

  it('never refuses the exempt probes, and they take no slot', async () => {
    const e = engine({ maxConcurrent: 1 });
    const held = (await e.admit(req())) as Admission;
    // Answered by the engine itself (200), never refused.
    for (const path of ['/livez', '/readyz', '/health'])
      expect(((await e.admit(req(path))) as Admission).rejection?.status).toBe(200);
    expect(e.overloadStats()?.inFlight).toBe(1);
    held.release();
  });

  it('queues up to maxQueue and hands the slot over on release; a wait past queueTimeout is refused', async () => {
    vi.useFakeTimers();
    const e = engine({ maxConcurrent: 1, maxQueue: 1, queueTimeout: '100ms' });
    const held = (await e.admit(req())) as Admission;
    const waiting = e.admit(req());
    expect(waiting).toBeInstanceOf(Promise);
    // The queue is full: refused at once.
    expect(((await e.admit(req())) as Admission).rejection?.body?.code).toBe('OVERLOADED');
    held.release();
    const got = await waiting;
    expect(got.rejection).toBeUndefined();
    const late = e.admit(req());
    await vi.advanceTimersByTimeAsync(101);
    const refused = await late;
    expect(refused.rejection?.body?.code).toBe('OVERLOADED');
    expect(refused.rejection?.body?.detail).toContain('waited too long');
    got.release();
    expect(e.overloadStats()).toMatchObject({ inFlight: 0, queued: 0 });
  });

  it('frees the overload slot at once when the bulkhead after it refuses', async () => {
    const e = engine({ maxConcurrent: 5 }, { bulkhead: { maxConcurrent: 1 } });
    const held = (await e.admit(req())) as Admission;
    const refused = (await e.admit(req())) as Admission;
    expect(refused.rejection?.body?.code).toBe('BULKHEAD_FULL');
    expect(e.overloadStats()?.inFlight).toBe(1);
    held.release();
    expect(e.overloadStats()?.inFlight).toBe(0);
  });

  it('reports each refusal as one overload.shed event', async () => {
    const events = new EventStream();
    const seen: BulwarkEvent[] = [];
    events.onAny((ev) => seen.push(ev));
    const e = engine({ maxConcurrent: 1 }, { events });
    const held = (await e.admit(req())) as Admission;
    await e.admit(req());
    expect(seen.map((ev) => ev.type)).toEqual(['overload.shed']);
    expect(seen[0]).toMatchObject({
      reason: 'concurrency',
      criticality: 'default',
      inFlight: 1,
      policy: 'http',
    });
    held.release();
  });
});

describe('pressure shedding', () => {
  it('computes the level from the measurement nearest its limit', () => {
    const m = new PressureMonitor({ maxEventLoopDelayMs: 200, maxRssBytes: 1000, sampleIntervalMs: 250 });
    m.record({ eventLoopDelayMs: 100, rssBytes: 900 });
    expect(m.level).toBeCloseTo(0.9);
    expect(m.reason).toBe('rss');
    m.record({ eventLoopDelayMs: 300, rssBytes: 100 });
    expect(m.level).toBeCloseTo(1.5);
    expect(m.reason).toBe('event-loop-delay');
  });

  it('refuses while the event loop lags past maxEventLoopDelay, lets probes through, and recovers', async () => {
    const e = engine({ maxEventLoopDelay: '150ms', sampleInterval: '100ms', retryAfter: '3s' });
    expect(((await e.admit(req())) as Admission).rejection).toBeUndefined();
    // A real block of the loop (what overload looks like), then a real short wait: the sampler's
    // overdue interval fires first, ~350 ms late, which it measures (and holds until its next sample).
    const until = Date.now() + 450;
    while (Date.now() < until) {}
    await new Promise((r) => setTimeout(r, 5));
    expect(e.overloadStats()?.eventLoopDelayMs).toBeGreaterThan(150);
    const refused = (await e.admit(req())) as Admission;
    expect(refused.rejection?.status).toBe(503);
    expect(refused.rejection?.body?.code).toBe('OVERLOADED');
    expect(refused.rejection?.body?.detail).toContain('event loop is lagging');
    expect(refused.rejection?.headers['Retry-After']).toBe('3');
    expect(((await e.admit(req('/readyz'))) as Admission).rejection?.status).toBe(200);
    // A few calm samples later it admits again (polled: a busy machine may lag a sample or two).
    for (let i = 0; i < 250 && (e.overloadStats()?.pressure ?? 0) >= 1; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(((await e.admit(req())) as Admission).rejection).toBeUndefined();
  });

  it('stops sampling on close', async () => {
    const e = engine({ maxEventLoopDelay: '50ms', sampleInterval: '10ms' });
    e.close();
    expect(e.overloadStats()?.pressure).toBe(0);
    const before = e.overloadStats()?.eventLoopDelayMs;
    await new Promise((r) => setTimeout(r, 40));
    expect(e.overloadStats()?.eventLoopDelayMs).toBe(before);
  });
});

describe('criticality at the engine', () => {
  it("gives a route's criticality to its policies, and refuses a bad one at start-up", async () => {
    const e = engine({});
    const a = (await e.admit(req())) as Admission;
    const route = e.route({ criticality: 'sheddable' });
    let seen: string | undefined;
    await e.protect(a, route, () => {
      seen = getContext()?.criticality;
    });
    expect(seen).toBe('sheddable');
    expect(() => e.route({ criticality: 'vip' as never })).toThrow(
      "Expected `protection.criticality` to be 'critical'",
    );
    a.release();
  });

  it('refuses sheddable requests from their share of the pressure limit on, default ones at it, critical never', async () => {
    const e = engine({ maxEventLoopDelay: '1s', sampleInterval: '1h' }, { trustCriticalityHeader: true });
    const monitor = (e as unknown as { o: { overload: { pressure: PressureMonitor } } }).o.overload.pressure;
    const as = async (c: string) =>
      ((await e.admit(req('/x', { 'bulwark-criticality': c }))) as Admission).rejection?.status;
    monitor.record({ eventLoopDelayMs: 600 });
    expect([await as('sheddable'), await as('default'), await as('critical')]).toEqual([
      503,
      undefined,
      undefined,
    ]);
    monitor.record({ eventLoopDelayMs: 1200 });
    expect([await as('sheddable'), await as('default'), await as('critical')]).toEqual([503, 503, undefined]);
  });
});
