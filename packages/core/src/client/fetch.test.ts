import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { runWithContext } from '../context/context.js';
import {
  isBulwarkError,
  isCircuitOpenError,
  isDeadlineExceededError,
  isTimeoutError,
} from '../errors/bulwark-error.js';
import { isRetryable } from '../errors/classify.js';
import { ERROR_CODES } from '../errors/codes.js';
import { toProblem } from '../errors/problem.js';
import { retry } from '../policies/retry.js';
import { type Loopback, loopback, type Script, testContext } from '../propagation/testing.test-helper.js';
import { type Bulwark, createBulwark } from '../registry/bulwark.js';
import { DownstreamError, isDownstreamError } from './downstream-error.js';
import { createResilientFetch, resilientFetch } from './fetch.js';

const PROBLEM = 'application/problem+json';
let server: Loopback;
let script: Script;
let bulwark: Bulwark;

beforeAll(async () => {
  server = await loopback((n, req, res) => script(n, req, res));
});
afterAll(() => server.close());
afterEach(async () => {
  vi.useRealTimers();
  server.seen.length = 0;
  await bulwark?.close();
});

function make(retry: Record<string, unknown> | false = { maxAttempts: 3, initialDelay: 1, jitter: 'none' }) {
  bulwark = createBulwark({
    policies: { 'payments-api': { retry: retry as never }, 'orders-api': {} },
  });
  return bulwark;
}

const status =
  (...codes: number[]): Script =>
  (n, _req, res) => {
    res.statusCode = codes[Math.min(n, codes.length - 1)] as number;
    res.end(`answer ${n}`);
  };

const problem =
  (code: number, body: Record<string, unknown>, headers: Record<string, string> = {}): Script =>
  (_n, _req, res) => {
    res.writeHead(code, { 'content-type': PROBLEM, ...headers });
    res.end(JSON.stringify(body));
  };

