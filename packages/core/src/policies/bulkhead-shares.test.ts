/**
 * The bulkhead's shares: criticality-aware shedding (sheddable first, critical last), fairness per
 * caller inside a shared compartment, and limits per key class (tiers).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runWithContext } from '../context/context.js';
import { InvalidConfigError, isBulkheadFullError } from '../errors/bulwark-error.js';
import { type BulkheadRelease, bulkhead } from './bulkhead.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Records the order in which queued acquisitions were granted. */
function granted(order: string[], name: string, p: Promise<BulkheadRelease>) {
  const out: { release?: BulkheadRelease; error?: unknown } = {};
  p.then(
    (r) => {
      order.push(name);
      out.release = r;
    },
    (e: unknown) => {
      out.error = e;
    },
  );
  return out;
}

describe('bulkhead criticality', () => {
  it('lets sheddable calls fill only their share (half by default); default and critical ones the rest', () => {
    const bh = bulkhead({ maxConcurrent: 4 });
    expect(bh.tryAcquire('k', 'sheddable')).toBeDefined();
    expect(bh.tryAcquire('k', 'sheddable')).toBeDefined();
    expect(bh.tryAcquire('k', 'sheddable')).toBeUndefined();
    expect(bh.tryAcquire('k', 'default')).toBeDefined();
    expect(bh.tryAcquire('k', 'critical')).toBeDefined();
    expect(bh.tryAcquire('k', 'critical')).toBeUndefined();
  });

  it('keeps the slots above the default share for critical calls', async () => {
    const bh = bulkhead({ maxConcurrent: 4, criticality: { default: 0.75 } });
    for (let i = 0; i < 3; i++) expect(bh.tryAcquire('k')).toBeDefined();
    expect(bh.tryAcquire('k')).toBeUndefined();
    await expect(bh.acquire('k')).rejects.toSatisfy(isBulkheadFullError);
    expect(bh.tryAcquire('k', 'critical')).toBeDefined();
  });

  it("reads the request context's criticality when none is passed", async () => {
    const bh = bulkhead({ maxConcurrent: 2 });
    const ctx = { correlationId: 'c', trace: {} as never, criticality: 'sheddable' as const, degraded: [] };
    await runWithContext(ctx, async () => {
      expect(bh.tryAcquire('k')).toBeDefined();
      expect(bh.tryAcquire('k')).toBeUndefined();
      await expect(bh.execute(() => 'x', { key: 'k' })).rejects.toSatisfy(isBulkheadFullError);
    });
    expect(await bh.execute(() => 'x', { key: 'k' })).toBe('x');
  });

  it('hands a freed slot to the oldest waiter of the highest criticality', async () => {
    const bh = bulkhead({ maxConcurrent: 1, maxQueue: 4 });
    const first = bh.tryAcquire('k') as BulkheadRelease;
    const order: string[] = [];
    const s = granted(order, 'sheddable', bh.acquire('k', undefined, 'sheddable'));
    const d1 = granted(order, 'default-1', bh.acquire('k', undefined, 'default'));
    const d2 = granted(order, 'default-2', bh.acquire('k', undefined, 'default'));
    const c = granted(order, 'critical', bh.acquire('k', undefined, 'critical'));
    expect(bh.stats('k')).toMatchObject({ running: 1, queued: 4 });
    first();
    await vi.advanceTimersByTimeAsync(0);
    c.release?.();
    await vi.advanceTimersByTimeAsync(0);
    d1.release?.();
    await vi.advanceTimersByTimeAsync(0);
    d2.release?.();
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual(['critical', 'default-1', 'default-2', 'sheddable']);
    s.release?.();
    expect(bh.stats('k')).toMatchObject({ running: 0, queued: 0 });
  });

  it('pushes the newest lower-criticality waiter out of a full queue for a more critical call', async () => {
    const bh = bulkhead({ maxConcurrent: 1, maxQueue: 2 });
    const first = bh.tryAcquire('k') as BulkheadRelease;
    const order: string[] = [];
    const s = granted(order, 'sheddable', bh.acquire('k', undefined, 'sheddable'));
    const d1 = granted(order, 'default-1', bh.acquire('k', undefined, 'default'));
    // Full: a default call takes the sheddable one's place, then a critical one the newest default's.
    const d2 = granted(order, 'default-2', bh.acquire('k', undefined, 'default'));
    await vi.advanceTimersByTimeAsync(0);
    expect(isBulkheadFullError(s.error)).toBe(true);
    expect((s.error as Error).message).toContain('a more critical request took its place');
    const c = granted(order, 'critical', bh.acquire('k', undefined, 'critical'));
    await vi.advanceTimersByTimeAsync(0);
    expect(isBulkheadFullError(d2.error)).toBe(true);
    // Nothing lower is left to push out: a sheddable call is refused.
    await expect(bh.acquire('k', undefined, 'sheddable')).rejects.toSatisfy(isBulkheadFullError);
    first();
    await vi.advanceTimersByTimeAsync(0);
    c.release?.();
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual(['critical', 'default-1']);
    d1.release?.();
    expect(bh.stats('k')).toMatchObject({ running: 0, queued: 0 });
  });

  it('lets sheddable calls fill only their share of the queue', async () => {
    const bh = bulkhead({ maxConcurrent: 1, maxQueue: 2 });
    bh.tryAcquire('k');
    const queued = bh.acquire('k', undefined, 'sheddable');
    await expect(bh.acquire('k', undefined, 'sheddable')).rejects.toSatisfy(isBulkheadFullError);
    bh.close();
    await expect(queued).rejects.toThrow('closed');
  });
});

