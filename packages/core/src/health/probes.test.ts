import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Admission, InboundRequest } from '../http/types.js';
import { createBulwark } from '../registry/bulwark.js';

const TOKEN = 'a-probe-token-of-32-characters!!';

function req(path: string, headers: Record<string, string> = {}, method = 'GET'): InboundRequest {
  return { method, path, headers, remoteAddress: '10.0.0.1' };
}

/** A Bulwark with a core and an optional dependency whose outcome the test switches. */
function service(http: Record<string, unknown> = {}) {
  const b = createBulwark({ http: { production: true, ...http } });
  const state = { db: true, cache: true };
  const check = (key: 'db' | 'cache') =>
    vi.fn(async () => {
      if (!state[key]) throw new Error('connect ECONNREFUSED postgres://app:hunter2@db:5432');
    });
  const db = check('db');
  b.health.register('db', { criticality: 'core', check: db, interval: '1s' });
  b.health.register('cache', { criticality: 'optional', check: check('cache'), interval: '1s' });
  return { b, state, db };
}

async function answer(b: ReturnType<typeof service>['b'], r: InboundRequest) {
  const a = (await b.http.admit(r)) as Admission;
  return { a, res: a.rejection, body: a.rejection?.body as Record<string, unknown> | undefined };
}

describe('probe endpoints answered by the engine', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('/livez answers 200 whatever the dependencies say; only GET and HEAD are probes', async () => {
    const { b, state } = service();
    state.db = false;
    await vi.advanceTimersByTimeAsync(0);
    const { res } = await answer(b, req('/livez'));
    expect(res).toEqual({
      status: 200,
      headers: {
        'Content-Type': 'application/json; charset=utf-8',
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
      },
      body: { status: 'alive' },
    });
    expect((await answer(b, req('/livez', {}, 'HEAD'))).res).toMatchObject({ status: 200, body: undefined });
    expect((await answer(b, req('/livez', {}, 'POST'))).res).toBeUndefined();
    await b.close();
  });

  it('/readyz is 503 until the core dependencies were checked, while one is down, and while draining', async () => {
    const { b, state } = service({ production: false });
    expect((await answer(b, req('/readyz'))).res?.status).toBe(503);
    expect((await answer(b, req('/readyz'))).body).toEqual({
      status: 'not-ready',
      reasons: ["core dependency 'db' has not been checked yet"],
    });
    await vi.advanceTimersByTimeAsync(0);
    expect((await answer(b, req('/readyz'))).res).toMatchObject({ status: 200, body: { status: 'ready' } });
    state.cache = false; // optional: still ready
    await vi.advanceTimersByTimeAsync(1000);
    expect((await answer(b, req('/readyz'))).res?.status).toBe(200);
    state.db = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect((await answer(b, req('/readyz'))).res?.status).toBe(503);
    state.db = true;
    await vi.advanceTimersByTimeAsync(1000);
    b.health.markDraining();
    expect((await answer(b, req('/readyz'))).body).toEqual({
      status: 'not-ready',
      reasons: ['the service is draining (shutting down)'],
    });
    await b.close();
  });

  it('a probe never runs a check: it reads what the last background check saw', async () => {
    const { b, db } = service();
    await vi.advanceTimersByTimeAsync(0);
    const before = db.mock.calls.length;
    for (let i = 0; i < 50; i++) for (const p of ['/livez', '/readyz', '/health']) await answer(b, req(p));
    expect(db.mock.calls.length).toBe(before);
    await b.close();
  });

  it('/health in production without a token: the status only (503 while down)', async () => {
    const { b, state } = service();
    await vi.advanceTimersByTimeAsync(0);
    expect((await answer(b, req('/health'))).res).toMatchObject({ status: 200, body: { status: 'up' } });
    state.cache = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect((await answer(b, req('/health'))).res).toMatchObject({
      status: 200,
      body: { status: 'degraded' },
    });
    state.db = false;
    await vi.advanceTimersByTimeAsync(1000);
    const { res, body } = await answer(b, req('/health'));
    expect(res?.status).toBe(503);
    expect(body).toEqual({ status: 'down' });
    await b.close();
  });

  it('/health with a token: the full report for the right Bearer token only, never the raw message in production', async () => {
    const { b, state } = service({ health: { token: TOKEN } });
    state.db = false;
    await vi.advanceTimersByTimeAsync(0);
    for (const authorization of [
      undefined,
      'Bearer wrong-token-of-some-length',
      `Basic ${TOKEN}`,
      `Bearer ${TOKEN}x`,
    ]) {
      const { body } = await answer(b, req('/health', authorization ? { authorization } : {}));
      expect(body).toEqual({ status: 'down' });
    }
    const { res, body } = await answer(b, req('/health', { authorization: `Bearer ${TOKEN}` }));
    expect(res?.status).toBe(503);
    expect(body).toMatchObject({
      status: 'down',
      ready: { ready: false },
      degraded: { active: true },
      dependencies: [
        {
          name: 'db',
          criticality: 'core',
          status: 'down',
          code: 'DEPENDENCY_DOWN',
          suggestion: expect.stringContaining('reachable'),
          lastCheck: { status: 'down' },
          latencyMs: expect.any(Object),
        },
        { name: 'cache', status: 'up' },
      ],
    });
    expect(JSON.stringify(body)).not.toMatch(/hunter2|ECONNREFUSED postgres/);
    const ready = await answer(b, req('/readyz', { authorization: `bearer ${TOKEN}` }));
    expect(ready.body?.reasons).toEqual(["core dependency 'db' is down: its check failed"]);
    expect((await answer(b, req('/readyz'))).body).toEqual({ status: 'not-ready' });
    await b.close();
  });

  it('/health outside production without a token: the full report with the checks’ messages', async () => {
    const { b, state } = service({ production: false });
    state.db = false;
    await vi.advanceTimersByTimeAsync(0);
    const { body } = await answer(b, req('/health'));
    expect((body?.dependencies as { message?: string }[] | undefined)?.[0]?.message).toContain(
      'ECONNREFUSED',
    );
    await b.close();
  });

  it('answers before deadlines, rate limits and the bulkhead', async () => {
    const { b } = service({ rateLimit: { limit: 1 }, bulkhead: { maxConcurrent: 1, maxQueue: 0 } });
    await vi.advanceTimersByTimeAsync(0);
    const held = (await b.http.admit(req('/work'))) as Admission;
    expect((await answer(b, req('/work'))).res?.status).toBe(429);
    for (let i = 0; i < 5; i++)
      expect((await answer(b, req('/health', { 'x-deadline-ms': '0' }))).res?.status).toBe(200);
    held.release();
    await b.close();
  });

  it('paths are configurable, false turns one (or all) off, and bad options are refused naming the key', async () => {
    const { b } = service({ health: { live: '/alive', report: false } });
    expect((await answer(b, req('/alive'))).res?.status).toBe(200);
    expect((await answer(b, req('/livez'))).res).toBeUndefined();
    expect((await answer(b, req('/health'))).res).toBeUndefined();
    expect((await answer(b, req('/readyz'))).res?.status).toBe(503);
    await b.close();
    const off = service({ health: false });
    for (const p of ['/livez', '/readyz', '/health'])
      expect((await answer(off.b, req(p))).res).toBeUndefined();
    await off.b.close();
    expect(() => createBulwark({ http: { health: { token: 'short' } } })).toThrow(
      /http\.health\.token: expected a secret of 16 to 512 visible ASCII characters, got a string of 5 characters/,
    );
    expect(() => createBulwark({ http: { health: { ready: '/livez' } } })).toThrow(
      /http\.health\.ready: expected a path other than http\.health\.live's/,
    );
    expect(() => createBulwark({ http: { health: { live: 'livez' } } })).toThrow(/http\.health\.live/);
  });

  it('marks every answer degraded while a dependency is down, and the context lists the features off', async () => {
    const { b, state } = service();
    b.features.define('recommendations', { dependsOn: ['cache'] });
    await vi.advanceTimersByTimeAsync(0);
    const fine = (await b.http.admit(req('/x'))) as Admission;
    expect(fine.headers).not.toContain('bulwark-degraded');
    expect(fine.context.featuresOff ?? []).toEqual([]);
    state.cache = false;
    await vi.advanceTimersByTimeAsync(1000);
    const a = (await b.http.admit(req('/x'))) as Admission;
    const i = a.headers.indexOf('bulwark-degraded');
    expect(a.headers[i + 1]).toBe('feature:recommendations');
    expect(a.context.degraded).toEqual(['feature:recommendations']);
    expect(a.context.featuresOff).toEqual(['recommendations']);
    b.features.forceDegraded('drill');
    state.cache = true;
    await vi.advanceTimersByTimeAsync(1000);
    const forced = (await b.http.admit(req('/x'))) as Admission;
    expect(forced.headers[forced.headers.indexOf('bulwark-degraded') + 1]).toBe('degraded');
    await b.close();
  });
});
