/**
 * The root README's quick start, run as written against a real local payments service: a 503
 * from the dependency is a failure (retried, counted by the breaker, answered by the fallback),
 * never a 200 carrying the dependency's error body (issue 8, finding 1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBlock, startBlock } from './run-ts.js';

describe('README quick start against a failing dependency', () => {
  let app: RunningBlock;
  const get = (path: string) => fetch(`${app.url}${path}`, { signal: AbortSignal.timeout(10_000) });

  beforeAll(async () => {
    // The quick start block alone (the block continuing it calls the service at start-up).
    app = await startBlock('README.md', 'quick-start', {
      downstream: { status: 503 },
      env: { NODE_ENV: 'production' },
    });
  }, 30_000);

  afterAll(async () => {
    if (app) await app.stop();
  });

  const payments = () => app.downstreams[0]!;

  it('a 503 is retried three times and answered as a 502 problem, not a 200', async () => {
    const before = payments().requests.length;
    const res = await get('/payments/1');
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await res.json()) as Record<string, unknown>;
    // The last attempt's downstream failure, or the retry's summary of all three.
    expect(['DOWNSTREAM_ERROR', 'RETRY_EXHAUSTED']).toContain(problem.code);
    // This service's own problem document, not the dependency's body passed on.
    expect(problem).toMatchObject({ status: 502, correlationId: res.headers.get('x-request-id') });
    const calls = payments().requests.slice(before);
    expect(calls).toHaveLength(3);
    expect(calls.every((c) => c.path === '/payments/1')).toBe(true);
    // The request's correlation ID went along on every attempt.
    expect(new Set(calls.map((c) => c.headers['x-request-id'])).size).toBe(1);
    expect(calls[0]?.headers['x-request-id']).toBe(res.headers.get('x-request-id'));
  });

  it('then the breaker opens: calls fail fast with 503 CIRCUIT_OPEN and Retry-After, without reaching the service', async () => {
    let res: Response | undefined;
    for (let i = 0; i < 10; i++) {
      res = await get(`/payments/${i + 2}`);
      if (res.status === 503) break;
      expect(res.status).toBe(502);
      await res.body?.cancel();
    }
    expect(res?.status).toBe(503);
    const problem = (await res!.json()) as Record<string, unknown>;
    // bulwark.fetch's own refusal reaches the client as itself (finding 3), not as DOWNSTREAM_ERROR.
    expect(problem.code).toBe('CIRCUIT_OPEN');
    expect(Number(res!.headers.get('retry-after'))).toBeGreaterThan(0);
    const before = payments().requests.length;
    const again = await get('/payments/99');
    expect(again.status).toBe(503);
    await again.body?.cancel();
    expect(payments().requests.length).toBe(before);
  });

  it('the fallback answers when the optional call fails', async () => {
    const res = await get('/recommendations');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ items: [] });
  });

  it('once the service answers again, a 200 is passed through', async () => {
    payments().script = { status: 200, body: { items: ['tea'] } };
    const res = await get('/recommendations');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ items: ['tea'] });
  });
});
