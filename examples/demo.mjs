/**
 * `npm run demo`: starts the Express example in this process on a free port, listens to Bulwark's
 * event stream, and drives the app over real HTTP with a short script. Prints a timeline:
 * correlation IDs, retries, the breaker opening, failing fast, probing and closing, fallbacks,
 * shed requests (bulkhead, rate limit) and spent deadlines; then a recovery chapter: the
 * tenant-sync CLI of examples/recovery killed mid-run and resumed. Ends by itself in about 12 s.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start } from './express-basic/app.mjs';

// biome-ignore lint/suspicious/noUndeclaredEnvVars: NO_COLOR is read at run time, not by a turbo task
const tty = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (code) => (s) => (tty ? `\x1b[${code}m${s}\x1b[0m` : String(s));
const c = {
  dim: paint('2'),
  bold: paint('1'),
  red: paint('31'),
  green: paint('32'),
  yellow: paint('33'),
  blue: paint('34'),
  magenta: paint('35'),
  cyan: paint('36'),
};

const t0 = performance.now();
const epoch0 = Date.now();
const stamp = (ms = performance.now() - t0) => c.dim(`+${(ms / 1000).toFixed(3)}s`);
const log = (line, ms) => console.log(`${stamp(ms)}  ${line}`);
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const counts = { requests: 0, byStatus: new Map(), retries: 0, opened: 0, closed: 0, fallbacks: 0 };
let seq = 0;

// ---------------------------------------------------------------------------------------------
const CHAOS_TOKEN = 'demo-chaos-token';
const app = await start({ port: 0, failureRate: 0, chaosToken: CHAOS_TOKEN }); // the script makes its own outages
const { core, url } = app;

/** Event lines, printed as they happen; `at` is the event's own clock. */
const at = (e) => e.at - epoch0;
const id = (e) => (e.correlationId ? c.dim(`[${e.correlationId}] `) : '');
const subscriptions = [
  core.events.on('retry.scheduled', (e) => {
    counts.retries++;
    log(
      `   ${c.yellow('↻')} ${id(e)}${e.policy}: attempt ${e.attempt - 1} failed (${reason(e.error)}), attempt ${e.attempt} in ${Math.round(e.delayMs)} ms`,
      at(e),
    );
  }),
  core.events.on('retry.gave-up', (e) =>
    log(`   ${c.red('✗')} ${id(e)}${e.policy}: gave up after ${e.attempts} attempts`, at(e)),
  ),
  core.events.on('breaker.opened', (e) => {
    counts.opened++;
    log(
      c.red(
        c.bold(
          `   ⚡ breaker ${e.policy} OPENED (${e.failures} failures, ${Math.round(e.errorRate)}% errors) — calls now fail fast`,
        ),
      ),
      at(e),
    );
  }),
  core.events.on('breaker.half-open', (e) =>
    log(c.yellow(c.bold(`   ◐ breaker ${e.policy} HALF-OPEN — the next call is a probe`)), at(e)),
  ),
  core.events.on('breaker.closed', (e) => {
    counts.closed++;
    log(c.green(c.bold(`   ● breaker ${e.policy} CLOSED (${e.reason ?? 'probe-succeeded'})`)), at(e));
  }),
  core.events.on('fallback.used', (e) => {
    counts.fallbacks++;
    log(`   ${c.magenta('↯')} ${id(e)}fallback of ${e.policy} used — ${reason(e.error)}`, at(e));
  }),
  core.events.on('bulkhead.rejected', (e) =>
    log(
      `   ${c.red('⊘')} ${id(e)}bulkhead ${e.policy} ${e.reason} (${e.running} running, ${e.queued} queued)`,
      at(e),
    ),
  ),
  core.events.on('rate-limit.rejected', (e) =>
    log(`   ${c.red('⊘')} ${id(e)}rate limit of ${e.limit} exceeded for ${e.key ?? 'default'}`, at(e)),
  ),
  core.events.on('timeout', (e) =>
    log(`   ${c.red('⏱')} ${id(e)}${e.policy}: ${e.kind} timeout after ${e.timeoutMs} ms`, at(e)),
  ),
];