describe('bulwark.fetch', () => {
  it('retries a 503 and resolves with the success', async () => {
    script = status(503, 200);
    const res = await make().fetch('payments-api', `${server.url}/charge`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('answer 1');
    expect(server.seen).toHaveLength(2);
  });

  it('resolves non-failure responses, 404 included, without retrying', async () => {
    script = status(404);
    const res = await make().fetch('payments-api', `${server.url}/missing`);
    expect(res.status).toBe(404);
    expect(server.seen).toHaveLength(1);
  });

  it('honours Retry-After before the next attempt', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    script = (n, _req, res) => {
      res.writeHead(n === 0 ? 503 : 200, n === 0 ? { 'retry-after': '2' } : {});
      res.end();
    };
    const b = make({ maxAttempts: 2, initialDelay: 1, maxDelay: '5s', jitter: 'none' });
    const delays: number[] = [];
    const scheduled = new Promise<void>((resolve) =>
      b.events.on('retry.scheduled', (e) => {
        delays.push(e.delayMs);
        resolve();
      }),
    );
    const call = b.fetch('payments-api', `${server.url}/ra`);
    await scheduled;
    expect(delays).toEqual([2000]);
    const second = server.next();
    await vi.advanceTimersByTimeAsync(1900);
    expect(server.seen).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    await second;
    expect((await call).status).toBe(200);
  });

  it('does not retry a POST without an Idempotency-Key', async () => {
    script = status(503, 200);
    const err = await make()
      .fetch('payments-api', `${server.url}/charge`, { method: 'POST', body: '{}' })
      .catch((e) => e);
    expect(isDownstreamError(err)).toBe(true);
    expect(server.seen).toHaveLength(1);
  });

  it('retries a POST that carries an Idempotency-Key, or when the caller opts in', async () => {
    script = status(503, 200);
    const b = make();
    const res = await b.fetch('payments-api', `${server.url}/charge`, {
      method: 'POST',
      body: '{}',
      headers: { 'Idempotency-Key': 'k1' },
    });
    expect(res.status).toBe(200);
    expect(server.seen).toHaveLength(2);
    expect(server.seen[1]?.headers['idempotency-key']).toBe('k1');
    server.seen.length = 0;
    const patched = await b.fetch('payments-api', `${server.url}/charge`, {
      method: 'PATCH',
      body: 'x',
      idempotent: true,
    });
    expect(patched.status).toBe(200);
    expect(server.seen).toHaveLength(2);
  });

  it('propagates the context headers without enableFetchPropagation, sending the current budget on each attempt', async () => {
    script = status(503, 200);
    const ctx = testContext({ deadline: Date.now() + 30_000 });
    await runWithContext(ctx, () =>
      make().fetch('payments-api', `${server.url}/p`, { headers: { 'x-request-id': 'mine' } }),
    );
    for (const s of server.seen) {
      expect(s.headers['x-request-id']).toBe('mine');
      expect(s.headers.traceparent).toMatch(/^00-a{32}-[0-9a-f]{16}-01$/);
      expect(Number(s.headers['x-deadline-ms'])).toBeGreaterThan(29_000);
    }
  });

  it('fails fast with DEADLINE_EXCEEDED and sends nothing when the budget is spent', async () => {
    script = status(200);
    const err = await runWithContext(testContext({ deadline: Date.now() + 5 }), () =>
      make().fetch('payments-api', `${server.url}/late`),
    ).catch((e) => e);
    expect(isDeadlineExceededError(err)).toBe(true);
    expect(server.seen).toHaveLength(0);
  });

  it('aborts the call when the deadline passes', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    script = () => {}; // never answers
    const arrived = server.next();
    const call = runWithContext(testContext({ deadline: Date.now() + 1000 }), () =>
      make(false).fetch('orders-api', `${server.url}/hang`),
    ).catch((e) => e);
    await arrived;
    await vi.advanceTimersByTimeAsync(1001);
    const err = await call;
    expect(isDeadlineExceededError(err)).toBe(true);
  });

  it('turns a downstream problem+json into a DownstreamError keeping code, suggestion, correlation ID and the hop', async () => {
    script = problem(503, {
      type: 'tag:bulwark,2026:problems/bulkhead-full',
      title: 'Too many concurrent requests',
      status: 503,
      code: 'BULKHEAD_FULL',
      suggestion: 'Retry later.',
      correlationId: 'corr-down',
      retryAfter: 1,
    });
    const err = (await make(false)
      .fetch('payments-api', `${server.url}/busy`, { trustDownstreamProblems: true })
      .catch((e) => e)) as DownstreamError;
    expect(err).toBeInstanceOf(DownstreamError);
    expect(err.code).toBe('DOWNSTREAM_ERROR');
    expect(err.downstreamCode).toBe('BULKHEAD_FULL');
    expect(err.trusted).toBe(true);
    expect(err.suggestion).toBe('Retry later.');
    expect(err.correlationId).toBe('corr-down');
    expect(err.service).toBe('payments-api');
    expect(err.hop).toBe('payments-api');
    expect(err.status).toBe(502);
    expect(err.retryAfterMs).toBe(1000);
    expect(err.message).toContain('BULKHEAD_FULL');
    const body = toProblem(err, { production: true, correlationId: 'corr-up' });
    expect(body).toMatchObject({
      status: 502,
      code: 'DOWNSTREAM_ERROR',
      service: 'payments-api',
      downstreamCode: 'BULKHEAD_FULL',
      suggestion: 'Retry later.',
      correlationId: 'corr-up',
    });
    expect(body.detail).toContain('payments-api');
  });

  it('keeps the failing service of a relayed failure, and names the hops', async () => {
    script = problem(502, {
      status: 502,
      code: 'DOWNSTREAM_ERROR',
      service: 'ledger',
      downstreamCode: 'CIRCUIT_OPEN',
      suggestion: 'Check the ledger.',
    });
    const err = (await make(false)
      .fetch('orders-api', `${server.url}/o`, { trustDownstreamProblems: true })
      .catch((e) => e)) as DownstreamError;
    expect(err.service).toBe('ledger');
    expect(err.hops).toEqual(['orders-api', 'ledger']);
    expect(err.downstreamCode).toBe('CIRCUIT_OPEN');
    const body = toProblem(err, { production: true });
    expect(body).toMatchObject({
      service: 'ledger',
      downstreamCode: 'CIRCUIT_OPEN',
      hops: ['orders-api', 'ledger'],
    });
  });

  it('maps statuses: 429 → 503 with Retry-After kept, 504 → 504, 500 → 502', async () => {
    const b = make(false);
    script = (_n, _req, res) => {
      res.writeHead(429, { 'retry-after': '3' });
      res.end();
    };
    const limited = (await b.fetch('orders-api', server.url).catch((e) => e)) as DownstreamError;
    expect([limited.status, limited.retryAfter]).toEqual([503, 3]);
    script = status(504);
    expect(((await b.fetch('orders-api', server.url).catch((e) => e)) as DownstreamError).status).toBe(504);
    script = status(500);
    expect(((await b.fetch('orders-api', server.url).catch((e) => e)) as DownstreamError).status).toBe(502);
  });

  it('gives a generic DownstreamError for a body that is not problem+json', async () => {
    script = (_n, _req, res) => {
      res.writeHead(500, { 'content-type': 'application/json', 'x-request-id': 'hdr-corr' });
      res.end('{"code": 42, not json');
    };
    const err = (await make(false)
      .fetch('orders-api', server.url)
      .catch((e) => e)) as DownstreamError;
    expect(isDownstreamError(err)).toBe(true);
    expect(err.downstreamCode).toBeUndefined();
    expect(err.correlationId).toBe('hdr-corr');
    expect(err.message).toBe("Downstream service 'orders-api' answered 500.");
  });

  it('reads at most the cap of a 10 MB body, declared or chunked', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024, 0x61);
    for (const chunked of [false, true]) {
      script = (_n, _req, res) => {
        res.writeHead(500, {
          'content-type': PROBLEM,
          ...(chunked ? {} : { 'content-length': String(big.length) }),
        });
        if (chunked) {
          res.write('{"code":"X","detail":"');
          res.write(big);
          res.end('"}');
        } else res.end(big);
      };
      const err = (await make(false)
        .fetch('orders-api', server.url)
        .catch((e) => e)) as DownstreamError;
      expect(isDownstreamError(err)).toBe(true);
      expect(err.downstreamCode).toBeUndefined();
      expect(err.message).toMatch(/body over 65536 bytes/);
      await bulwark.close();
    }
  });

  it('does not trust the problem members: types, lengths and control characters are checked', async () => {
    script = problem(500, {
      status: 'bad',
      code: 'INJECTED\r\nX-Evil: 1',
      title: 'ok',
      suggestion: `line1\nline2${'x'.repeat(5000)}`,
      correlationId: 'has space',
      service: '<script>',
    });
    const err = (await make(false)
      .fetch('orders-api', server.url)
      .catch((e) => e)) as DownstreamError;
    expect(err.downstreamCode).toBeUndefined();
    expect(err.correlationId).toBeUndefined();
    expect(err.service).toBe('orders-api');
    // No status and no valid code: not a problem document at all, so the default suggestion.
    expect(err.suggestion).not.toContain('line1');
    script = problem(500, { status: 500, code: 'OK_CODE', suggestion: `a\u0000b\u2028c${'x'.repeat(5000)}` });
    const err2 = (await bulwark
      .fetch('orders-api', server.url, { trustDownstreamProblems: true })
      .catch((e) => e)) as DownstreamError;
    expect(err2.suggestion).toMatch(/^a b c/);
    expect(err2.suggestion.length).toBeLessThanOrEqual(1025);
  });

  it('wraps an unreachable service in a DownstreamError naming it', async () => {
    const closed = await loopback();
    await closed.close();
    const err = (await make({ maxAttempts: 2, initialDelay: 1, jitter: 'none' })
      .fetch('payments-api', closed.url)
      .catch((e) => e)) as DownstreamError;
    expect(isDownstreamError(err)).toBe(true);
    expect(err.downstreamStatus).toBeUndefined();
    expect(err.attempts).toBe(2);
    expect(err.message).toMatch(/payments-api' could not be reached \(ECONNREFUSED\)/);
  });

  it('relays an untrusted downstream problem only as code, status and correlation ID (issue 8 item 16)', async () => {
    const script_ = '<script>alert(1)</script>';
    script = problem(503, {
      status: 503,
      code: 'DOWNSTREAM_ERROR',
      title: `Busy ${script_}`,
      service: 'ledger',
      hops: ['ledger', 'vault'],
      downstreamCode: 'CIRCUIT_OPEN',
      suggestion: `Click here ${script_}`,
      detail: `detail ${script_}`,
      correlationId: 'corr-down',
    });
    const err = (await make(false)
      .fetch('orders-api', `${server.url}/o`)
      .catch((e) => e)) as DownstreamError;
    expect(err.trusted).toBe(false);
    expect(err).toMatchObject({ hop: 'orders-api', service: 'orders-api', hops: ['orders-api'] });
    expect(err.downstreamCode).toBe('CIRCUIT_OPEN');
    expect(err.correlationId).toBe('corr-down');
    const body = toProblem(err, { production: true, correlationId: 'corr-up' });
    expect(body).toMatchObject({
      status: 502,
      code: 'DOWNSTREAM_ERROR',
      downstreamCode: 'CIRCUIT_OPEN',
      suggestion: ERROR_CODES.DOWNSTREAM_ERROR.suggestion,
    });
    expect(JSON.stringify(body)).not.toMatch(/script|ledger|vault|Click|Busy/);
  });

  it('trusts the downstream when the host says the policy does', async () => {
    script = problem(503, { status: 503, code: 'BULKHEAD_FULL', suggestion: 'Ask ledger ops.' });
    const b = make(false);
    const host = { policy: (n: string) => b.policy(n), trustsDownstream: (n: string) => n === 'orders-api' };
    const err = (await resilientFetch(host, 'orders-api', server.url).catch((e) => e)) as DownstreamError;
    expect(err.suggestion).toBe('Ask ledger ops.');
    const other = (await resilientFetch(host, 'payments-api', server.url).catch((e) => e)) as DownstreamError;
    expect(other.suggestion).toBe(ERROR_CODES.DOWNSTREAM_ERROR.suggestion);
  });

  it('trusts the downstream of a policy whose config sets trustDownstreamProblems, and no other', async () => {
    script = problem(503, { status: 503, code: 'BULKHEAD_FULL', suggestion: 'Ask ledger ops.' });
    bulwark = createBulwark({
      policies: { ledger: { trustDownstreamProblems: true }, vendor: { trustDownstreamProblems: false } },
    });
    const trusted = (await bulwark.fetch('ledger', server.url).catch((e) => e)) as DownstreamError;
    expect(trusted.trusted).toBe(true);
    expect(trusted.suggestion).toBe('Ask ledger ops.');
    const vendor = (await bulwark.fetch('vendor', server.url).catch((e) => e)) as DownstreamError;
    expect(vendor.trusted).toBe(false);
    expect(vendor.suggestion).toBe(ERROR_CODES.DOWNSTREAM_ERROR.suggestion);
    expect(() => createBulwark({ policies: { p: { trustDownstreamProblems: 'yes' as never } } })).toThrow(
      /policies\.p\.trustDownstreamProblems: expected true or false/,
    );
  });

  it('counts failure responses in the breaker, keyed by the policy name, and its refusal is CIRCUIT_OPEN itself (issue 8 item 3)', async () => {
    script = status(500);
    bulwark = createBulwark({
      policies: { flaky: { circuitBreaker: { volumeThreshold: 2, errorThresholdPercentage: 50 } } },
    });
    for (let i = 0; i < 2; i++) await bulwark.fetch('flaky', server.url).catch(() => {});
    const err = await bulwark.fetch('flaky', server.url).catch((e) => e);
    expect(isCircuitOpenError(err)).toBe(true);
    expect(isDownstreamError(err)).toBe(false);
    expect(err.retryAfterMs).toBeGreaterThan(0);
    expect(isRetryable(err)).toBe(false);
    expect(server.seen).toHaveLength(2);
    // One key rule with run(name): the policy name.
    expect(bulwark.breaker('flaky').state('flaky')).toBe('open');
    // An outer retry does not wait out the reset timeout: one more refusal, nothing sent.
    const outer = retry({ maxAttempts: 5, initialDelay: 1, jitter: 'none' });
    let calls = 0;
    const again = await outer
      .execute(() => {
        calls++;
        return bulwark.fetch('flaky', server.url);
      })
      .catch((e) => e);
    expect(calls).toBe(1);
    expect(isCircuitOpenError(again)).toBe(true);
    expect(server.seen).toHaveLength(2);
  });

  it('shares one breaker with run(name): failures through run() refuse fetch() (issue 8 item 3)', async () => {
    script = status(200);
    bulwark = createBulwark({
      policies: {
        flaky: { retry: false, circuitBreaker: { volumeThreshold: 2, errorThresholdPercentage: 50 } },
      },
    });
    for (let i = 0; i < 2; i++)
      await bulwark.run('flaky', () => Promise.reject(new Error('HTTP 503'))).catch(() => {});
    expect(bulwark.breaker('flaky').state()).toBe('open');
    const err = await bulwark.fetch('flaky', server.url).catch((e) => e);
    expect(isCircuitOpenError(err)).toBe(true);
    expect(server.seen).toHaveLength(0);
  });

  it('uses the key given per call for the breaker', async () => {
    script = status(500);
    bulwark = createBulwark({
      policies: { flaky: { circuitBreaker: { volumeThreshold: 2, errorThresholdPercentage: 50 } } },
    });
    for (let i = 0; i < 2; i++) await bulwark.fetch('flaky', server.url, { key: 'tenant-a' }).catch(() => {});
    expect(bulwark.breaker('flaky').state('tenant-a')).toBe('open');
    expect(bulwark.breaker('flaky').state('flaky')).toBe('closed');
    const res = await bulwark.fetch('flaky', server.url, { key: 'tenant-b' }).catch((e) => e);
    expect(isDownstreamError(res)).toBe(true);
  });

  it('gives its own TIMEOUT to the caller, not retryable by an outer retry', async () => {
    // The server never answers; the attempt timeout aborts the request (short real wait: real socket).
    script = () => {};
    bulwark = createBulwark({
      policies: { slow: { attemptTimeout: '50ms', retry: { maxAttempts: 2, initialDelay: 1 } } },
    });
    const attempts: number[] = [];
    bulwark.events.on('failure', (e) => attempts.push(e.attempts));
    const err = await bulwark.fetch('slow', server.url).catch((e) => e);
    expect(isTimeoutError(err)).toBe(true);
    expect(err.status).toBe(504);
    expect(isRetryable(err)).toBe(false);
    // Both attempts ran and timed out. Counted from the policy's own event, not from the requests
    // the server saw: on a loaded machine a 50 ms attempt can time out before its socket connects.
    expect(attempts).toEqual([2]);
    // Named after the hop, so the edge can say which service was slow.
    expect(toProblem(err, { production: true })).toMatchObject({
      code: 'TIMEOUT',
      status: 504,
      service: 'slow',
    });
  });

  it('gives DEADLINE_EXCEEDED as itself, not retryable, when the budget is spent', async () => {
    const err = await runWithContext(testContext({ deadline: Date.now() - 1 }), () =>
      make().fetch('payments-api', server.url),
    ).catch((e) => e);
    expect(isDeadlineExceededError(err)).toBe(true);
    expect(isRetryable(err)).toBe(false);
  });

  it('rejects for an unknown policy', async () => {
    const err = await make()
      .fetch('nope', server.url)
      .catch((e) => e);
    expect(isBulwarkError(err) && err.code).toBe('UNKNOWN_POLICY');
  });
});

