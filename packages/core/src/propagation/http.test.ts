import http from 'node:http';
import https from 'node:https';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runWithContext } from '../context/context.js';
import { isDeadlineExceededError } from '../errors/bulwark-error.js';
import { propagatingAgent, withPropagation } from './http.js';
import { type Loopback, loopback, testContext } from './testing.test-helper.js';

let server: Loopback;
beforeAll(async () => {
  server = await loopback();
});
afterAll(() => server.close());
afterEach(() => {
  server.seen.length = 0;
});

function send(options: http.RequestOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('withPropagation', () => {
  const base = (): http.RequestOptions => ({ host: '127.0.0.1', port: server.port, path: '/h' });

  it('merges the headers inside a request context, not outside', async () => {
    await runWithContext(testContext(), () => send(withPropagation(base())));
    await send(withPropagation(base()));
    expect(server.seen[0]?.headers['x-request-id']).toBe('corr-123');
    expect(server.seen[0]?.headers.traceparent).toMatch(/^00-a{32}-[0-9a-f]{16}-01$/);
    expect(server.seen[1]?.headers['x-request-id']).toBeUndefined();
  });

  it('keeps the caller headers, in object and raw array form, and copies the options', async () => {
    const opts = { ...base(), headers: { 'X-Request-Id': 'mine' } };
    const out = runWithContext(testContext(), () => withPropagation(opts));
    expect(opts.headers).toEqual({ 'X-Request-Id': 'mine' });
    await send(out);
    await send(
      runWithContext(testContext(), () =>
        withPropagation({ ...base(), headers: ['host', `127.0.0.1:${server.port}`, 'x-request-id', 'raw'] }),
      ),
    );
    expect(server.seen[0]?.headers['x-request-id']).toBe('mine');
    expect(server.seen[0]?.headers.tracestate).toBe('vendor=x');
    expect(server.seen[1]?.headers['x-request-id']).toBe('raw');
    expect(server.seen[1]?.headers.traceparent).toBeDefined();
  });

  it('throws DEADLINE_EXCEEDED when the budget is spent', () => {
    let err: unknown;
    try {
      runWithContext(testContext({ deadline: Date.now() }), () => withPropagation(base()));
    } catch (e) {
      err = e;
    }
    expect(isDeadlineExceededError(err)).toBe(true);
  });
});

describe('propagatingAgent', () => {
  it('adds the headers to requests made through it inside a context', async () => {
    const agent = propagatingAgent({ margin: 0 });
    const deadline = Date.now() + 60_000;
    await runWithContext(testContext({ deadline }), () =>
      send({ port: server.port, host: '127.0.0.1', agent }),
    );
    await send({ port: server.port, host: '127.0.0.1', agent, headers: { traceparent: 'caller' } });
    await runWithContext(testContext(), () =>
      send({ port: server.port, host: '127.0.0.1', agent, headers: { traceparent: 'caller' } }),
    );
    const [a, b, c] = server.seen;
    expect(a?.headers['x-request-id']).toBe('corr-123');
    expect(Number(a?.headers['x-deadline-ms'])).toBeGreaterThan(59_000);
    expect(b?.headers['x-request-id']).toBeUndefined();
    expect(c?.headers.traceparent).toBe('caller');
    expect(c?.headers['x-request-id']).toBe('corr-123');
    agent.destroy();
  });

  it('fails a request whose budget is spent before it gets a socket', async () => {
    const agent = propagatingAgent();
    const err = await runWithContext(testContext({ deadline: Date.now() + 5 }), () =>
      send({ port: server.port, host: '127.0.0.1', agent }),
    ).catch((e) => e);
    expect(isDeadlineExceededError(err)).toBe(true);
    expect(server.seen).toHaveLength(0);
    agent.destroy();
  });

  it('builds an https.Agent on request', () => {
    const agent = propagatingAgent({ https: true, agent: { keepAlive: true } });
    expect(agent).toBeInstanceOf(https.Agent);
    agent.destroy();
  });
});
