import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type RequestContext, runWithContext } from '../context/context.js';
import { CancelledError, InvalidConfigError, TimeoutError } from '../errors/bulwark-error.js';
import { type BulwarkEvent, EventStream } from '../telemetry/events.js';
import { FallbackPolicy, fallback } from './fallback.js';

function ctx(): RequestContext {
  return {
    correlationId: 'corr-f',
    trace: { traceId: '0'.repeat(32), spanId: '1'.repeat(16), flags: 1 },
    criticality: 'default',
    degraded: [],
  };
}

const boom = new Error('boom');
const fail = async (): Promise<string> => {
  throw boom;
};

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_700_000_000_000);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('fallback', () => {
  it('passes results through untouched and does not mark degraded', async () => {
    const c = ctx();
    const r = await runWithContext(c, () => fallback({ fallback: { value: 'x' } }).execute(async () => 'ok'));
    expect(r).toBe('ok');
    expect(c.degraded).toEqual([]);
  });

  it('serves a static value, marks degraded and emits fallback.used', async () => {
    const events = new EventStream();
    const seen: BulwarkEvent[] = [];
    events.on('fallback.used', (e) => seen.push(e));
    const c = ctx();
    const onDegraded = vi.fn();
    c.onDegraded = onDegraded;
    const r = await runWithContext(c, () =>
      fallback({ name: 'menu', fallback: { value: 'static' }, events }).execute(fail, { key: 'k' }),
    );
    expect(r).toBe('static');
    expect(c.degraded).toEqual(['fallback:menu']);
    expect(onDegraded).toHaveBeenCalledWith(['fallback:menu']);
    expect(seen).toMatchObject([
      {
        type: 'fallback.used',
        policy: 'menu',
        key: 'k',
        correlationId: 'corr-f',
        reason: 'fallback:menu',
        error: boom,
      },
    ]);
  });

  it('serves a static value even when it is falsy', async () => {
    await expect(fallback({ fallback: { value: undefined } }).execute(fail)).resolves.toBeUndefined();
    await expect(fallback({ fallback: { value: 0 } }).execute(fail)).resolves.toBe(0);
  });

  it('calls a fallback function with the error', async () => {
    const fb = vi.fn(async (e: unknown) => `saved from ${(e as Error).message}`);
    await expect(fallback({ fallback: fb }).execute(fail)).resolves.toBe('saved from boom');
    expect(fb).toHaveBeenCalledWith(boom);
  });

  it('propagates an error thrown by the fallback function', async () => {
    const other = new Error('fallback broke');
    await expect(
      fallback({
        fallback: () => {
          throw other;
        },
      }).execute(fail),
    ).rejects.toBe(other);
  });

  it('serves the last good result per key while younger than staleIfError', async () => {
    const events = new EventStream();
    const seen: BulwarkEvent[] = [];
    events.on('fallback.used', (e) => seen.push(e));
    const policy = fallback<string>({ name: 'prices', staleIfError: '1m', events });
    await policy.execute(async () => 'v1', { cacheKey: 'a' });
    await policy.execute(async () => 'b1', { cacheKey: 'b' });
    vi.advanceTimersByTime(30_000);
    await policy.execute(async () => 'v2', { cacheKey: 'a' });

    const c = ctx();
    await expect(runWithContext(c, () => policy.execute(fail, { cacheKey: 'a', key: 'a' }))).resolves.toBe(
      'v2',
    );
    await expect(policy.execute(fail, { cacheKey: 'b' })).resolves.toBe('b1');
    expect(c.degraded).toEqual(['stale:prices']);
    expect(seen[0]).toMatchObject({ reason: 'stale:prices', key: 'a' });

    // 'b' was stored 30s before 'a' was refreshed: at +61s from b's write it is too old, 'a' is not.
    vi.advanceTimersByTime(31_000);
    await expect(policy.execute(fail, { cacheKey: 'b' })).rejects.toBe(boom);
    await expect(policy.execute(fail, { cacheKey: 'a' })).resolves.toBe('v2');
    vi.advanceTimersByTime(30_000);
    await expect(policy.execute(fail, { cacheKey: 'a' })).rejects.toBe(boom);
  });

  it('never remembers or serves a stale result without an explicit cacheKey (no answer crosses users)', async () => {
    const policy = fallback({ staleIfError: '1h', fallback: { value: 'static' } });
    await policy.execute(async () => ({ user: 'alice', ssn: '123' }), { key: 'GET /me' });
    // Same route key, another user, no cacheKey: the static fallback, never alice's answer.
    await expect(policy.execute(fail, { key: 'GET /me' })).resolves.toBe('static');
    await policy.execute(async () => 'fresh', { cacheKey: 'u1' });
    await expect(policy.execute(fail, { cacheKey: 'u2' })).resolves.toBe('static');
  });

  it('prefers a young stale result over the static value, then falls back to the value', async () => {
    const policy = fallback({ staleIfError: 1000, fallback: { value: 'static' } });
    await expect(policy.execute(fail, { cacheKey: 'k' })).resolves.toBe('static');
    await policy.execute(async () => 'fresh', { cacheKey: 'k' });
    await expect(policy.execute(fail, { cacheKey: 'k' })).resolves.toBe('fresh');
    vi.advanceTimersByTime(1001);
    await expect(policy.execute(fail, { cacheKey: 'k' })).resolves.toBe('static');
  });

  it('keeps at most maxKeys last-good results', async () => {
    const policy = fallback({ staleIfError: '1h', maxKeys: 2 });
    for (const k of ['a', 'b', 'c']) await policy.execute(async () => k, { cacheKey: k });
    await expect(policy.execute(fail, { cacheKey: 'a' })).rejects.toBe(boom);
    await expect(policy.execute(fail, { cacheKey: 'c' })).resolves.toBe('c');
    policy.clear();
    await expect(policy.execute(fail, { cacheKey: 'c' })).rejects.toBe(boom);
  });

  it('never swallows cancellation', async () => {
    const policy = fallback({ fallback: { value: 'x' }, handles: () => true });
    await expect(
      policy.execute(async () => {
        throw new DOMException('aborted', 'AbortError');
      }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    await expect(
      policy.execute(async () => {
        throw new CancelledError();
      }),
    ).rejects.toBeInstanceOf(CancelledError);

    // The caller aborted (here with a timeout reason from an outer layer): rethrow whatever fn threw.
    const ac = new AbortController();
    const reason = new TimeoutError();
    const p = policy.execute(
      async () => {
        ac.abort(reason);
        throw reason;
      },
      { signal: ac.signal },
    );
    await expect(p).rejects.toBe(reason);
  });

  it('handles an inner TimeoutError when the caller did not abort', async () => {
    const policy = fallback({ fallback: { value: 'late' } });
    await expect(
      policy.execute(async () => {
        throw new TimeoutError();
      }),
    ).resolves.toBe('late');
  });

  it('only handles errors accepted by handles()', async () => {
    const policy = fallback({ fallback: { value: 'x' }, handles: (e) => (e as Error).message === 'soft' });
    await expect(policy.execute(fail)).rejects.toBe(boom);
    await expect(
      policy.execute(async () => {
        throw new Error('soft');
      }),
    ).resolves.toBe('x');
  });

  it('validates options', () => {
    expect(() => fallback({})).toThrow(/fallback: expected a `fallback`, a `value` or `staleIfError`/);
    expect(() => fallback({ fallback: 42 as never })).toThrow(
      /fallback\.fallback: expected a function or \{ value \}, got 42/,
    );
    expect(() => fallback({ staleIfError: 'forever' as never })).toThrow(/fallback\.staleIfError/);
    expect(() => fallback({ staleIfError: '900h' })).toThrow(/at most 2147483647 ms/);
    expect(() => fallback({ staleIfError: 1, maxKeys: 0 })).toThrow(/fallback\.maxKeys: .*got 0/);
    expect(() => fallback({ fallback: () => 1, handles: 'x' as never })).toThrow(/fallback\.handles/);
    expect(() => new FallbackPolicy(null as never)).toThrow(InvalidConfigError);
  });
});
