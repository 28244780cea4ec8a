/**
 * Issue 8 item 15: a downstream that sends its headers and then stalls. The response body read
 * must end, and the socket be released, when the caller's signal or the request's deadline
 * ends; counted on a real server. (Real waits of ~100 ms: real sockets.)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runWithContext } from '../context/context.js';
import { isDeadlineExceededError } from '../errors/bulwark-error.js';
import { testContext } from '../propagation/testing.test-helper.js';
import { type Bulwark, createBulwark } from '../registry/bulwark.js';

let server: http.Server;
let url: string;
let bulwark: Bulwark;

beforeAll(() => {
  bulwark = createBulwark({ policies: { stall: { retry: false, timeout: '10s' } } });
});
// A fresh stalling server per test, so its socket count is this test's alone.
beforeEach(async () => {
  server = http.createServer((_req, res) => {
    // Headers and a first chunk, then nothing, ever.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"items":[');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/stall`;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
afterAll(() => bulwark.close());

function openSockets(): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
}

// Node 24's undici closes an aborted fetch's socket at once; Node 22's (undici 6) does it about
// 3 s later, even for a plain fetch with no Bulwark in between (measured). Without the tie the
// stalled body is never cut off and the socket stays open for ever, so a wide window still fails.
async function until(cond: () => Promise<boolean>, ms = 8000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

/** Resolves with the outcome of `p`, or 'still reading' if it has not settled within `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'still reading'> {
  return Promise.race([
    p,
    new Promise<'still reading'>((r) => setTimeout(() => r('still reading'), ms).unref()),
  ]);
}

describe('the body read of bulwark.fetch', () => {
  it('ends with DEADLINE_EXCEEDED at the deadline, and the socket is released', async () => {
    const deadline = Date.now() + 1000;
    const outcome = await runWithContext(testContext({ deadline }), async () => {
      const res = await bulwark.fetch('stall', url);
      expect(res.status).toBe(200);
      expect(await openSockets()).toBe(1);
      return within(
        res.text().catch((e: unknown) => e),
        5000,
      );
    });
    expect(isDeadlineExceededError(outcome)).toBe(true);
    expect(Date.now()).toBeGreaterThanOrEqual(deadline);
    expect(await until(async () => (await openSockets()) === 0)).toBe(true);
  });

  it("ends when the caller's signal aborts, and the socket is released", async () => {
    const controller = new AbortController();
    const res = await bulwark.fetch('stall', url, { signal: controller.signal });
    const reading = res.text().catch((e: unknown) => e);
    setTimeout(() => controller.abort(new Error('client went away')), 50);
    const outcome = await within(reading, 2000);
    expect((outcome as Error).message).toBe('client went away');
    expect(await until(async () => (await openSockets()) === 0)).toBe(true);
  });

  it("ends when the request's context signal aborts (the route answered 504 already)", async () => {
    const controller = new AbortController();
    const outcome = await runWithContext(testContext({ signal: controller.signal }), async () => {
      const res = await bulwark.fetch('stall', url);
      setTimeout(() => controller.abort(new Error('route timeout')), 50);
      return within(
        res.text().catch((e: unknown) => e),
        2000,
      );
    });
    expect((outcome as Error).message).toBe('route timeout');
    expect(await until(async () => (await openSockets()) === 0)).toBe(true);
  });

  it('cuts off a body nobody reads at the deadline', async () => {
    const deadline = Date.now() + 300;
    await runWithContext(testContext({ deadline }), async () => {
      const res = await bulwark.fetch('stall', url);
      expect(res.status).toBe(200); // dropped unread
    });
    expect(await openSockets()).toBe(1);
    expect(await until(async () => (await openSockets()) === 0, 9000)).toBe(true);
  });

  it('adds no listener per call to a long-lived caller signal', async () => {
    const shutdown = new AbortController();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      await runWithContext(testContext({ deadline: Date.now() + 5000 }), async () => {
        const all = await Promise.all(
          Array.from({ length: 30 }, () => bulwark.fetch('stall', url, { signal: shutdown.signal })),
        );
        expect(all).toHaveLength(30);
        shutdown.abort(new Error('shutting down'));
        const outcomes = await Promise.all(all.map((r) => r.text().catch((e: Error) => e.message)));
        expect(new Set(outcomes)).toEqual(new Set(['shutting down']));
      });
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
      expect(await until(async () => (await openSockets()) === 0, 9000)).toBe(true);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('keeps url, status and headers, and reads a complete body as usual', async () => {
    const ok = http.createServer((_req, res) => res.end('{"ok":true}'));
    await new Promise<void>((resolve) => ok.listen(0, '127.0.0.1', resolve));
    const okUrl = `http://127.0.0.1:${(ok.address() as AddressInfo).port}/fine`;
    try {
      const res = await runWithContext(testContext({ deadline: Date.now() + 5000 }), () =>
        bulwark.fetch('stall', okUrl),
      );
      expect(res.url).toBe(okUrl);
      expect(res.redirected).toBe(false);
      expect(await res.json()).toEqual({ ok: true });
    } finally {
      ok.closeAllConnections();
      await new Promise((resolve) => ok.close(resolve));
    }
  });
});
