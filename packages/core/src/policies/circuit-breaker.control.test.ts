import { describe, expect, it, vi } from 'vitest';
import { CancelledError, isCircuitOpenError } from '../errors/bulwark-error.js';
import type { Store } from '../stores/store.js';
import { circuitBreaker } from './circuit-breaker.js';

import {
  fail,
  httpError,
  make,
  ok,
  openIt,
  recorder,
  useBreakerTests,
} from './circuit-breaker.test-helper.js';

useBreakerTests();

describe('manual recording', () => {
  it('canExecute / recordSuccess / recordFailure drive the same state machine', async () => {
    const b = make({ failureThreshold: 3, resetTimeout: '60s', halfOpenProbes: 2 });
    for (let i = 0; i < 3; i++) {
      expect(b.canExecute('sync')).toBe(true);
      b.recordFailure('sync', new Error('down'));
    }
    expect(b.state('sync')).toBe('open');
    expect(b.canExecute('sync')).toBe(false);
    expect(b.stats('sync').rejects).toBe(1);
    vi.advanceTimersByTime(60_000);
    expect(b.canExecute('sync')).toBe(true);
    expect(b.canExecute('sync')).toBe(true);
    expect(b.canExecute('sync')).toBe(false);
    b.recordSuccess('sync');
    expect(b.state('sync')).toBe('closed');
    expect(b.canExecute('sync')).toBe(true);
  });

  it('classifies recorded errors like execute does, and records slow durations', () => {
    const b = make({
      failureThreshold: 2,
      slowCallDuration: 100,
      slowCallRateThreshold: 75,
      volumeThreshold: 3,
    });
    b.recordFailure('k', httpError(404));
    b.recordFailure('k', new CancelledError());
    expect(b.stats('k')).toMatchObject({ calls: 1, failures: 0 });
    b.recordSuccess('k', 500);
    b.recordSuccess('k', 150);
    expect(b.state('k')).toBe('closed');
    b.recordSuccess('k', 101);
    expect(b.stats('k').slowCalls).toBe(3);
    expect(b.state('k')).toBe('open');
  });

  it('a failed manual probe reopens', () => {
    const b = make({ failureThreshold: 1 });
    b.recordFailure(undefined, new Error('x'));
    vi.advanceTimersByTime(1000);
    expect(b.canExecute()).toBe(true);
    b.recordFailure(undefined, new Error('x'));
    expect(b.state()).toBe('open');
  });
});

describe('snapshot and restore', () => {
  it('round-trips through JSON into another breaker, window and all', async () => {
    const a = make({ window: 10_000, buckets: 10 });
    await ok(a, 'k');
    vi.advanceTimersByTime(2000);
    await fail(a, 'k');
    await fail(a, 'k');
    const snap = JSON.parse(JSON.stringify(a.snapshot('k')));
    expect(snap).toMatchObject({ v: 1, state: 'closed', consecutiveFailures: 2 });
    const b = make({ window: 10_000, buckets: 10, volumeThreshold: 3 });
    b.restore('k', snap);
    expect(b.stats('k')).toMatchObject({ calls: 3, failures: 2, consecutiveFailures: 2 });
    vi.advanceTimersByTime(8500);
    expect(b.stats('k')).toMatchObject({ calls: 2, failures: 2 });
    await fail(b, 'k');
    expect(b.state('k')).toBe('open');
  });

  it('restores an open breaker that turns half-open on time, and its override', async () => {
    const a = make();
    await openIt(a, 'k');
    a.forceOpen('k');
    const snap = a.snapshot('k');
    const b = make({ window: 5000, buckets: 5 });
    b.restore('k', snap);
    expect(b.override('k')).toBe('force-open');
    b.reset('k');
    b.restore('k', { ...snap, override: undefined } as never);
    expect(b.state('k')).toBe('open');
    expect(b.stats('k')).toMatchObject({ calls: 4, failures: 4 });
    vi.advanceTimersByTime(1000);
    expect(b.state('k')).toBe('half-open');
    await ok(b, 'k');
    expect(b.state('k')).toBe('closed');
  });

  it('rejects a malformed snapshot naming each bad field', () => {
    const b = make();
    const bad = {
      v: 2,
      state: 'ajar',
      since: -1,
      consecutiveFailures: 1.5,
      probeSuccesses: 0,
      window: { bucketMs: 0, newest: 0, calls: [1], failures: [], slow: [0] },
    };
    let err: unknown;
    try {
      b.restore('k', bad as never);
    } catch (e) {
      err = e;
    }
    const paths = (err as { issues: { path: string }[] }).issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'snapshot.v',
        'snapshot.state',
        'snapshot.since',
        'snapshot.consecutiveFailures',
        'snapshot.window.bucketMs',
        'snapshot.window.failures',
      ]),
    );
    expect(() => b.restore('k', null as never)).toThrow(/snapshot/);
    const good = b.snapshot('k');
    const inflated = { ...good, window: { ...good.window, failures: good.window.calls.map((c) => c + 1) } };
    expect(() => b.restore('k', inflated)).toThrow(/snapshot\.window\.failures/);
  });
});

