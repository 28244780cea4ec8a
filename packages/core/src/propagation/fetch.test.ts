import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runWithContext } from '../context/context.js';
import { isDeadlineExceededError } from '../errors/bulwark-error.js';
import type { Disposable } from '../types.js';
import { enableFetchPropagation } from './fetch.js';
import { type Loopback, loopback, testContext } from './testing.test-helper.js';

let server: Loopback;
let handle: Disposable | undefined;
beforeAll(async () => {
  server = await loopback();
});
afterAll(() => server.close());
afterEach(() => {
  handle?.dispose();
  handle = undefined;
  server.seen.length = 0;
});

async function get(init?: RequestInit): Promise<void> {
  const res = await fetch(`${server.url}/x`, init);
  await res.text();
}

describe('enableFetchPropagation', () => {
  it('adds the headers to fetch calls inside a request context only', async () => {
    handle = enableFetchPropagation();
    await runWithContext(testContext(), () => get());
    await get();
    const [inside, outside] = server.seen;
    expect(inside?.headers['x-request-id']).toBe('corr-123');
    expect(inside?.headers.traceparent).toMatch(/^00-a{32}-[0-9a-f]{16}-01$/);
    expect(inside?.headers.tracestate).toBe('vendor=x');
    expect(outside?.headers['x-request-id']).toBeUndefined();
    expect(outside?.headers.traceparent).toBeUndefined();
  });

  it('adds nothing when not enabled, and stops after dispose', async () => {
    await runWithContext(testContext(), () => get());
    handle = enableFetchPropagation();
    handle.dispose();
    await runWithContext(testContext(), () => get());
    expect(server.seen.map((s) => s.headers['x-request-id'])).toEqual([undefined, undefined]);
  });

  it('does not override headers the caller set', async () => {
    handle = enableFetchPropagation();
    const mine = `00-${'d'.repeat(32)}-${'e'.repeat(16)}-00`;
    await runWithContext(testContext(), () =>
      get({ headers: { 'X-Request-Id': 'caller', traceparent: mine } }),
    );
    const h = server.seen[0]?.headers;
    expect(h?.['x-request-id']).toBe('caller');
    expect(h?.traceparent).toBe(mine);
    expect(h?.tracestate).toBe('vendor=x');
  });

  it('sends the remaining deadline minus the margin', async () => {
    handle = enableFetchPropagation({ margin: '1s' });
    await runWithContext(testContext({ deadline: Date.now() + 5000 }), () => get());
    const ms = Number(server.seen[0]?.headers['x-deadline-ms']);
    // Real clock: a few ms pass between the context and the request.
    expect(ms).toBeLessThanOrEqual(4000);
    expect(ms).toBeGreaterThan(3800);
  });

  it('fails fast with DEADLINE_EXCEEDED and never reaches the server when the budget is spent', async () => {
    handle = enableFetchPropagation({ margin: 50 });
    const err = await runWithContext(testContext({ deadline: Date.now() + 10 }), () => get()).catch((e) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(isDeadlineExceededError((err as Error).cause)).toBe(true);
    expect(server.seen).toHaveLength(0);
  });

  it('with failFast: false, sends a deadline of 0 instead', async () => {
    handle = enableFetchPropagation({ failFast: false });
    await runWithContext(testContext({ deadline: Date.now() - 1 }), () => get());
    expect(server.seen[0]?.headers['x-deadline-ms']).toBe('0');
  });

  it('leaves calls shouldPropagate refuses alone', async () => {
    handle = enableFetchPropagation({ shouldPropagate: (t) => t.origin !== server.url });
    await runWithContext(testContext(), () => get());
    expect(server.seen[0]?.headers['x-request-id']).toBeUndefined();
  });

  it('survives a shouldPropagate that throws', async () => {
    handle = enableFetchPropagation({
      shouldPropagate: () => {
        throw new Error('boom');
      },
    });
    await runWithContext(testContext(), () => get());
    expect(server.seen).toHaveLength(1);
  });
});
