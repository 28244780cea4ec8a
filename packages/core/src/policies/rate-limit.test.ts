import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isRateLimitedError, RateLimitedError } from '../errors/bulwark-error.js';
import { MemoryStore } from '../stores/memory-store.js';
import type { Store } from '../stores/store.js';
import { type EventOf, EventStream } from '../telemetry/events.js';
import { rateLimit, rateLimitHeaders, retryAfterSeconds } from './rate-limit.js';

describe('rateLimit (token bucket)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('allows `limit` calls, then refuses with retryAfterMs until a token refills', () => {
    const rl = rateLimit({ limit: 3, interval: '3s' });
    const d = [rl.takeSync('k'), rl.takeSync('k'), rl.takeSync('k')];
    expect(d.map((x) => x?.remaining)).toEqual([2, 1, 0]);
    expect(d.every((x) => x?.allowed)).toBe(true);
    const refused = rl.takeSync('k');
    expect(refused).toEqual({
      allowed: false,
      limit: 3,
      remaining: 0,
      resetMs: 3000,
      windowMs: 3000,
      retryAfterMs: 1000,
      nextMs: 1000,
    });
    vi.advanceTimersByTime(999);
    expect(rl.takeSync('k')?.allowed).toBe(false);
    vi.advanceTimersByTime(1);
    expect(rl.takeSync('k')).toMatchObject({ allowed: true, remaining: 0, resetMs: 3000 });
  });

  it('refills lazily, never past the capacity, and sets no timer', () => {
    const rl = rateLimit({ limit: 10, interval: 1000 });
    for (let i = 0; i < 10; i++) rl.takeSync('k');
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(350);
    expect(rl.takeSync('k')).toMatchObject({ allowed: true, remaining: 2 });
    vi.advanceTimersByTime(60_000);
    expect(rl.takeSync('k')).toMatchObject({ allowed: true, remaining: 9, resetMs: 100 });
  });

  it('keeps keys apart and supports a cost', async () => {
    const rl = rateLimit({ limit: 5 });
    expect(rl.takeSync('a', 5)?.allowed).toBe(true);
    expect(rl.takeSync('a')?.allowed).toBe(false);
    expect(rl.takeSync('b')?.allowed).toBe(true);
    expect((await rl.take('b', 4)).remaining).toBe(0);
    expect(() => rl.takeSync('a', 6)).toThrow(/`cost`.*6/);
    expect(() => rl.takeSync('a', 0)).toThrow(/`cost`/);
  });

  it('does not stall when the clock steps back', () => {
    const rl = rateLimit({ limit: 1, interval: 1000 });
    rl.takeSync('k');
    vi.setSystemTime(1_000_000 - 60_000);
    expect(rl.takeSync('k')?.allowed).toBe(false);
    vi.advanceTimersByTime(1000);
    expect(rl.takeSync('k')?.allowed).toBe(true);
  });

  it('bounds buckets with an LRU of maxKeys', () => {
    const rl = rateLimit({ limit: 1, maxKeys: 2 });
    rl.takeSync('a');
    rl.takeSync('b');
    rl.takeSync('c');
    // 'a' was evicted, so it starts with a full bucket again; 'c' was not.
    expect(rl.takeSync('a')?.allowed).toBe(true);
    expect(rl.takeSync('c')?.allowed).toBe(false);
  });

  it('execute runs fn when allowed and rejects with RateLimitedError carrying the state when not', async () => {
    const events = new EventStream();
    const seen: EventOf<'rate-limit.rejected'>[] = [];
    events.on('rate-limit.rejected', (e) => seen.push(e));
    const rl = rateLimit({ name: 'api', limit: 1, interval: '10s', events });
    const fn = vi.fn(async (_s: AbortSignal, n: number) => n * 2);
    await expect(rl.execute(fn, { key: 'ip', attempt: 2 })).resolves.toBe(4);
    const err = await rl.execute(fn, { key: 'ip' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitedError);
    expect(isRateLimitedError(err)).toBe(true);
    const e = err as RateLimitedError;
    expect(e.status).toBe(429);
    expect(e.retryAfterMs).toBe(10_000);
    expect(e.retryAfter).toBe(10);
    expect(e.policy).toBe('api');
    expect(e.rateLimit).toEqual({ limit: 1, remaining: 0, resetMs: 10_000, windowMs: 10_000 });
    expect(fn).toHaveBeenCalledTimes(1);
    expect(seen).toEqual([expect.objectContaining({ policy: 'api', key: 'ip', limit: 1, resetMs: 10_000 })]);
  });

  it('execute refuses an aborted call without spending a token', async () => {
    const rl = rateLimit({ limit: 1 });
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    await expect(rl.execute(() => 1, { signal: ac.signal })).rejects.toThrow('gone');
    expect(rl.takeSync('default')?.allowed).toBe(true);
  });

  it('emits nothing when nobody listens', () => {
    const events = new EventStream();
    const emit = vi.spyOn(events, 'emit');
    const rl = rateLimit({ limit: 1, events });
    rl.takeSync('k');
    rl.takeSync('k');
    expect(emit).not.toHaveBeenCalled();
  });

  it('validates options with errors naming the option and does not mutate them', () => {
    expect(() => rateLimit({ limit: 0 })).toThrow(/rateLimit\.limit: expected a positive integer, got 0/);
    expect(() => rateLimit({} as never)).toThrow(/rateLimit\.limit/);
    expect(() => rateLimit({ limit: 1, interval: 'often' as never })).toThrow(/rateLimit\.interval.*"often"/);
    expect(() => rateLimit({ limit: 1, interval: 0 })).toThrow(/rateLimit\.interval.*got 0/);
    expect(() => rateLimit({ limit: 1, interval: '900h' })).toThrow(/rateLimit\.interval.*"900h"/);
    expect(() => rateLimit({ limit: 1, maxKeys: 1.5 })).toThrow(/rateLimit\.maxKeys/);
    expect(() => rateLimit({ limit: 1, store: {} as never })).toThrow(/rateLimit\.store/);
    const options = Object.freeze({ limit: 2 });
    rateLimit(options);
    expect(options).toEqual({ limit: 2 });
  });
});