function reason(error) {
  return error instanceof Error ? error.message : String(error);
}

/**
 * One real HTTP request with a fresh correlation ID; prints the request and the answer.
 * @returns {Promise<{ status: number, headers: Headers, body: any }>}
 */
async function request(path, { tenant = 'demo', headers = {}, quiet = false, method = 'GET' } = {}) {
  const cid = `demo-${String(++seq).padStart(2, '0')}`;
  if (!quiet) log(`${c.blue('→')} ${c.dim(`[${cid}]`)} ${method} ${path}${describe(headers)}`);
  const res = await fetch(url + path, {
    method,
    headers: {
      'x-request-id': cid,
      // The example's demo keys name the tenant; the chaos switch is the operator's, keyed by address.
      ...(path.startsWith('/chaos/')
        ? { authorization: `Bearer ${CHAOS_TOKEN}` }
        : { 'x-api-key': `key-${tenant}` }),
      ...headers,
    },
  });
  const text = await res.text();
  const body = text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
  counts.requests++;
  counts.byStatus.set(res.status, (counts.byStatus.get(res.status) ?? 0) + 1);
  if (!quiet) log(answer(res, body));
  return { status: res.status, headers: res.headers, body };
}

function describe(headers) {
  const names = Object.keys(headers);
  return names.length ? c.dim(` (${names.map((n) => `${n}: ${headers[n]}`).join(', ')})`) : '';
}

/** `← [demo-07] 503 CIRCUIT_OPEN  retry-after 2s  "suggestion…"`. */
function answer(res, body) {
  const rid = res.headers.get('x-request-id');
  const colour = res.status < 300 ? c.green : res.status === 429 || res.status === 503 ? c.yellow : c.red;
  const parts = [`${c.cyan('←')} ${c.dim(`[${rid}]`)} ${colour(res.status)}`];
  const degraded = res.headers.get('bulwark-degraded');
  if (typeof body === 'object' && body?.code) {
    parts.push(`${c.bold(body.code)}${body.detail ? c.dim(` — ${body.detail}`) : ''}`);
    const retryAfter = res.headers.get('retry-after');
    if (retryAfter) parts.push(c.dim(`Retry-After: ${retryAfter}s`));
    if (body.suggestion) parts.push(`\n${' '.repeat(14)}${c.dim('suggestion:')} ${body.suggestion}`);
  } else {
    parts.push(JSON.stringify(body));
    if (degraded) parts.push(c.magenta(`bulwark-degraded: ${degraded}`));
  }
  return parts.join('  ');
}

function heading(title) {
  console.log(`\n${c.bold(title)}`);
}

/** Resolves on the next event of `type`. */
function next(type) {
  return new Promise((resolve) => {
    const sub = core.events.on(type, (e) => {
      sub.dispose();
      resolve(e);
    });
  });
}

