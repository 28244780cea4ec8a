/**
 * The classifier is the policies' default (issue 8 item 2): run() retries every error but
 * cancellations, client errors and permanent ones; the breaker counts every error but
 * cancellations and client errors. Through the registry, as an application meets it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Bulwark, createBulwark } from '../registry/bulwark.js';
import { markPermanent, PermanentError } from './classify.js';

let bw: Bulwark | undefined;
afterEach(async () => {
  await bw?.close();
  bw = undefined;
});

async function attemptsFor(error: () => unknown): Promise<number> {
  bw = createBulwark({ policies: { dep: { retry: { maxAttempts: 3, initialDelay: 1, jitter: 'none' } } } });
  let n = 0;
  await bw
    .run('dep', () => {
      n++;
      throw error();
    })
    .catch(() => {});
  await bw.close();
  bw = undefined;
  return n;
}

describe('default classification through run()', () => {
  it("retries a plain throw new Error('HTTP 503'), a TypeError and a 503 status", async () => {
    expect(await attemptsFor(() => new Error('HTTP 503'))).toBe(3);
    expect(await attemptsFor(() => new TypeError('x is not a function'))).toBe(3);
    expect(await attemptsFor(() => Object.assign(new Error('busy'), { status: 503 }))).toBe(3);
    expect(await attemptsFor(() => Object.assign(new Error('slow down'), { statusCode: 429 }))).toBe(3);
  });

  it('does not retry client errors, permanent errors or cancellations', async () => {
    expect(await attemptsFor(() => Object.assign(new Error('nope'), { status: 404 }))).toBe(1);
    expect(await attemptsFor(() => new PermanentError('card declined'))).toBe(1);
    expect(await attemptsFor(() => markPermanent(new Error('HTTP 503')))).toBe(1);
    expect(await attemptsFor(() => new DOMException('aborted', 'AbortError'))).toBe(1);
  });

  it('opens the breaker on plain errors, not on client errors', async () => {
    bw = createBulwark({
      policies: { dep: { retry: false, circuitBreaker: { failureThreshold: 3 } } },
    });
    const fail = (e: unknown) => bw?.run('dep', () => Promise.reject(e), { key: 'dep' }).catch(() => {});
    for (let i = 0; i < 5; i++) await fail(Object.assign(new Error('bad input'), { status: 422 }));
    expect(bw.breaker('dep').state('dep')).toBe('closed');
    for (let i = 0; i < 3; i++) await fail(new Error('HTTP 503'));
    expect(bw.breaker('dep').state('dep')).toBe('open');
  });
});