describe('overrides', () => {
  it('forceOpen(key) rejects that key with retryAfterMs = resetTimeout, reset() restores it', async () => {
    const b = make();
    b.forceOpen('a');
    expect(b.override('a')).toBe('force-open');
    expect(b.override()).toBe('none');
    expect(b.state('a')).toBe('open');
    await expect(b.execute(() => 1, { key: 'a' })).rejects.toMatchObject({
      code: 'CIRCUIT_OPEN',
      retryAfterMs: 1000,
    });
    await expect(b.execute(() => 1, { key: 'b' })).resolves.toBe(1);
    expect(b.canExecute('a')).toBe(false);
    b.reset('a');
    expect(b.override('a')).toBe('none');
    await expect(b.execute(() => 1, { key: 'a' })).resolves.toBe(1);
  });

  it('keeps at most maxKeys per-key overrides (the oldest goes first)', () => {
    const b = make({ maxKeys: 3 });
    for (const k of ['a', 'b', 'c', 'd']) b.forceOpen(k);
    expect(b.override('a')).toBe('none');
    expect(['b', 'c', 'd'].map((k) => b.override(k))).toEqual(['force-open', 'force-open', 'force-open']);
  });

  it('forceOpen() applies to every key, forceClose(key) exempts one', async () => {
    const b = make();
    b.forceOpen();
    b.forceClose('x');
    await expect(b.execute(() => 1, { key: 'y' })).rejects.toSatisfy(isCircuitOpenError);
    await expect(b.execute(() => 1, { key: 'x' })).resolves.toBe(1);
    b.reset();
    expect(b.override('y')).toBe('none');
    await expect(b.execute(() => 1, { key: 'y' })).resolves.toBe(1);
  });

  it('forceClose never opens but still records', async () => {
    const b = make();
    await openIt(b);
    b.forceClose();
    expect(b.state()).toBe('closed');
    for (let i = 0; i < 10; i++) await fail(b);
    expect(b.state()).toBe('closed');
    expect(b.stats().failures).toBe(10);
    expect(b.canExecute()).toBe(true);
  });

  it('disable passes calls through and records nothing', async () => {
    const b = make();
    await openIt(b);
    b.disable();
    expect(b.state()).toBe('closed');
    await expect(b.execute(() => 'through')).resolves.toBe('through');
    for (let i = 0; i < 5; i++) await fail(b);
    b.recordFailure(undefined, new Error('x'));
    expect(b.stats().calls).toBe(4);
  });

  it('metricsOnly opens and emits but never rejects', async () => {
    const { events, seen } = recorder();
    const b = make({ events });
    b.metricsOnly('m');
    await openIt(b, 'm');
    expect(seen.map((e) => e.type)).toContain('breaker.opened');
    await expect(b.execute(() => 'still', { key: 'm' })).resolves.toBe('still');
    expect(b.canExecute('m')).toBe(true);
    expect(seen.map((e) => e.type)).not.toContain('breaker.rejected');
    expect(b.stats('m').calls).toBe(5);
  });
});

