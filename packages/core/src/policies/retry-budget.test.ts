import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidConfigError } from '../errors/bulwark-error.js';
import { RetryBudget } from './retry-budget.js';

const T0 = 1_700_000_000_000;

describe('RetryBudget', () => {
  it('allows minPerSecond × window retries with no calls at all', () => {
    const b = new RetryBudget({ ratio: 0.2, minPerSecond: 1, windowMs: 10_000 });
    for (let i = 0; i < 10; i++) expect(b.tryRetry(T0)).toBe(true);
    expect(b.tryRetry(T0)).toBe(false);
  });

  it('adds ratio × calls on top of the floor', () => {
    const b = new RetryBudget({ ratio: 0.5, minPerSecond: 0, windowMs: 1000 });
    expect(b.tryRetry(T0)).toBe(false);
    for (let i = 0; i < 4; i++) b.recordCall(T0);
    expect(b.tryRetry(T0)).toBe(true);
    expect(b.tryRetry(T0)).toBe(true);
    expect(b.tryRetry(T0)).toBe(false);
    expect(b.stats(T0)).toEqual({ calls: 4, retries: 2, allowed: 0 });
  });

  it('forgets calls and retries once they slide out of the window', () => {
    const b = new RetryBudget({ ratio: 1, minPerSecond: 0, windowMs: 1000, buckets: 10 });
    b.recordCall(T0);
    expect(b.tryRetry(T0)).toBe(true);
    expect(b.tryRetry(T0 + 500)).toBe(false);
    // The call and the retry are still in the window at +999ms...
    expect(b.stats(T0 + 999)).toMatchObject({ calls: 1, retries: 1 });
    // ...and gone one window later.
    expect(b.stats(T0 + 1000)).toEqual({ calls: 0, retries: 0, allowed: 0 });
    b.recordCall(T0 + 1000);
    expect(b.tryRetry(T0 + 1000)).toBe(true);
  });

  it('slides bucket by bucket', () => {
    const b = new RetryBudget({ ratio: 1, minPerSecond: 0, windowMs: 1000, buckets: 10 });
    b.recordCall(T0); // bucket 0
    b.recordCall(T0 + 500); // bucket 5
    expect(b.stats(T0 + 999).calls).toBe(2);
    expect(b.stats(T0 + 1000).calls).toBe(1);
    expect(b.stats(T0 + 1499).calls).toBe(1);
    expect(b.stats(T0 + 1500).calls).toBe(0);
    // A long silence clears everything.
    b.recordCall(T0 + 2000);
    expect(b.stats(T0 + 60_000).calls).toBe(0);
  });

  it('survives a clock stepping backwards', () => {
    const b = new RetryBudget({ ratio: 1, minPerSecond: 0, windowMs: 1000 });
    b.recordCall(T0 + 5000);
    b.recordCall(T0);
    expect(b.stats(T0 + 5000).calls).toBe(2);
  });

  it('validates its options, naming them', () => {
    expect(() => new RetryBudget({ ratio: -1 })).toThrow(
      /budget\.ratio: expected a ratio from 0 to 1, got -1/,
    );
    expect(() => new RetryBudget({ ratio: 1.5 })).toThrow(/budget\.ratio: .*got 1\.5/);
    expect(() => new RetryBudget({ minPerSecond: Number.NaN })).toThrow(/budget\.minPerSecond/);
    expect(() => new RetryBudget({ windowMs: 0 })).toThrow(/budget\.windowMs/);
    expect(() => new RetryBudget({ buckets: 1.5 })).toThrow(/budget\.buckets/);
    expect(() => new RetryBudget({ ratio: 2, buckets: 0 })).toThrow(InvalidConfigError);
  });

  it('property: retries granted in one window never exceed ratio × calls + floor', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 5 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 999 })), { maxLength: 200 }),
        (ratio, minPerSecond, ops) => {
          const b = new RetryBudget({ ratio, minPerSecond, windowMs: 1000 });
          let calls = 0;
          let granted = 0;
          // All ops fall inside one window (times sorted, under 1s), so nothing expires.
          for (const [isCall, t] of [...ops].sort((x, y) => x[1] - y[1])) {
            if (isCall) {
              b.recordCall(T0 + t);
              calls++;
            } else if (b.tryRetry(T0 + t)) granted++;
            expect(granted).toBeLessThanOrEqual(ratio * calls + minPerSecond);
          }
        },
      ),
    );
  });
});
