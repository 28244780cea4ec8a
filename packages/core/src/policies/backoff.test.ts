import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyJitter, type BackoffConfig, baseDelay, nextDelay } from './backoff.js';

const cfg = (over: Partial<BackoffConfig> = {}): BackoffConfig => ({
  backoff: 'exponential',
  initialDelayMs: 100,
  maxDelayMs: 10_000,
  factor: 2,
  jitter: 'none',
  ...over,
});

describe('baseDelay', () => {
  it('grows exponentially, linearly or not at all', () => {
    expect([1, 2, 3, 4].map((r) => baseDelay('exponential', r, 100, 2))).toEqual([100, 200, 400, 800]);
    expect([1, 2, 3, 4].map((r) => baseDelay('exponential', r, 100, 3))).toEqual([100, 300, 900, 2700]);
    expect([1, 2, 3].map((r) => baseDelay('linear', r, 100, 2))).toEqual([100, 200, 300]);
    expect([1, 2, 3].map((r) => baseDelay('constant', r, 100, 2))).toEqual([100, 100, 100]);
  });
});

describe('applyJitter', () => {
  it('none keeps the base, full spans [0, base), equal spans [base/2, base)', () => {
    expect(applyJitter('none', 400, 0, 100, () => 0.5)).toBe(400);
    expect(applyJitter('full', 400, 0, 100, () => 0)).toBe(0);
    expect(applyJitter('full', 400, 0, 100, () => 0.5)).toBe(200);
    expect(applyJitter('equal', 400, 0, 100, () => 0)).toBe(200);
    expect(applyJitter('equal', 400, 0, 100, () => 0.5)).toBe(300);
  });

  it('decorrelated draws from [initial, 3 × previous)', () => {
    expect(applyJitter('decorrelated', 999, 200, 100, () => 0)).toBe(100);
    expect(applyJitter('decorrelated', 999, 200, 100, () => 0.5)).toBe(350);
  });
});

describe('nextDelay', () => {
  it('caps at maxDelay, including huge exponents', () => {
    expect(nextDelay(cfg({ maxDelayMs: 1000 }), 10, 0, null)).toBe(1000);
    expect(nextDelay(cfg({ maxDelayMs: 1000 }), 5000, 0, null)).toBe(1000);
  });

  it('uses a custom function as is, clamped, and passes its arguments', () => {
    const seen: unknown[] = [];
    const backoff = (a: number, p: number, e: unknown) => {
      seen.push([a, p, e]);
      return a * 7;
    };
    expect(nextDelay(cfg({ backoff, jitter: 'full' }), 3, 42, 'err', () => 0)).toBe(21);
    expect(seen).toEqual([[3, 42, 'err']]);
    expect(nextDelay(cfg({ backoff: () => Number.NaN }), 1, 0, null)).toBe(0);
    expect(nextDelay(cfg({ backoff: () => -5 }), 1, 0, null)).toBe(0);
    expect(nextDelay(cfg({ backoff: () => 1e9 }), 1, 0, null)).toBe(10_000);
  });

  it('property: every delay lies in [0, maxDelay] whatever the inputs', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('exponential', 'linear', 'constant' as const),
        fc.constantFrom('none', 'full', 'equal', 'decorrelated' as const),
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.double({ min: 1, max: 10, noNaN: true }),
        fc.integer({ min: 1, max: 2000 }),
        fc.double({ min: 0, max: 1e7, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (backoff, jitter, initialDelayMs, maxDelayMs, factor, retry, prev, r) => {
          const d = nextDelay(
            { backoff, jitter, initialDelayMs, maxDelayMs, factor },
            retry,
            prev,
            null,
            () => r,
          );
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThanOrEqual(maxDelayMs);
        },
      ),
    );
  });

  it('property: without jitter, exponential delays never shrink', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 60 }), (initial, retry) => {
        const c = cfg({ initialDelayMs: initial, maxDelayMs: 60_000 });
        expect(nextDelay(c, retry + 1, 0, null)).toBeGreaterThanOrEqual(nextDelay(c, retry, 0, null));
      }),
    );
  });
});
