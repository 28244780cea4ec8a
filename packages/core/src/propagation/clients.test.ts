import axios from 'axios';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runWithContext } from '../context/context.js';
import { isDeadlineExceededError } from '../errors/bulwark-error.js';
import { axiosInterceptor, type GotOptionsLike, gotHooks } from './clients.js';
import { type Loopback, loopback, testContext } from './testing.test-helper.js';

let server: Loopback;
beforeAll(async () => {
  server = await loopback();
});
afterAll(() => server.close());
afterEach(() => {
  server.seen.length = 0;
});

describe('axiosInterceptor', () => {
  it('adds the headers inside a context, keeps caller headers, and ejects on dispose', async () => {
    const api = axios.create({ baseURL: server.url });
    const handle = axiosInterceptor(api);
    await runWithContext(testContext(), () => api.get('/a'));
    await runWithContext(testContext(), () => api.get('/b', { headers: { 'X-Request-Id': 'mine' } }));
    await api.get('/c');
    handle.dispose();
    await runWithContext(testContext(), () => api.get('/d'));
    const [a, b, c, d] = server.seen;
    expect(a?.headers['x-request-id']).toBe('corr-123');
    expect(a?.headers.traceparent).toMatch(/^00-a{32}-[0-9a-f]{16}-01$/);
    expect(b?.headers['x-request-id']).toBe('mine');
    expect(b?.headers.tracestate).toBe('vendor=x');
    expect(c?.headers['x-request-id']).toBeUndefined();
    expect(d?.headers['x-request-id']).toBeUndefined();
  });

  it('rejects with DEADLINE_EXCEEDED without sending when the budget is spent', async () => {
    const api = axios.create({ baseURL: server.url });
    axiosInterceptor(api, { margin: '1s' });
    const err = await runWithContext(testContext({ deadline: Date.now() + 500 }), () =>
      api.get('/late'),
    ).catch((e) => e);
    expect(isDeadlineExceededError(err)).toBe(true);
    expect(server.seen).toHaveLength(0);
  });
});

describe('gotHooks', () => {
  const options = (headers: Record<string, string> = {}): GotOptionsLike => ({
    headers,
    url: new URL('http://orders.internal/o/1'),
    method: 'GET',
  });

  it('sets missing headers inside a context only', () => {
    const [hook] = gotHooks().beforeRequest;
    const outside = options();
    hook?.(outside);
    expect(outside.headers).toEqual({});
    const inside = options({ 'x-request-id': 'mine' });
    runWithContext(testContext({ deadline: Date.now() + 10_000 }), () => hook?.(inside));
    expect(inside.headers['x-request-id']).toBe('mine');
    expect(inside.headers.traceparent).toMatch(/^00-a{32}-[0-9a-f]{16}-01$/);
    expect(Number(inside.headers['x-deadline-ms'])).toBeGreaterThan(9000);
  });

  it('throws DEADLINE_EXCEEDED for a spent budget and honours shouldPropagate', () => {
    const [hook] = gotHooks({ shouldPropagate: (t) => t.origin === 'http://orders.internal' }).beforeRequest;
    expect(() => runWithContext(testContext({ deadline: Date.now() - 1 }), () => hook?.(options()))).toThrow(
      /deadline/,
    );
    const [other] = gotHooks({ shouldPropagate: () => false }).beforeRequest;
    const o = options();
    runWithContext(testContext(), () => other?.(o));
    expect(o.headers).toEqual({});
  });
});