describe('bulkhead fairness (maxSharePerCaller)', () => {
  it('caps what one caller holds of the slots and the queue; the others still get in', async () => {
    const bh = bulkhead({ maxConcurrent: 4, maxQueue: 4, maxSharePerCaller: 0.5 });
    const a1 = bh.tryAcquire('k', undefined, 'A') as BulkheadRelease;
    expect(bh.tryAcquire('k', undefined, 'A')).toBeDefined();
    expect(bh.tryAcquire('k', undefined, 'A')).toBeUndefined();
    const order: string[] = [];
    const aq1 = granted(order, 'A-queued-1', bh.acquire('k', undefined, undefined, 'A'));
    granted(order, 'A-queued-2', bh.acquire('k', undefined, undefined, 'A'));
    const over = bh.acquire('k', undefined, undefined, 'A');
    await expect(over).rejects.toThrow('this caller already holds its share');
    // B is not held back by A's waiters.
    const b1 = bh.tryAcquire('k', undefined, 'B') as BulkheadRelease;
    expect(bh.tryAcquire('k', undefined, 'B')).toBeDefined();
    expect(bh.stats('k')).toMatchObject({ running: 4, queued: 2 });
    // A slot B frees does not go to A (at its cap): it stays free for others.
    b1();
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual([]);
    expect(bh.stats('k')).toMatchObject({ running: 3, queued: 2 });
    // A slot A frees goes to A's oldest waiter.
    a1();
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual(['A-queued-1']);
    aq1.release?.();
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual(['A-queued-1', 'A-queued-2']);
  });

  it("reads the request context's caller when none is passed", async () => {
    const bh = bulkhead({ maxConcurrent: 2, maxSharePerCaller: 0.5 });
    const ctx = (caller: string) => ({
      correlationId: 'c',
      trace: {} as never,
      criticality: 'default' as const,
      degraded: [],
      caller,
    });
    const hold = () => new Promise<void>(() => {});
    runWithContext(ctx('tenant-a'), () => void bh.execute(hold, { key: 'k' }));
    await runWithContext(ctx('tenant-a'), async () => {
      await expect(bh.execute(() => 'x', { key: 'k' })).rejects.toSatisfy(isBulkheadFullError);
    });
    // ExecuteOptions.caller wins over the context.
    await expect(bh.execute(() => 'y', { key: 'k', caller: 'tenant-a' })).rejects.toSatisfy(
      isBulkheadFullError,
    );
    await runWithContext(ctx('tenant-b'), async () => {
      expect(await bh.execute(() => 'x', { key: 'k' })).toBe('x');
    });
  });

  /**
   * The measurement, replayed on fake time: one tenant at 2.7 requests per second (under its
   * rate limit) on a route whose calls take 5 s filled a 10-slot bulkhead and left every other client
   * at 0% success. With a per-caller share, the others get through.
   */
  async function replay(maxSharePerCaller: number | undefined) {
    const bh = bulkhead({
      maxConcurrent: 10,
      maxQueue: 0,
      ...(maxSharePerCaller ? { maxSharePerCaller } : {}),
    });
    const tally = { heavy: { ok: 0, refused: 0 }, others: { ok: 0, refused: 0 } };
    const call = (caller: string, who: 'heavy' | 'others') => {
      bh.execute(() => new Promise((r) => setTimeout(r, 5000)), { key: 'route', caller }).then(
        () => tally[who].ok++,
        () => tally[who].refused++,
      );
    };
    // heavy: every 370 ms for 41 s; four other clients: one request each every 5 s.
    for (let i = 0; i < 111; i++) setTimeout(() => call('tenant-heavy', 'heavy'), Math.round(i * 370));
    for (let t = 6000; t < 41_000; t += 5000)
      for (let c = 0; c < 4; c++) setTimeout(() => call(`client-${c}`, 'others'), t + c * 1250);
    await vi.advanceTimersByTimeAsync(50_000);
    return tally;
  }

  it('without a share one steady tenant starves everyone else; with one, the others get through', async () => {
    const unfair = await replay(undefined);
    const fair = await replay(0.5);
    // Deterministic on fake time: without a share the others lose two requests in three (9 of 28 served)...
    expect(unfair.others).toEqual({ ok: 9, refused: 19 });
    // ...with it every one of theirs is served, and the heavy tenant still gets its half.
    expect(fair.others).toEqual({ ok: 28, refused: 0 });
    expect(fair.heavy.ok).toBe(40);
  });
});

