import { describe, expect, it } from 'vitest';
import { deepMerge, findPath } from './merge.js';

describe('deepMerge', () => {
  it('merges plain objects deeply with later layers winning, and never mutates inputs', () => {
    const code = { policies: { a: { retry: { maxAttempts: 3, initialDelay: '100ms' }, timeout: '5s' } } };
    const file = { policies: { a: { retry: { maxAttempts: 4 } }, b: { timeout: '1s' } } };
    const env = { policies: { a: { retry: { maxAttempts: 5 } } } };
    const snapshot = JSON.stringify([code, file, env]);
    const merged = deepMerge<typeof code>(code, file, env);
    expect(merged).toEqual({
      policies: {
        a: { retry: { maxAttempts: 5, initialDelay: '100ms' }, timeout: '5s' },
        b: { timeout: '1s' },
      },
    });
    expect(JSON.stringify([code, file, env])).toBe(snapshot);
    merged.policies.a.retry.maxAttempts = 9;
    expect(code.policies.a.retry.maxAttempts).toBe(3);
  });

  it('replaces non-plain values, skips undefined, and lets true keep an object', () => {
    const fn = () => 1;
    const store = new (class Store {})();
    expect(deepMerge({ a: [1, 2], f: { value: 1 }, s: store }, { a: [3], f: fn, s: undefined })).toEqual({
      a: [3],
      f: fn,
      s: store,
    });
    expect(deepMerge({ cb: { window: '20s' } }, { cb: true })).toEqual({ cb: { window: '20s' } });
    expect(deepMerge({ cb: { window: '20s' } }, { cb: false })).toEqual({ cb: false });
    expect(deepMerge({ cb: true }, { cb: { window: '5s' } })).toEqual({ cb: { window: '5s' } });
    expect(deepMerge(undefined, undefined)).toBeUndefined();
  });
});

describe('findPath', () => {
  it('finds dotted paths, with dots inside keys and list indexes', () => {
    const obj = {
      policies: { 'v1.api': { retry: { maxAttempts: 1 } } },
      http: { correlation: { accept: ['a'] } },
    };
    expect(findPath(obj, 'policies.v1.api.retry.maxAttempts')).toEqual([
      'policies',
      'v1.api',
      'retry',
      'maxAttempts',
    ]);
    expect(findPath(obj, 'http.correlation.accept[0]')).toEqual(['http', 'correlation', 'accept']);
    expect(findPath(obj, 'policies.v1.api.timeout')).toBeUndefined();
    expect(findPath(undefined, 'x')).toBeUndefined();
  });
});
