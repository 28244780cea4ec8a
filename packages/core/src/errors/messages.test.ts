import { describe, expect, it } from 'vitest';
import { rateLimitedDetail } from './messages.js';

describe('rateLimitedDetail', () => {
  it('names the kind of key, not the key', () => {
    expect(rateLimitedDetail({ limit: 10, windowMs: 1000, keyKind: 'tenant' })).toBe(
      'Rate limit of 10 requests per second exceeded for this tenant.',
    );
    expect(rateLimitedDetail({ limit: 1, windowMs: 60_000, keyKind: 'ip' })).toBe(
      'Rate limit of 1 request per minute exceeded for this client address.',
    );
    expect(rateLimitedDetail({ limit: 5, windowMs: 7_200_000, keyKind: 'route' })).toBe(
      'Rate limit of 5 requests per 2 hours exceeded for this route.',
    );
    expect(rateLimitedDetail({ limit: 5, windowMs: 1500 })).toBe(
      'Rate limit of 5 requests per 1500 ms exceeded for this client.',
    );
  });
});