describe('bulkhead limits per key class (tiers)', () => {
  it('gives a key the limit of its class: the exact name, or the name then ":"', () => {
    const bh = bulkhead({
      maxConcurrent: 3,
      limits: { 'tier:free': 1, 'tier:pro': { maxConcurrent: 5, maxQueue: 2 }, 'tier:pro:vip': 8 },
    });
    expect(bh.stats('tier:free')).toMatchObject({ maxConcurrent: 1, maxQueue: 0 });
    expect(bh.stats('tier:free:acme')).toMatchObject({ maxConcurrent: 1 });
    expect(bh.stats('tier:freeloader')).toMatchObject({ maxConcurrent: 3 });
    expect(bh.stats('tier:pro:acme')).toMatchObject({ maxConcurrent: 5, maxQueue: 2 });
    expect(bh.stats('tier:pro:vip')).toMatchObject({ maxConcurrent: 8 });
    expect(bh.stats('other')).toMatchObject({ maxConcurrent: 3 });
    expect(bh.tryAcquire('tier:free', 'critical')).toBeDefined();
    expect(bh.tryAcquire('tier:free', 'critical')).toBeUndefined();
    for (let i = 0; i < 5; i++) expect(bh.tryAcquire('tier:pro', 'critical')).toBeDefined();
    expect(bh.tryAcquire('tier:pro', 'critical')).toBeUndefined();
  });

  it('refuses bad shares and classes with the key, the value and the fix', () => {
    const err = (() => {
      try {
        bulkhead({
          criticality: { sheddable: 0 },
          maxSharePerKey: 0.5,
          limits: { 'tier:free': 0, 'tier:pro': { maxQueue: 1 } },
        } as never);
      } catch (e) {
        return e as InvalidConfigError;
      }
    })();
    expect(err).toBeInstanceOf(InvalidConfigError);
    const text = err?.message ?? '';
    expect(text).toContain(
      'bulkhead.criticality.sheddable: expected a share greater than 0 and at most 1, got 0',
    );
    expect(text).toContain("did you mean 'maxSharePerCaller'?");
    expect(text).toContain('bulkhead.limits.tier:free: expected a positive integer, got 0');
    expect(text).toContain('bulkhead.limits.tier:pro.maxConcurrent: expected a positive integer (required)');
  });
});
