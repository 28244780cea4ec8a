import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { getContext } from '../context/context.js';
import {
  BulkheadFullError,
  BulwarkError,
  DeadlineExceededError,
  isCancelledError,
  isDeadlineExceededError,
  isTimeoutError,
  RateLimitedError,
} from '../errors/bulwark-error.js';
import type { ExecuteOptions, Operation, Policy } from '../types.js';
import { createHttpEngine, HttpEngine } from './engine.js';
import type { Admission, InboundRequest, RouteProtection } from './types.js';

/** Routes `protection` (as an adapter does at start-up), then protects `handler` under it. */
function protectOn<T>(
  engine: HttpEngine,
  admission: Admission,
  protection: RouteProtection,
  handler: (signal: AbortSignal) => Promise<T> | T,
): Promise<T> {
  return engine.protect(admission, engine.route(protection), handler);
}

function req(headers: InboundRequest['headers'] = {}, extra: Partial<InboundRequest> = {}): InboundRequest {
  return { method: 'GET', path: '/orders/1', headers, ...extra };
}

/** A handler that waits until its signal aborts, then rejects with the reason. */
function hang(seen: { signal?: AbortSignal } = {}) {
  return (signal: AbortSignal) =>
    new Promise<never>((_, reject) => {
      seen.signal = signal;
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
}

/** A policy that records its calls and passes the signal through. */
function recordingPolicy(name = 'rec') {
  const calls: Array<{ key?: string; deadline?: number }> = [];
  const policy: Policy = {
    name,
    execute<T>(fn: Operation<T>, options: ExecuteOptions = {}) {
      calls.push({ key: options.key, deadline: options.deadline });
      return Promise.resolve(fn(options.signal ?? new AbortController().signal, 1));
    },
  };
  return { policy, calls };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('protect', () => {
  let engine: HttpEngine;
  let admission: Admission;
  beforeEach(async () => {
    engine = createHttpEngine();
    admission = await engine.admit(req({}, { routeKey: 'GET /orders/:id' }));
  });

  it('runs the handler with the request signal and returns its value', async () => {
    let got: AbortSignal | undefined;
    const v = await protectOn(engine, admission, {}, (s) => {
      got = s;
      return 42;
    });
    expect(v).toBe(42);
    expect(got).toBe(admission.signal);
  });

  it('runs the handler inside the request context even when called outside run()', async () => {
    const ctx = await protectOn(engine, admission, {}, () => getContext());
    expect(ctx).toBe(admission.context);
  });

  it('turns a synchronous throw into a rejection', async () => {
    await expect(
      protectOn(engine, admission, {}, () => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
  });

  it('aborts the handler signal and rejects with TimeoutError on a route timeout, aborting the request too', async () => {
    const seen: { signal?: AbortSignal } = {};
    const p = protectOn(engine, admission, { timeout: 100 }, hang(seen));
    const assertion = expect(p).rejects.toSatisfy(isTimeoutError);
    await vi.advanceTimersByTimeAsync(100);
    await assertion;
    expect(seen.signal?.aborted).toBe(true);
    expect(admission.signal.aborted).toBe(true);
    expect(isTimeoutError(admission.signal.reason)).toBe(true);
  });

  it('keeps the bulkhead slot until a handler that ignores its signal settles, even after a route timeout answered', async () => {
    const e = createHttpEngine({ bulkhead: { maxConcurrent: 1, maxQueue: 0 } });
    const a = await e.admit(req());
    let finish: (v: string) => void = () => {};
    const stubborn = () => new Promise<string>((resolve) => (finish = resolve)); // ignores its signal
    const p = protectOn(e, a, { timeout: 50 }, stubborn);
    const timedOut = expect(p).rejects.toSatisfy(isTimeoutError);
    await vi.advanceTimersByTimeAsync(50);
    await timedOut;
    a.release(); // the 504 was written and the response closed
    expect((await e.admit(req())).rejection?.status).toBe(503); // the work still runs: no new slot
    finish('late');
    await vi.advanceTimersByTimeAsync(0);
    const next = await e.admit(req());
    expect(next.rejection).toBeUndefined();
    next.release();
  });

  it('passes a cacheKey from the route protection to the policy', async () => {
    const seen: (string | undefined)[] = [];
    const spy: Policy = {
      name: 'spy',
      execute: <T>(fn: Operation<T>, o?: ExecuteOptions) => {
        seen.push(o?.cacheKey);
        return Promise.resolve(fn(o?.signal as AbortSignal, 1));
      },
    };
    const e = createHttpEngine();
    const a = await e.admit(req({ 'x-user': 'u7' }));
    await protectOn(e, a, { policy: spy, cacheKey: (r) => `me:${String(r?.headers['x-user'])}` }, () => 1);
    await protectOn(e, a, { policy: spy }, () => 1);
    expect(seen).toEqual(['me:u7', undefined]);
  });

  it('accepts a duration string and does not fire early', async () => {
    const p = protectOn(
      engine,
      admission,
      { timeout: '2s' },
      (s) => new Promise((resolve) => setTimeout(() => resolve(s.aborted ? 'aborted' : 'ok'), 1999)),
    );
    await vi.advanceTimersByTimeAsync(1999);
    await expect(p).resolves.toBe('ok');
    expect(admission.signal.aborted).toBe(false);
  });

  it('aborts the handler signal on client disconnect', async () => {
    const seen: { signal?: AbortSignal } = {};
    const client = new AbortController();
    const a = await engine.admit(req({}, { signal: client.signal }));
    const p = protectOn(engine, a, { timeout: 1000 }, hang(seen));
    client.abort();
    await expect(p).rejects.toSatisfy(isCancelledError);
    expect(seen.signal?.aborted).toBe(true);
  });

  it('aborts the handler signal on the deadline (shorter than the route timeout)', async () => {
    const a = await engine.admit(req({ 'x-deadline-ms': '50' }));
    const seen: { signal?: AbortSignal } = {};
    const p = protectOn(engine, a, { timeout: 1000 }, hang(seen));
    const assertion = expect(p).rejects.toSatisfy(isDeadlineExceededError);
    await vi.advanceTimersByTimeAsync(50);
    await assertion;
    expect(seen.signal?.aborted).toBe(true);
  });

  it('aborts an unprotected handler on the deadline', async () => {
    const a = await engine.admit(req({ 'x-deadline-ms': '50' }));
    const p = protectOn(engine, a, {}, hang());
    const assertion = expect(p).rejects.toSatisfy(isDeadlineExceededError);
    await vi.advanceTimersByTimeAsync(50);
    await assertion;
  });

  it('runs an inline policy with the route key and deadline', async () => {
    const a = await engine.admit(req({ 'x-deadline-ms': '500' }, { routeKey: 'GET /orders/:id' }));
    const { policy, calls } = recordingPolicy();
    await expect(protectOn(engine, a, { policy }, () => 'v')).resolves.toBe('v');
    expect(calls).toEqual([{ key: 'GET /orders/:id', deadline: 1_000_500 }]);
  });

  it('runs a policy inside the route timeout', async () => {
    const { policy, calls } = recordingPolicy();
    const seen: { signal?: AbortSignal } = {};
    const p = protectOn(engine, admission, { policy, timeout: 20 }, hang(seen));
    const assertion = expect(p).rejects.toSatisfy(isTimeoutError);
    await vi.advanceTimersByTimeAsync(20);
    await assertion;
    expect(calls).toHaveLength(1);
    expect(seen.signal?.aborted).toBe(true);
  });

  it('does not abort the request when the handler itself throws a TimeoutError', async () => {
    const { TimeoutError } = await import('../errors/bulwark-error.js');
    const p = protectOn(engine, admission, { timeout: 1000 }, () => Promise.reject(new TimeoutError()));
    await expect(p).rejects.toSatisfy(isTimeoutError);
    expect(admission.signal.aborted).toBe(false);
  });

  it('resolves a named policy through resolvePolicy', async () => {
    const { policy, calls } = recordingPolicy('payments');
    const resolvePolicy = vi.fn((name: string) => {
      if (name === 'payments') return policy;
      throw new Error(`unknown ${name}`);
    });
    const e = createHttpEngine({ resolvePolicy });
    const a = await e.admit(req());
    await expect(protectOn(e, a, { policy: 'payments' }, () => 1)).resolves.toBe(1);
    expect(calls).toHaveLength(1);
    // An unknown name fails when the route is made (start-up), not at a request.
    let err: unknown;
    try {
      e.route({ policy: 'nope' });
    } catch (x) {
      err = x;
    }
    expect(err).toBeInstanceOf(BulwarkError);
    expect((err as BulwarkError).code).toBe('UNKNOWN_POLICY');
    expect((err as BulwarkError).message).toContain('"nope"');
  });

  it('passes through a BulwarkError thrown by resolvePolicy, and catches an undefined result', async () => {
    const own = new BulwarkError('UNKNOWN_POLICY', { message: 'registry says no' });
    const e1 = createHttpEngine({
      resolvePolicy: () => {
        throw own;
      },
    });
    expect(() => e1.route({ policy: 'x' })).toThrow(own);
    const e2 = createHttpEngine({ resolvePolicy: () => undefined as unknown as Policy });
    expect(() => e2.route({ policy: 'x' })).toThrow(expect.objectContaining({ code: 'UNKNOWN_POLICY' }));
  });

  it('rejects a policy name when no registry is wired', async () => {
    expect(() => engine.route({ policy: 'payments' })).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_POLICY' }),
    );
  });

  it.each([[0], [-1], ['soon'], [Number.NaN], [2 ** 31]])(
    'rejects a bad timeout %j with a TypeError',
    (t) => {
      expect(() => engine.route({ timeout: t as number })).toThrow(/`protection.timeout`/);
    },
  );

  it('rejects an unknown protection option with a did-you-mean', () => {
    expect(() => engine.route({ timout: 100 } as never)).toThrow(/`timout`.*did you mean `timeout`/);
  });

  it('rejects a policy that is not one', () => {
    expect(() => engine.route({ policy: {} as Policy })).toThrow(TypeError);
  });
});

describe('toResponse', () => {
  it('answers a Bulwark error with problem+json, Retry-After, correlation, no-store and nosniff', async () => {
    const e = createHttpEngine({ production: true });
    const a = await e.admit(req({ 'x-request-id': 'cid-1' }));
    const r = e.toResponse(new BulkheadFullError({ retryAfterMs: 2000 }), req(), a.context);
    expect(r.status).toBe(503);
    expect(r.headers).toEqual({
      'Content-Type': 'application/problem+json',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'x-request-id': 'cid-1',
      'Retry-After': '2',
    });
    expect(r.body).toMatchObject({
      type: 'tag:bulwark,2026:problems/bulkhead-full',
      status: 503,
      code: 'BULKHEAD_FULL',
      instance: '/orders/1',
      correlationId: 'cid-1',
      retryAfter: 2,
    });
  });

  it('hides unknown errors in production, shows them in development', async () => {
    const boom = new Error('db password is hunter2');
    const prod = createHttpEngine({ production: true });
    const r = prod.toResponse(boom, req());
    expect(r.status).toBe(500);
    expect(JSON.stringify(r)).not.toContain('hunter2');
    const dev = createHttpEngine({ production: false, problemTypeBase: 'https://errors.test/' });
    const d = dev.toResponse(boom, req());
    expect(d.body?.detail).toBe('db password is hunter2');
    expect(d.body?.stack).toBeDefined();
    expect(d.body?.type).toBe('https://errors.test/internal-error');
  });

  it("keeps an app HTTP error's own headers (http-errors' WWW-Authenticate, Allow), well-formed ones only", () => {
    const e = createHttpEngine();
    const err = Object.assign(new Error('Unauthorized'), {
      status: 401,
      expose: true,
      headers: {
        'WWW-Authenticate': 'Bearer realm="api"',
        'Content-Type': 'text/html',
        'X-Bad': 'a\r\nSet-Cookie: x=1',
        'Bad Name': 'x',
      },
    });
    const out = e.toResponse(err, req());
    expect(out.status).toBe(401);
    expect(out.headers['WWW-Authenticate']).toBe('Bearer realm="api"');
    expect(out.headers['Content-Type']).toBe('application/problem+json');
    expect(out.headers['X-Bad']).toBeUndefined();
    expect(out.headers['Bad Name']).toBeUndefined();
    // A Bulwark or unknown error's headers are never copied.
    const unknown = Object.assign(new Error('x'), { headers: { 'X-Leak': 'secret' } });
    expect(e.toResponse(unknown, req()).headers['X-Leak']).toBeUndefined();
  });

  it('answers a RateLimitedError with Retry-After; RateLimit headers only come with the engine limits', () => {
    const e = createHttpEngine();
    const err = new RateLimitedError({
      retryAfterMs: 1500,
      rateLimit: { limit: 10, remaining: 0, resetMs: 1500, windowMs: 60_000 },
    });
    const r = e.toResponse(err, req());
    expect(r.status).toBe(429);
    expect(r.headers['Retry-After']).toBe('2');
    expect(r.headers).not.toHaveProperty('RateLimit');
  });

  it('sends no body for HEAD but keeps status and headers', () => {
    const r = createHttpEngine().toResponse(new DeadlineExceededError(), req({}, { method: 'HEAD' }));
    expect(r.status).toBe(504);
    expect(r.body).toBeUndefined();
    expect(r.headers['Content-Type']).toBe('application/problem+json');
  });

  it('answers problem+json whatever the Accept header says', () => {
    const r = createHttpEngine().toResponse(new Error('x'), req({ accept: 'text/html' }));
    expect(r.headers['Content-Type']).toBe('application/problem+json');
    expect(r.body?.status).toBe(500);
  });

  it('uses the current context when none is passed', async () => {
    const e = createHttpEngine();
    const a = await e.admit(req({ 'x-request-id': 'from-ctx' }));
    const r = e.run(a, () => e.toResponse(new Error('x'), req()));
    expect(r.headers['x-request-id']).toBe('from-ctx');
    expect(r.body?.correlationId).toBe('from-ctx');
  });

  it('outside any context takes a valid incoming correlation ID, else a new one', () => {
    const e = createHttpEngine();
    expect(e.toResponse(new Error('x'), req({ 'x-request-id': 'early' })).headers['x-request-id']).toBe(
      'early',
    );
    const fresh = e.toResponse(new Error('x'), req({ 'x-request-id': 'bad id' })).headers['x-request-id'];
    expect(fresh).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('marks a degraded context on the error answer too', async () => {
    const e = createHttpEngine();
    const a = await e.admit(req());
    a.context.degraded.push('fallback');
    expect(e.toResponse(new Error('x'), req(), a.context).headers['bulwark-degraded']).toBe('fallback');
  });

  it('bounds the instance to 1024 characters', () => {
    const long = `/${'a'.repeat(5000)}`;
    expect(
      createHttpEngine().toResponse(new Error('x'), req({}, { path: long })).body?.instance,
    ).toHaveLength(1024);
  });
});
