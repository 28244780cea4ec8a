/**
 * End to end: examples/multi-service's gateway (Express) → orders (Koa) → payments (NestJS) as
 * three real processes on free loopback ports, checked through their answers and the JSON lines
 * they write to stdout. Then the launcher (`start.mjs`) on its own: prefixed output, clean exit.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HOST = '127.0.0.1';
const dir = fileURLToPath(new URL('../../examples/multi-service/', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));
const NAMES = ['gateway', 'orders', 'payments'] as const;
type Name = (typeof NAMES)[number];

/** One request line, whatever the logger: pino's flat JSON, or Nest's `{ message, params }`. */
interface RequestLine {
  correlationId?: string;
  traceId?: string;
  spanId?: string;
  path: string;
  status: number;
  code?: string;
  inboundDeadlineMs: number | null;
  inboundParentId: string | null;
}

interface Proc {
  name: string;
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `n` distinct free ports (held open together while they are picked, so they differ). */
async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.listen(0, HOST, resolve))));
  const ports = servers.map((s) => {
    const address = s.address();
    if (typeof address !== 'object' || address === null) throw new Error('no port');
    return address.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

function run(name: string, script: string, env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, [script], {
    cwd: dir,
    env: { ...process.env, ...env, NODE_ENV: 'development' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => stdout.push(l));
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { name, child, stdout, stderr, exit };
}

/** Polls `check` until it returns a value (not undefined) or `ms` pass. */
async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function parse(line: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(line) as Record<string, unknown>;
    if (typeof v.message === 'object' && v.message !== null) {
      return { ...(v.message as object), ...((v.params as object | undefined) ?? {}) };
    }
    return v;
  } catch {
    return undefined;
  }
}

/** Waits for `p`'s "listening" line; fails at once, with its output, if it exits first. */
async function listening(p: Proc, isListening: (line: string) => boolean, ms = 45_000): Promise<void> {
  await waitFor(
    `${p.name} to listen`,
    () => {
      if (p.stdout.some(isListening)) return true;
      if (p.child.exitCode !== null || p.child.signalCode !== null) {
        throw new Error(`${p.name} exited before listening:\n${[...p.stdout, ...p.stderr].join('\n')}`);
      }
      return undefined;
    },
    ms,
  );
}

/** Exits within `ms`, else the test fails (and the process is killed). */
async function exited(p: Proc, ms = 8000) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  const r = await Promise.race([p.exit, late]);
  clearTimeout(timer);
  if (r === 'late') {
    p.child.kill('SIGKILL');
    throw new Error(`${p.name} still running ${ms} ms after SIGTERM`);
  }
  return r;
}

const PAYMENTS = `${dir}dist/payments.js`;
/** The operator's token for the failure switches (without it, `?fail=1` and `?slowMs` are ignored). */
const CHAOS_TOKEN = 'e2e-chaos-token';
const CHAOS = { authorization: `Bearer ${CHAOS_TOKEN}` };

beforeAll(() => {
  // `npm test` builds everything first (turbo runs this example's `build`); when the test runs on
  // its own, compile the NestJS payments service here if needed (the packages must be built).
  const src = `${dir}src/payments.ts`;
  if (!existsSync(PAYMENTS) || statSync(PAYMENTS).mtimeMs < statSync(src).mtimeMs) {
    execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${dir}tsconfig.json`], {
      stdio: 'inherit',
    });
  }
  for (const pkg of ['core', 'express', 'koa', 'nestjs']) {
    if (!existsSync(`${root}packages/${pkg}/dist`))
      throw new Error(`Build the packages first: npm run build`);
  }
}, 120_000);

describe('multi-service: gateway (Express) → orders (Koa) → payments (NestJS)', () => {
  const procs = {} as Record<Name, Proc>;
  let base = '';

  beforeAll(async () => {
    // A port taken between picking and listening (another test run on this machine) makes a
    // service exit at once: start the three again on fresh ports, up to three times.
    let g = 0;
    for (let attempt = 1; ; attempt++) {
      const [gw, o, p] = (await freePorts(3)) as [number, number, number];
      g = gw;
      const env = {
        GATEWAY_PORT: String(gw),
        ORDERS_PORT: String(o),
        PAYMENTS_PORT: String(p),
        CHAOS_TOKEN,
      };
      procs.payments = run('payments', PAYMENTS, env);
      procs.orders = run('orders', `${dir}orders.mjs`, env);
      procs.gateway = run('gateway', `${dir}gateway.mjs`, env);
      try {
        for (const name of NAMES) await listening(procs[name], (l) => parse(l)?.msg === 'listening');
        break;
      } catch (error) {
        for (const p of Object.values(procs)) p.child.kill('SIGKILL');
        await Promise.all(Object.values(procs).map((p) => p.exit));
        if (attempt === 3) throw error;
      }
    }
    base = `http://${HOST}:${g}`;
    // Warm up (first fetch, JIT), so the deadline cases below measure steady-state hops.
    for (let i = 0; i < 3; i++) expect((await fetch(`${base}/checkout/warm-${i}`)).status).toBe(200);
  }, 180_000);

  afterAll(async () => {
    for (const p of Object.values(procs)) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });

  const lines = (name: Name, correlationId: string): RequestLine[] =>
    procs[name].stdout
      .map(parse)
      .filter((l) => l?.msg === 'request' && l.correlationId === correlationId) as unknown as RequestLine[];

  /** Waits for the first request line of `correlationId` in `name`'s log. */
  const lineOf = (name: Name, correlationId: string) =>
    waitFor(`a ${name} log line for ${correlationId}`, () => lines(name, correlationId)[0]);

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, { headers, signal: AbortSignal.timeout(15_000) });

  it('carries one correlation ID through all three logs and the response; keeps the trace id with a fresh parent per hop; shrinks the deadline', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const clientParent = '00f067aa0ba902b7';
    const res = await get('/checkout/42', {
      traceparent: `00-${traceId}-${clientParent}-01`,
      'x-deadline-ms': '5000',
    });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id')!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/); // none was sent: the gateway made one
    const body = (await res.json()) as { correlationId: string; traceId: string; order: { status: string } };
    expect(body).toMatchObject({ correlationId: id, traceId, order: { status: 'paid' } });

    const [g, o, p] = await Promise.all([
      lineOf('gateway', id),
      lineOf('orders', id),
      lineOf('payments', id),
    ]);
    for (const l of [g, o, p]) expect(l).toMatchObject({ correlationId: id, traceId, status: 200 });
    // Parent ids: the client's span, then a fresh id per outgoing call (W3C: each outgoing request
    // is its own operation, so it is neither the caller's span id nor shared); all distinct.
    expect(g.inboundParentId).toBe(clientParent);
    expect(o.inboundParentId).toMatch(/^[0-9a-f]{16}$/);
    expect(p.inboundParentId).toMatch(/^[0-9a-f]{16}$/);
    expect([g.spanId, o.spanId, p.spanId]).not.toContain(o.inboundParentId);
    expect([g.spanId, o.spanId, p.spanId]).not.toContain(p.inboundParentId);
    expect(new Set([g.inboundParentId, o.inboundParentId, p.inboundParentId]).size).toBe(3);
    expect(new Set([g.spanId, o.spanId, p.spanId, clientParent]).size).toBe(4);
    // The deadline shrinks: at least the margin per hop (20 ms at the gateway, 100 ms at orders).
    expect(g.inboundDeadlineMs).toBe(5000);
    expect(o.inboundDeadlineMs!).toBeLessThanOrEqual(5000 - 20);
    expect(o.inboundDeadlineMs!).toBeGreaterThan(4000);
    expect(p.inboundDeadlineMs!).toBeLessThanOrEqual(o.inboundDeadlineMs! - 100);
    expect(p.inboundDeadlineMs!).toBeGreaterThan(3000);
    // Exactly one line per service for the request.
    for (const n of NAMES) expect(lines(n, id)).toHaveLength(1);
  });

  it('gives a request without a deadline the gateway default (5 s), shrinking on the way', async () => {
    const res = await get('/checkout/7');
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id')!;
    const [g, o, p] = await Promise.all([
      lineOf('gateway', id),
      lineOf('orders', id),
      lineOf('payments', id),
    ]);
    expect(g.inboundDeadlineMs).toBeNull();
    expect(o.inboundDeadlineMs!).toBeLessThanOrEqual(5000 - 20);
    expect(p.inboundDeadlineMs!).toBeLessThan(o.inboundDeadlineMs!);
  });

  it('fails fast at the gateway when the deadline leaves no time for orders, and never calls orders', async () => {
    const res = await get('/checkout/45', { 'x-deadline-ms': '15', 'x-request-id': 'e2e-short-at-gateway' });
    expect(res.status).toBe(504);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const problem = (await res.json()) as Record<string, unknown>;
    expect(problem).toMatchObject({ code: 'DEADLINE_EXCEEDED', correlationId: 'e2e-short-at-gateway' });
    expect(String(problem.detail)).toContain('orders');
    expect(await lineOf('gateway', 'e2e-short-at-gateway')).toMatchObject({
      status: 504,
      code: 'DEADLINE_EXCEEDED',
    });
    // A later request's lines are logged after this one's would have been: none came.
    const after = await get('/checkout/46', { 'x-request-id': 'e2e-after-gateway' });
    expect(after.status).toBe(200);
    await lineOf('orders', 'e2e-after-gateway');
    await lineOf('payments', 'e2e-after-gateway');
    expect(lines('orders', 'e2e-short-at-gateway')).toEqual([]);
    expect(lines('payments', 'e2e-short-at-gateway')).toEqual([]);
  });

  it('fails fast at orders when its margin leaves no time for payments, and never calls payments', async () => {
    // The gateway forwards ~90 ms; orders keeps 100 ms for itself, so it does not call payments.
    const res = await get('/checkout/47', { 'x-deadline-ms': '110', 'x-request-id': 'e2e-short-at-orders' });
    expect(res.status).toBe(504);
    const problem = (await res.json()) as Record<string, unknown>;
    expect(problem).toMatchObject({
      code: 'DOWNSTREAM_ERROR',
      service: 'orders',
      downstreamCode: 'DEADLINE_EXCEEDED',
      correlationId: 'e2e-short-at-orders',
    });
    expect(problem.suggestion).toEqual(expect.any(String));
    const o = await lineOf('orders', 'e2e-short-at-orders');
    expect(o).toMatchObject({ status: 504, code: 'DEADLINE_EXCEEDED' });
    expect(o.inboundDeadlineMs!).toBeLessThan(110 - 20 + 1);
    expect(o.inboundDeadlineMs!).toBeGreaterThan(0);
    const after = await get('/checkout/48', { 'x-request-id': 'e2e-after-orders' });
    expect(after.status).toBe(200);
    await lineOf('payments', 'e2e-after-orders');
    expect(lines('payments', 'e2e-short-at-orders')).toEqual([]);
  });

  it('replaces a hostile correlation ID at the gateway; it is never seen downstream or in any log', async () => {
    const hostile = `"><script>alert('pwn3d-marker')</script> OR 1=1; --`;
    const res = await get('/checkout/49', { 'x-request-id': hostile });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id')!;
    expect(id).not.toBe(hostile);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(((await res.json()) as { correlationId: string }).correlationId).toBe(id);
    await Promise.all(NAMES.map((n) => lineOf(n, id)));
    for (const n of NAMES) {
      const all = [...procs[n].stdout, ...procs[n].stderr].join('\n');
      expect(all).not.toContain('pwn3d-marker');
    }
  });

  it('reports a failing payments service at the gateway as problem+json naming payments, with its suggestion', async () => {
    const res = await get('/checkout/50?fail=1', CHAOS);
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const id = res.headers.get('x-request-id')!;
    const problem = (await res.json()) as Record<string, unknown>;
    expect(problem).toMatchObject({
      status: 502,
      code: 'DOWNSTREAM_ERROR',
      service: 'payments',
      hops: ['orders', 'payments'],
      downstreamCode: 'HTTP_ERROR',
      correlationId: id,
      suggestion: expect.stringContaining('Retry later'),
    });
    expect(String(problem.detail)).toContain("'payments'");
    // Orders retried payments once; both attempts carry the request's correlation ID.
    await waitFor('two payments attempts', () => (lines('payments', id).length === 2 ? true : undefined));
    for (const l of lines('payments', id)) expect(l.status).toBe(503);
    expect(await lineOf('orders', id)).toMatchObject({ status: 502, code: 'DOWNSTREAM_ERROR' });
    expect(await lineOf('gateway', id)).toMatchObject({ status: 502, code: 'DOWNSTREAM_ERROR' });
  });

  it('reports a slow payments service at the gateway as a 504 naming payments, well before payments would answer', async () => {
    const started = Date.now();
    const res = await get('/checkout/51?slowMs=4000', CHAOS);
    const took = Date.now() - started;
    expect(res.status).toBe(504);
    const problem = (await res.json()) as Record<string, unknown>;
    expect(problem).toMatchObject({
      code: 'DOWNSTREAM_ERROR',
      service: 'payments',
      hops: ['orders', 'payments'],
      downstreamCode: 'TIMEOUT',
      suggestion: expect.any(String),
    });
    expect(took).toBeLessThan(3500);
    // Payments saw both attempts go away (orders' attempt timeout closed them): logged as aborted.
    const id = res.headers.get('x-request-id')!;
    await waitFor('two aborted payments attempts', () =>
      lines('payments', id).length === 2 ? true : undefined,
    );
  });

  it('ignores the failure switches without the token: a public ?fail=1 cannot trip the shared breakers', async () => {
    for (let i = 0; i < 12; i++) {
      const res = await get(`/checkout/p${i}?fail=1`, { authorization: 'Bearer guess' });
      expect(res.status).toBe(200);
      await res.body?.cancel();
    }
    const id = 'e2e-after-public-fail';
    expect((await get('/checkout/60', { 'x-request-id': id })).status).toBe(200);
    expect((await lineOf('payments', id)).status).toBe(200);
  });

  it("answers a downstream 404 as its own 404 problem, never a 200 carrying orders' body", async () => {
    const res = await get('/checkout/not.an.id'); // orders has no route for it: 404
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ status: 404, detail: 'Order not.an.id does not exist.' });
    expect(text).not.toContain('/orders/'); // orders' internal path stays inside
  });

  it('exits cleanly: every service closes its server and its Bulwark core on SIGTERM (exit code 0)', async () => {
    for (const n of NAMES) procs[n].child.kill('SIGTERM');
    const results = await Promise.all(NAMES.map((n) => exited(procs[n])));
    for (const r of results) expect(r).toEqual({ code: 0, signal: null });
    for (const n of NAMES) {
      expect(procs[n].stdout.some((l) => parse(l)?.msg === 'closed')).toBe(true);
      // stderr holds only the error reports of the 5xx answers the tests caused (payments' injected
      // 503s, logged once each with their correlation ID), nothing else.
      for (const line of procs[n].stderr) {
        expect(line).toMatch(/^\{"level":"error"/);
        expect(line).toContain('failure injected with ?fail=1');
      }
    }
  }, 15_000);
});

