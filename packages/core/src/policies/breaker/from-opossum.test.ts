import CircuitBreaker from 'opossum';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isCancelledError, isCircuitOpenError } from '../../errors/bulwark-error.js';
import { pipeline } from '../../pipeline.js';
import { type BulwarkEvent, EventStream } from '../../telemetry/events.js';
import type { Operation } from '../../types.js';
import { retry } from '../retry.js';
import { fromOpossum, type OpossumPolicy } from './from-opossum.js';

const run = async (fn: Operation<unknown>, signal: AbortSignal, attempt: number) => fn(signal, attempt);
const boom = () => Promise.reject(new Error('boom'));

let breakers: CircuitBreaker[] = [];
let policies: OpossumPolicy[] = [];
function make(options: CircuitBreaker.Options = {}) {
  const breaker = new CircuitBreaker(run, {
    name: 'payments',
    timeout: false,
    resetTimeout: 1000,
    volumeThreshold: 2,
    errorThresholdPercentage: 50,
    ...options,
  });
  const events = new EventStream();
  const seen: BulwarkEvent[] = [];
  events.onAny((e) => seen.push(e));
  const policy = fromOpossum(breaker, { events });
  breakers.push(breaker);
  policies.push(policy);
  return { breaker, policy, seen };
}

beforeEach(() => {
  vi.useFakeTimers();
  breakers = [];
  policies = [];
});
afterEach(() => {
  for (const p of policies) p.close();
  for (const b of breakers) b.shutdown();
  vi.useRealTimers();
});

describe('fromOpossum (real opossum 10)', () => {
  it('runs each operation through opossum with the signal and attempt', async () => {
    const { policy, breaker } = make();
    const ac = new AbortController();
    const fn = vi.fn((signal: AbortSignal, attempt: number) => ({ signal, attempt }));
    await expect(policy.execute(fn, { signal: ac.signal, attempt: 2 })).resolves.toEqual({
      signal: ac.signal,
      attempt: 2,
    });
    expect(breaker.stats.fires).toBe(1);
    expect(policy.stats()).toMatchObject({ calls: 1, successes: 1, failures: 0 });
    expect(policy.name).toBe('payments');
  });

  it('opens on opossum thresholds, rejects with CircuitOpenError and maps the events', async () => {
    const { policy, seen } = make();
    await expect(policy.execute(boom)).rejects.toThrow('boom');
    await expect(policy.execute(boom)).rejects.toThrow('boom');
    expect(policy.state()).toBe('open');
    vi.advanceTimersByTime(400);
    const fn = vi.fn(() => 1);
    const err = await policy.execute(fn).catch((e: unknown) => e);
    expect(fn).not.toHaveBeenCalled();
    expect(isCircuitOpenError(err)).toBe(true);
    expect(err).toMatchObject({ retryAfterMs: 600, policy: 'payments', status: 503 });
    vi.advanceTimersByTime(600);
    expect(policy.state()).toBe('half-open');
    await expect(policy.execute(() => 'up')).resolves.toBe('up');
    expect(policy.state()).toBe('closed');
    expect(seen.map((e) => e.type)).toEqual([
      'breaker.opened',
      'breaker.rejected',
      'breaker.half-open',
      'breaker.closed',
    ]);
    expect(seen[0]).toMatchObject({ policy: 'payments', reason: 'threshold', failures: 2, errorRate: 100 });
    expect(seen[1]).toMatchObject({ retryAfterMs: 600 });
    expect(seen[3]).toMatchObject({ reason: 'probe-succeeded' });
  });

  it('maps forceOpen / forceClose / disable / reset onto open() / close() / disable() / enable()', async () => {
    const { policy, breaker, seen } = make();
    policy.forceOpen();
    expect(breaker.opened).toBe(true);
    expect(policy.state()).toBe('open');
    await expect(policy.execute(() => 1)).rejects.toSatisfy(isCircuitOpenError);
    policy.forceClose();
    expect(breaker.closed).toBe(true);
    await expect(policy.execute(() => 2)).resolves.toBe(2);
    policy.forceOpen();
    policy.disable();
    expect(policy.state()).toBe('closed');
    await expect(policy.execute(() => 3)).resolves.toBe(3);
    policy.reset();
    expect(breaker.enabled).toBe(true);
    expect(policy.state()).toBe('closed');
    expect(seen.filter((e) => e.type !== 'breaker.rejected')).toMatchObject([
      { type: 'breaker.opened', reason: 'forced' },
      { type: 'breaker.closed', reason: 'forced' },
      { type: 'breaker.opened', reason: 'forced' },
      { type: 'breaker.closed', reason: 'reset' },
    ]);
  });

  it('rejects an already-aborted call as cancelled without firing', async () => {
    const { policy, breaker } = make();
    const ac = new AbortController();
    ac.abort();
    await expect(policy.execute(() => 1, { signal: ac.signal })).rejects.toSatisfy(isCancelledError);
    expect(breaker.stats.fires).toBe(0);
  });

  it('sits in a Bulwark pipeline: retry does not retry an open opossum breaker forever', async () => {
    const { policy, breaker } = make({ volumeThreshold: 1 });
    const p = pipeline(
      retry({ maxAttempts: 3, initialDelay: 1, jitter: 'none', events: new EventStream() }),
      policy,
    );
    const fn = vi.fn(boom);
    const result = p.execute(fn).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    const err = await result;
    expect(fn).toHaveBeenCalledTimes(1);
    expect(isCircuitOpenError(err)).toBe(true);
    expect(breaker.opened).toBe(true);
  });

  it('close() stops mapping events and leaves the opossum breaker running', async () => {
    const { policy, breaker, seen } = make();
    policy.close();
    breaker.open();
    expect(seen).toEqual([]);
    expect(breaker.isShutdown).toBe(false);
    expect(() => fromOpossum({} as never)).toThrow(/opossum CircuitBreaker/);
  });
});
