/**
 * Graceful shutdown against real `node:http` servers on loopback, with fake timers for the delay,
 * the drain timeout and the hook timeout (sockets are real, so only setTimeout is faked). The
 * process-level behaviour (a real SIGTERM, the exit code) is in test/exit/lifecycle-drain.test.ts.
 */
import { once } from 'node:events';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBulwark } from '../registry/bulwark.js';
import type { BulwarkEvent } from '../telemetry/events.js';
import { resolveLifecycleOptions } from './lifecycle-options.js';

interface Answer {
  status: number;
  connection: string | undefined;
  body: string;
}

function get(port: number, path: string, agent: Agent | false = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => {
        body += c;
      });
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }),
      );
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}

/** A server whose `/slow` requests wait until `release()`; `arrived` counts the ones that reached it. */
async function slowServer(): Promise<{
  server: Server;
  port: number;
  release: () => void;
  arrived: () => number;
}> {
  let open: () => void = () => {};
  let gate = new Promise<void>((r) => {
    open = r;
  });
  let arrived = 0;
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/slow')) {
      arrived++;
      void gate.then(() => res.end('done'));
    } else res.end('fast');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    release: () => {
      open();
      gate = Promise.resolve();
    },
    arrived: () => arrived,
  };
}

/** A real wait (setTimeout is faked in the shutdown tests; sockets need real time to talk). */
const realSetTimeout = globalThis.setTimeout;
function realWait(ms: number): Promise<void> {
  return new Promise((r) => realSetTimeout(r, ms));
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await realWait(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('lifecycle options', () => {
  it('defaults the delay by environment and validates every key', () => {
    expect(resolveLifecycleOptions(undefined, true)).toEqual({
      signals: [],
      delayMs: 5000,
      drainTimeoutMs: 20_000,
      hookTimeoutMs: 5000,
    });
    expect(resolveLifecycleOptions({}, false).delayMs).toBe(0);
    expect(resolveLifecycleOptions({ handleSignals: true, delay: '1s' }, true)).toMatchObject({
      signals: ['SIGTERM', 'SIGINT'],
      delayMs: 1000,
    });
    expect(() =>
      resolveLifecycleOptions({
        handleSignals: ['SIGTRM' as 'SIGTERM'],
        drainTimeout: 0,
        timeout: 1,
      } as never),
    ).toThrow(
      /lifecycle\.handleSignals\[0\].*did you mean 'SIGTERM'[\s\S]*lifecycle\.drainTimeout[\s\S]*lifecycle\.timeout.*did you mean 'drainTimeout'/,
    );
  });

  it('is a section of the Bulwark config', () => {
    expect(() => createBulwark({ lifecycle: { delay: 'soon' as '1s' } })).toThrow(/lifecycle\.delay/);
  });
});

describe('lifecycle.shutdown()', () => {
  let cleanup: (() => unknown)[] = [];
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(async () => {
    vi.useRealTimers();
    for (const c of cleanup.reverse()) await c();
    cleanup = [];
  });

  function setup(lifecycle: { delay?: number; drainTimeout?: number; hookTimeout?: number } = {}) {
    const events: BulwarkEvent[] = [];
    const b = createBulwark({ lifecycle: { delay: 1000, drainTimeout: 5000, ...lifecycle } });
    b.events.onAny((e) => events.push(e));
    cleanup.push(() => b.close());
    return { b, events };
  }

  it('waits the delay, then refuses new connections, lets in-flight requests finish and closes everything', async () => {
    const { b, events } = setup();
    const s = await slowServer();
    cleanup.push(() => s.server.close());
    const order: string[] = [];
    b.lifecycle.attach(s.server);
    b.lifecycle.onShutdown(() => order.push('first registered'), 'a');
    b.lifecycle.onShutdown(() => order.push('last registered'), 'b');
    const agent = new Agent({ keepAlive: true });
    cleanup.push(() => agent.destroy());
    const inflight = Array.from({ length: 5 }, () => get(s.port, '/slow', agent));
    await until(() => s.arrived() === 5, '5 requests to arrive');
    expect(b.lifecycle.inFlight).toBe(5);

    const done = b.lifecycle.shutdown({ reason: 'test' });
    expect(b.lifecycle.state).toBe('draining');
    await realWait(20);
    // During the delay the server still serves (the load balancer has not noticed yet).
    expect((await get(s.port, '/fast')).status).toBe(200);
    expect(s.server.listening).toBe(true);

    await vi.advanceTimersByTimeAsync(1000);
    expect(s.server.listening).toBe(false);
    await expect(get(s.port, '/fast')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(events.map((e) => e.type)).toEqual(['lifecycle.draining', 'lifecycle.refusing']);
    expect(events[1]).toMatchObject({ type: 'lifecycle.refusing', inFlight: 5 });

    s.release();
    const answers = await Promise.all(inflight);
    // Every one answered, and told to close its keep-alive connection.
    expect(answers.map((a) => [a.status, a.body, a.connection])).toEqual(
      Array.from({ length: 5 }, () => [200, 'done', 'close']),
    );
    const report = await done;
    expect(report).toMatchObject({ reason: 'test', forced: false, inFlightAtStart: 5, cutCount: 0, cut: [] });
    expect(report.hookFailures).toEqual([]);
    expect(order).toEqual(['last registered', 'first registered']);
    expect(b.lifecycle.state).toBe('stopped');
    expect(() => b.policy('x')).toThrow(/closed/);
    expect(events.at(-1)).toMatchObject({ type: 'lifecycle.stopped', policy: 'lifecycle' });
  });

  it('cuts what is still running after the drain timeout and names it in an event', async () => {
    const { b, events } = setup({ delay: 0, drainTimeout: 2000 });
    const s = await slowServer();
    cleanup.push(() => s.server.close());
    cleanup.push(() => s.release());
    b.lifecycle.attach(s.server);
    const outcome = get(s.port, '/slow?id=7').then(
      () => 'answered',
      (e: NodeJS.ErrnoException) => e.code,
    );
    await until(() => s.arrived() === 1, 'the request to arrive');
    const done = b.lifecycle.shutdown();
    await vi.advanceTimersByTimeAsync(1999);
    expect(events.some((e) => e.type === 'lifecycle.cut')).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const report = await done;
    expect(await outcome).toBe('ECONNRESET');
    expect(report.cutCount).toBe(1);
    expect(report.cut).toEqual([{ method: 'GET', path: '/slow', runningMs: expect.any(Number) }]);
    expect(events.find((e) => e.type === 'lifecycle.cut')).toMatchObject({ count: 1, requests: report.cut });
  });

  it('refuses requests on connections opened before the drain with 503 DRAINING and Connection: close', async () => {
    const { b } = setup({ delay: 0 });
    const engine = b.http;
    const s = await slowServer();
    cleanup.push(() => s.server.close());
    b.lifecycle.attach(s.server);
    void b.lifecycle.shutdown();
    await vi.advanceTimersByTimeAsync(0);
    const a = await engine.admit({ method: 'GET', path: '/orders', headers: {} });
    expect(a.rejection?.status).toBe(503);
    expect(a.rejection?.headers).toMatchObject({ Connection: 'close', 'Retry-After': '1' });
    expect(a.rejection?.body).toMatchObject({ code: 'DRAINING', title: 'Shutting down' });
    // Probes still answer: /livez stays 200 and /readyz says why it is not ready.
    expect((await engine.admit({ method: 'GET', path: '/livez', headers: {} })).rejection).toMatchObject({
      status: 200,
      body: { status: 'alive' },
    });
    expect((await engine.admit({ method: 'GET', path: '/readyz', headers: {} })).rejection?.status).toBe(503);
  });

  it('turns readiness false at once, before the delay', async () => {
    const { b } = setup({ delay: 1000 });
    const s = await slowServer();
    cleanup.push(() => s.server.close());
    b.lifecycle.attach(s.server);
    expect(b.health.readiness()).toEqual({ ready: true, reasons: [] });
    const done = b.lifecycle.shutdown();
    expect(b.health.readiness()).toEqual({
      ready: false,
      reasons: ['the service is draining (shutting down)'],
    });
    expect(s.server.listening).toBe(true); // still serving during the delay
    await vi.advanceTimersByTimeAsync(1000);
    await done;
  });

  it('a hook that hangs is cut off after hookTimeout, its signal aborted', async () => {
    const { b, events } = setup({ hookTimeout: 300 });
    let aborted = false;
    b.lifecycle.onShutdown((signal) => {
      signal.addEventListener('abort', () => {
        aborted = true;
      });
      return new Promise(() => {});
    }, 'stuck-pool');
    const done = b.lifecycle.shutdown();
    await vi.advanceTimersByTimeAsync(300);
    const report = await done;
    expect(report.delayMs).toBeLessThan(50); // no server attached: no delay
    expect(report.hookFailures).toEqual([{ hook: 'stuck-pool', error: expect.any(Error) }]);
    expect(aborted).toBe(true);
    expect(events.find((e) => e.type === 'lifecycle.hook-failed')).toMatchObject({ hook: 'stuck-pool' });
  });

  it('a second signal forces: no more delay, open connections cut; a third is left to Node', async () => {
    const { b } = setup({ delay: 10_000, drainTimeout: 60_000 });
    const s = await slowServer();
    cleanup.push(() => s.server.close());
    cleanup.push(() => s.release());
    const before = process.listenerCount('SIGTERM');
    b.lifecycle.attach(s.server);
    b.lifecycle.handleSignals(['SIGTERM']);
    b.lifecycle.handleSignals(['SIGTERM']); // idempotent
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    const outcome = get(s.port, '/slow').catch((e: NodeJS.ErrnoException) => e.code);
    await until(() => s.arrived() === 1, 'the request to arrive');
    const stopped = new Promise<BulwarkEvent>((r) => b.events.on('lifecycle.stopped', r));
    process.emit('SIGTERM', 'SIGTERM');
    expect(b.lifecycle.state).toBe('draining');
    process.emit('SIGTERM', 'SIGTERM');
    expect(process.listenerCount('SIGTERM')).toBe(before);
    const e = (await stopped) as Extract<BulwarkEvent, { type: 'lifecycle.stopped' }>;
    expect(e.report).toMatchObject({ reason: 'SIGTERM', forced: true, cutCount: 1 });
    expect(await outcome).toBe('ECONNRESET');
  });

  it('close() removes the signal handlers and stops tracking', async () => {
    const b = createBulwark({ lifecycle: { handleSignals: ['SIGINT'] } });
    const s = await slowServer();
    cleanup.push(() => s.server.close());
    const before = process.listenerCount('SIGINT');
    b.lifecycle.attach(s.server);
    expect(process.listenerCount('SIGINT')).toBe(before + 1);
    const listeners = s.server.listenerCount('request');
    await b.close();
    expect(process.listenerCount('SIGINT')).toBe(before);
    expect(s.server.listenerCount('request')).toBe(listeners - 1);
    expect(() => b.lifecycle).not.toThrow(); // created before close: still readable
  });

  it('attach() refuses what is not an http.Server', () => {
    const { b } = setup();
    expect(() => b.lifecycle.attach({} as Server)).toThrow(/node:http/);
  });
});