describe('createResilientFetch', () => {
  it('takes a custom failure test, body cap and fetch', async () => {
    script = status(409);
    const b = make();
    const call = createResilientFetch(b, { failureResponse: (r) => r.status === 409, maxErrorBodyBytes: 10 });
    const err = (await call('payments-api', server.url).catch((e) => e)) as DownstreamError;
    expect(err.downstreamStatus).toBe(409);
    expect(server.seen).toHaveLength(3);
    const fake = vi.fn(async () => new Response('hi'));
    const res = await createResilientFetch(b, { fetch: fake })('payments-api', 'http://nowhere.invalid/');
    expect(await res.text()).toBe('hi');
    expect(() => createResilientFetch(b, { maxErrorBodyBytes: -1 })).toThrow(/maxErrorBodyBytes/);
    // The deprecated alias still works; both at once, or a non-function, are refused by name.
    const legacy = createResilientFetch(b, { isFailure: (r) => r.status === 409 });
    expect(isDownstreamError(await legacy('payments-api', server.url).catch((e) => e))).toBe(true);
    const both = { failureResponse: () => true, isFailure: () => true };
    expect(() => createResilientFetch(b, both)).toThrow(/either `failureResponse` or/);
    expect(() => createResilientFetch(b, { failureResponse: 1 as never })).toThrow(
      /`failureResponse` to be a function/,
    );
  });
});