describe('rateLimit (shared store, fixed window)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('shares one limit between replicas through the store and resets at the window boundary', async () => {
    const store = new MemoryStore();
    const a = rateLimit({ limit: 3, interval: '1s', store });
    const b = rateLimit({ limit: 3, interval: '1s', store });
    expect(a.takeSync('k')).toBeUndefined();
    vi.advanceTimersByTime(250);
    expect(await a.take('k')).toEqual({
      allowed: true,
      limit: 3,
      remaining: 2,
      resetMs: 750,
      windowMs: 1000,
      retryAfterMs: undefined,
      nextMs: 750,
    });
    await b.take('k');
    expect(await a.take('k')).toMatchObject({ allowed: true, remaining: 0 });
    expect(await b.take('k')).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 750 });
    await expect(a.execute(() => 1, { key: 'k' })).rejects.toBeInstanceOf(RateLimitedError);
    vi.advanceTimersByTime(750);
    expect(await b.take('k')).toMatchObject({ allowed: true, remaining: 2, resetMs: 1000 });
  });

  it('falls back to the local bucket when the store fails', async () => {
    // A real store whose increment fails (the rest of the interface as MemoryStore has it).
    const store = Object.assign(Object.create(new MemoryStore()) as Store, {
      increment: vi.fn(async () => Promise.reject(new Error('redis down'))),
    });
    const rl = rateLimit({ limit: 1, store });
    expect((await rl.take('k')).allowed).toBe(true);
    expect((await rl.take('k')).allowed).toBe(false);
    expect(store.increment).toHaveBeenCalledTimes(2);
  });
});

describe('rateLimitHeaders / retryAfterSeconds', () => {
  it('renders the draft-8 structured-field headers, t being the time until one more request is allowed', () => {
    expect(
      rateLimitHeaders({ limit: 100, remaining: 42, resetMs: 29_001, windowMs: 60_000, nextMs: 0 }),
    ).toEqual({
      'RateLimit-Policy': '"default";q=100;w=60',
      RateLimit: '"default";r=42;t=0',
    });
    expect(
      rateLimitHeaders({ limit: 100, remaining: 0, resetMs: 60_000, windowMs: 60_000, nextMs: 599 }),
    ).toEqual({
      'RateLimit-Policy': '"default";q=100;w=60',
      RateLimit: '"default";r=0;t=1',
    });
    expect(
      rateLimitHeaders(
        { limit: 100, remaining: 7, resetMs: 1, windowMs: 60_000, nextMs: 0 },
        'api',
        'draft-6',
      ),
    ).toEqual({
      'RateLimit-Policy': '100;w=60',
      'RateLimit-Limit': '100',
      'RateLimit-Remaining': '7',
      'RateLimit-Reset': '0',
    });
    expect(rateLimitHeaders({ limit: 1, remaining: 0, resetMs: 0, windowMs: 1 }, 'api', false)).toEqual({});
    expect(rateLimitHeaders({ limit: 5, remaining: -1, resetMs: 0, windowMs: 500 }, 'per "ip"')).toEqual({
      'RateLimit-Policy': '"per \\"ip\\"";q=5;w=1',
      RateLimit: '"per \\"ip\\"";r=0;t=0',
    });
    expect(() => rateLimitHeaders({ limit: 1, remaining: 0, resetMs: 0, windowMs: 1 }, 'é')).toThrow(
      /`policyName`/,
    );
  });

  it('t is the time to the next token with the bucket, and the time to the reset with a store', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    try {
      const bucket = rateLimit({ limit: 10, interval: '10s' });
      expect(bucket.takeSync('k')?.nextMs).toBe(0); // nine left: one more is allowed now
      for (let i = 0; i < 9; i++) bucket.takeSync('k');
      expect(bucket.takeSync('k')).toMatchObject({ allowed: false, nextMs: 1000, retryAfterMs: 1000 });
      const window = rateLimit({ limit: 10, interval: '10s', store: new MemoryStore() });
      vi.setSystemTime(1_004_000);
      expect(await window.take('k')).toMatchObject({ allowed: true, nextMs: 6000, resetMs: 6000 });
    } finally {
      vi.useRealTimers();
    }
  });

  it('rounds Retry-After up to whole seconds, at least 1', () => {
    expect(retryAfterSeconds(0)).toBe(1);
    expect(retryAfterSeconds(1)).toBe(1);
    expect(retryAfterSeconds(1000)).toBe(1);
    expect(retryAfterSeconds(1001)).toBe(2);
    expect(retryAfterSeconds(Number.NaN)).toBe(1);
  });
});