describe('keys', () => {
  it('isolates keys; a new key past maxKeys evicts a closed breaker before an open one', async () => {
    const b = make({ maxKeys: 2 });
    await openIt(b, 'a');
    await ok(b, 'b');
    await ok(b, 'c');
    expect(b.state('a')).toBe('open');
    expect(b.stats('b').calls).toBe(0);
    expect(b.stats('c').calls).toBe(1);
    await openIt(b, 'd');
    expect(b.state('a')).toBe('open');
    await ok(b, 'e');
    expect(b.state('a')).toBe('closed');
    expect(b.state('d')).toBe('open');
  });

  it('after close() every row is reused once, and keys stay apart', async () => {
    const b = make({ maxKeys: 4, failureThreshold: 1 });
    for (const k of ['a', 'b', 'c', 'd']) await ok(b, k);
    b.close();
    for (const k of ['e', 'f', 'g', 'h', 'i']) await ok(b, k);
    await fail(b, 'i');
    expect(['f', 'g', 'h', 'i'].map((k) => [b.state(k), b.stats(k).calls])).toEqual([
      ['closed', 1],
      ['closed', 1],
      ['closed', 1],
      ['open', 2],
    ]);
    expect(b.stats('e').calls).toBe(0);
  });

  it('evicts the least recently used closed breaker', async () => {
    const b = make({ maxKeys: 3 });
    for (const k of ['a', 'b', 'c']) await ok(b, k);
    await ok(b, 'a');
    await ok(b, 'd');
    expect(['a', 'b', 'c', 'd'].map((k) => b.stats(k).calls)).toEqual([2, 0, 1, 1]);
  });

  it('holds no timer while closed, open or half-open, and close() forgets every key', async () => {
    const b = make();
    for (let i = 0; i < 50; i++) await ok(b, `k${i}`);
    await openIt(b, 'x');
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(b.state('x')).toBe('half-open');
    expect(vi.getTimerCount()).toBe(0);
    b.close();
    expect(b.state('x')).toBe('closed');
    expect(b.stats('k1').calls).toBe(0);
  });
});

describe('options and store', () => {
  it('never mutates the caller options and validates them all at once', () => {
    const options = Object.freeze({ resetTimeout: '2s', window: 5000, buckets: 5 });
    expect(() => make(options)).not.toThrow();
    expect(() => circuitBreaker({ halfOpenProbes: 0 })).toThrow(/halfOpenProbes/);
    expect(() => circuitBreaker({ errorThresholdPercentage: 120 })).toThrow(/errorThresholdPercentage/);
    expect(() => circuitBreaker({ window: 5, buckets: 10 })).toThrow(/buckets/);
    expect(() => circuitBreaker({ resetTimeout: '900h' })).toThrow(/resetTimeout.*2147483647/);
    let err: unknown;
    try {
      circuitBreaker({ failureThreshold: 0, slowCallDuration: 'fast', resetTimout: 5 } as never);
    } catch (e) {
      err = e;
    }
    expect((err as { issues: { path: string; fix?: string }[] }).issues).toEqual([
      expect.objectContaining({ path: 'failureThreshold' }),
      expect.objectContaining({ path: 'slowCallDuration' }),
      expect.objectContaining({ path: 'resetTimout', fix: "did you mean 'resetTimeout'?" }),
    ]);
  });

  it('shares overrides with other replicas through the store', async () => {
    const subs = new Map<string, Set<(m: string) => void>>();
    const store = {
      publish: async (ch: string, m: string) => {
        for (const l of subs.get(ch) ?? []) l(m);
      },
      subscribe: async (ch: string, l: (m: string) => void) => {
        const set = subs.get(ch) ?? new Set();
        subs.set(ch, set);
        set.add(l);
        return { dispose: () => set.delete(l) };
      },
    } as unknown as Store;
    const r1 = make({ store });
    const r2 = make({ store });
    await Promise.resolve();
    r1.forceOpen('payments');
    await Promise.resolve();
    expect(r2.override('payments')).toBe('force-open');
    r2.reset();
    await Promise.resolve();
    expect(r1.override('payments')).toBe('none');
  });
});