describe('multi-service launcher (start.mjs)', () => {
  let launcher: Proc | undefined;
  afterAll(() => {
    if (launcher && launcher.child.exitCode === null) launcher.child.kill('SIGKILL');
  });

  it('starts the three with prefixed output, serves a checkout, restarts a service that died while the others serve, and passes SIGTERM on', async () => {
    const [g, o, p] = (await freePorts(3)) as [number, number, number];
    launcher = run('launcher', `${dir}start.mjs`, {
      GATEWAY_PORT: String(g),
      ORDERS_PORT: String(o),
      PAYMENTS_PORT: String(p),
    });
    const l = launcher;
    for (const n of NAMES) {
      await listening(l, (s) => s.startsWith(`${n.padEnd(8)} | `) && s.includes('"listening"'));
    }
    const res = await fetch(`http://${HOST}:${g}/checkout/52`, { signal: AbortSignal.timeout(10_000) });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id')!;
    for (const n of NAMES) {
      await waitFor(`${n}'s prefixed line for the request`, () =>
        l.stdout.some((s) => s.startsWith(`${n.padEnd(8)} | `) && s.includes(id)) ? true : undefined,
      );
    }
    // One service dies: the others keep serving (a problem naming the missing hop), and the
    // launcher restarts it.
    const started = l.stdout.find((s) => s.startsWith('payments | started (pid '));
    const pid = Number(/pid (\d+)/.exec(started ?? '')?.[1]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    await waitFor('payments to be restarted', () =>
      l.stdout.some((s) => s === 'payments | restarting in 1 s') ? true : undefined,
    );
    const during = await fetch(`http://${HOST}:${g}/checkout/53`, { signal: AbortSignal.timeout(10_000) });
    expect([200, 502, 503]).toContain(during.status); // the gateway and orders still answer
    await during.body?.cancel();
    await waitFor(
      'a checkout after the restart',
      async () => {
        const r = await fetch(`http://${HOST}:${g}/checkout/54`, { signal: AbortSignal.timeout(5000) });
        await r.body?.cancel();
        return r.status === 200 ? true : undefined;
      },
      20_000,
    );
    l.child.kill('SIGTERM');
    expect(await exited(l)).toEqual({ code: 1, signal: null }); // one service had died
    for (const n of NAMES) expect(l.stdout).toContain(`${n.padEnd(8)} | exited (code 0)`);
    expect(l.stderr).toEqual([]);
  }, 90_000);
});
