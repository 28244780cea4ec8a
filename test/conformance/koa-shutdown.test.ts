/**
 * The Koa README's shutdown, run as written in its own process and sent a real SIGTERM while a
 * request is in flight (issue 8, finding 7): the request finishes with its answer, new
 * connections are refused, Bulwark closes, and the process exits by itself with code 0.
 * Uses the docs harness (test/docs/run-ts.ts) to run the README block; needs `npm run build`.
 */
import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunningBlock, startBlock } from '../docs/run-ts.js';

/** A GET on a fresh connection (no keep-alive): resolves with the status, or rejects on a refused connection. */
function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Koa README shutdown on SIGTERM', () => {
  let app: RunningBlock | undefined;
  afterAll(async () => {
    // stop() is idempotent enough: the process is gone after the test.
    if (app) await app.stop().catch(() => {});
  });

  it('lets the in-flight request finish, refuses new ones, and exits with code 0', async () => {
    // The payments downstream answers after 800 ms: the request is in flight when SIGTERM comes.
    app = await startBlock('packages/koa/README.md', 'quick-start', {
      downstream: { status: 200, body: { charged: true }, delayMs: 800 },
      env: { NODE_ENV: 'production' },
    });
    const url = app.url as string;
    const inFlight = fetch(`${url}/pay`, { method: 'POST' }).then(async (r) => ({
      status: r.status,
      body: await r.json(),
    }));
    await new Promise((r) => setTimeout(r, 300)); // real wait: the request must reach the downstream first
    expect(app.downstreams[0]?.requests).toHaveLength(1);
    const exited = app.stop(); // SIGTERM; rejects unless the process exits within 5 s
    await new Promise((r) => setTimeout(r, 100));
    await expect(get(`${url}/catalog`)).rejects.toThrow(/ECONNREFUSED|ECONNRESET|socket hang up/);
    expect(await inFlight).toEqual({ status: 200, body: { charged: true } });
    expect(await exited).toEqual({ code: 0, signal: null });
    app = undefined;
  }, 30_000);
});