// ---------------------------------------------------------------------------------------------
try {
  console.log(c.bold(`Bulwark demo — Express example on ${url} (in-memory store), timeline from start`));

  heading('1. Correlation: the caller’s ID (or a fresh one) is on the response and in the context');
  await request('/hello');
  {
    log(`${c.blue('→')} GET /hello without x-request-id`);
    const res = await fetch(`${url}/hello`, { headers: { 'x-api-key': 'key-demo' } });
    counts.requests++;
    counts.byStatus.set(res.status, (counts.byStatus.get(res.status) ?? 0) + 1);
    log(
      `${c.cyan('←')} ${res.status}  x-request-id: ${res.headers.get('x-request-id')} ${c.dim('(generated)')}`,
    );
  }

  heading('2. Retry and circuit breaker: the inventory service goes down');
  await request('/chaos/outage?ms=60000', { method: 'POST', quiet: true });
  log(c.red('   ✱ inventory service outage starts'));
  const opened = next('breaker.opened');
  let open = false;
  void opened.then(() => {
    open = true;
  });
  while (!open) await request('/inventory');
  for (let i = 0; i < 2; i++) await request('/inventory'); // fail fast, with a suggestion
  await request('/chaos/outage?ms=0', { method: 'POST', quiet: true });
  log(c.green('   ✱ inventory service is back (the breaker does not know yet)'));
  const openedAt = (await opened).at;
  await pause(Math.max(0, openedAt + 2050 - Date.now())); // resetTimeout is 2 s
  await request('/inventory'); // the half-open probe: it succeeds, the breaker closes
  await request('/inventory');

  heading('3. Fallback: recommendations answer a degraded static list while the service is down');
  await request('/chaos/outage?ms=1000', { method: 'POST', quiet: true });
  log(c.red('   ✱ outage for 1 s'));
  await request('/recommendations');
  await pause(1000);
  await request('/recommendations');

  heading('4. Bulkhead: 5 reports at once against maxConcurrent 2 + maxQueue 1');
  await Promise.all(Array.from({ length: 5 }, () => request('/report', { tenant: 'reports' })));

  heading('5. Rate limit: tenant "acme" sends 13 requests at once against 10 per 10 s');
  const burst = await Promise.all(
    Array.from({ length: 13 }, () => request('/hello', { tenant: 'acme', quiet: true })),
  );
  const ok = burst.filter((r) => r.status === 200).length;
  log(
    `${c.cyan('←')} ${c.green(`${ok} × 200`)}  ${c.dim(`(RateLimit: ${burst[0]?.headers.get('ratelimit')} … )`)}`,
  );
  for (const r of burst.filter((x) => x.status !== 200))
    log(answer({ status: r.status, headers: r.headers }, r.body));
  await request('/hello', { tenant: 'globex' }); // another tenant is not affected

  heading('6. Deadlines and timeouts');
  await request('/hello', { headers: { 'x-deadline-ms': '0' } }); // budget already spent upstream
  await request('/export'); // a 2 s job on a route that allows 500 ms

  heading('7. Problem details for the app’s own errors');
  await request('/orders/7');
} finally {
  for (const s of subscriptions) s.dispose();
  await app.close();
}

// ---------------------------------------------------------------------------------------------
// 8. Recovery: examples/recovery's tenant-sync CLI, killed mid-run (SIGKILL) and resumed, on a
// durable file in a temporary folder.
heading('8. Recovery: a checkpointed tenant sync is SIGKILLed mid-run, then resumed');
const data = mkdtempSync(join(tmpdir(), 'bulwark-demo-recovery-'));
try {
  const cli = fileURLToPath(new URL('./recovery/sync.mjs', import.meta.url));
  for (const args of [['--crash-after', '3'], ['--resume']]) {
    log(c.bold(`$ node examples/recovery/sync.mjs --continue-on-error ${args.join(' ')}`));
    const run = spawnSync(process.execPath, [cli, '--continue-on-error', '--data', data, ...args], {
      encoding: 'utf8',
    });
    for (const line of run.stdout.trimEnd().split('\n'))
      if (!line.startsWith('Dead letter:')) log(`   ${line}`);
    log(c.dim(`   (exit ${run.status ?? run.signal})`));
  }
} finally {
  rmSync(data, { recursive: true, force: true });
}

const statuses = [...counts.byStatus.entries()]
  .sort(([a], [b]) => a - b)
  .map(([s, n]) => `${n}×${s}`)
  .join(' ');
console.log(
  `\n${c.bold('Summary:')} ${counts.requests} requests (${statuses}); ${counts.retries} retries; breaker opened ${counts.opened}× closed ${counts.closed}×; ${counts.fallbacks} fallbacks; ${((performance.now() - t0) / 1000).toFixed(1)} s.`,
);
