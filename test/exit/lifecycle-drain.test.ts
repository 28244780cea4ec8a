/**
 * Graceful shutdown across a real process boundary (issue 11, § 5): for Express, Koa and NestJS, a
 * child server with 50 slow requests in flight gets a real SIGTERM. Every request is answered
 * (none cut), a new connection after the delay is refused (or answered 503 DRAINING), and the
 * process exits by itself with code 0 within the drain timeout. Needs `npm run build` (the apps
 * import the built packages).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { get } from './http-get.js';

const apps = fileURLToPath(new URL('./apps/', import.meta.url));
const dist = fileURLToPath(new URL('../../packages/nestjs/dist/index.js', import.meta.url));
const IN_FLIGHT = 50;
const DELAY_MS = 300;
const SLOW_MS = 1500;
const DRAIN_TIMEOUT_MS = 5000;

interface Line {
  port?: number;
  arrived?: number;
  event?: string;
  inFlight?: number;
  count?: number;
  report?: { cutCount: number; inFlightAtStart: number; forced: boolean; durationMs: number };
}

/** The child's JSON lines, and a wait for the first that matches. */
function lines(child: ChildProcess): {
  all: Line[];
  text: () => string;
  next: (p: (l: Line) => boolean) => Promise<Line>;
} {
  const all: Line[] = [];
  let raw = '';
  const waiters: { p: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];
  let buf = '';
  const onData = (s: string) => {
    raw += s;
    buf += s;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const text = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let l: Line;
      try {
        l = JSON.parse(text) as Line;
      } catch {
        continue;
      }
      all.push(l);
      for (const w of [...waiters]) if (w.p(l)) waiters.splice(waiters.indexOf(w), 1) && w.resolve(l);
    }
  };
  child.stdout?.setEncoding('utf8').on('data', onData);
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    raw += s;
  });
  return {
    all,
    text: () => raw,
    next: (p) => {
      const seen = all.find(p);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ p, resolve });
        child.once('exit', () => reject(new Error(`the app exited first:\n${raw}`)));
      });
    },
  };
}

describe.each(['express', 'koa', 'nest'])('%s: SIGTERM with 50 requests in flight', (name) => {
  it('answers every one, refuses new connections after the delay, and exits 0 within the drain timeout', async () => {
    expect(existsSync(dist), 'build the packages first (npm run build)').toBe(true);
    const settings = JSON.stringify({ delayMs: DELAY_MS, slowMs: SLOW_MS, expect: IN_FLIGHT });
    const child = spawn(process.execPath, [`${apps}${name}.mjs`, settings], {
      env: { ...process.env, NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = lines(child);
    const exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    // Keep-alive, as a load balancer or a client library would: the drain must close these sockets.
    const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
    try {
      const { port } = (await out.next((l) => l.port !== undefined)) as { port: number };
      const answers = Array.from({ length: IN_FLIGHT }, (_, i) =>
        get(port, `/slow?id=${i}`, agent).then(
          (r) => r,
          (e: NodeJS.ErrnoException) => ({ status: 0, body: e.code ?? String(e) }),
        ),
      );
      await out.next((l) => l.arrived === IN_FLIGHT);
      const signalled = performance.now();
      child.kill('SIGTERM');
      await out.next((l) => l.event === 'lifecycle.refusing');
      // Real wait: the delay is over and the listener closes; a new connection must not be served.
      await new Promise((r) => setTimeout(r, 50));
      const late = await get(port, '/slow?id=late', false).then(
        (r) => `answered ${r.status}`,
        (e: NodeJS.ErrnoException) => e.code,
      );
      expect(['ECONNREFUSED', 'answered 503'], out.text()).toContain(late);

      const all = await Promise.all(answers);
      expect(
        all.filter((a) => a.status !== 200),
        out.text(),
      ).toEqual([]);
      expect(all.map((a) => JSON.parse(a.body).id)).toEqual(
        Array.from({ length: IN_FLIGHT }, (_, i) => String(i)),
      );
      const [code, signal] = await Promise.race([
        exit,
        new Promise<['still running', null]>((r) =>
          setTimeout(() => r(['still running', null]), DELAY_MS + DRAIN_TIMEOUT_MS + 2000),
        ),
      ]);
      const tookMs = performance.now() - signalled;
      expect({ code, signal }, out.text()).toEqual({ code: 0, signal: null });
      expect(tookMs).toBeLessThan(DELAY_MS + DRAIN_TIMEOUT_MS);
      const stopped = out.all.find((l) => l.event === 'lifecycle.stopped');
      expect(stopped?.report).toMatchObject({ cutCount: 0, inFlightAtStart: IN_FLIGHT, forced: false });
      expect(out.all.some((l) => l.event === 'lifecycle.cut')).toBe(false);
    } finally {
      agent.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 30_000);
});
