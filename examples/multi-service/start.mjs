/**
 * `npm start`: runs the three services as three processes on loopback and prefixes each line of
 * their output with the service's name. Ports: `GATEWAY_PORT`, `ORDERS_PORT`, `PAYMENTS_PORT`,
 * else `PORT` (default 3000) and the next two. Ctrl-C (SIGINT) or SIGTERM is passed on to the
 * three; the launcher exits when they have, with code 0 only if all three exited cleanly.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ports } from './lib.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const port = ports();
const env = {
  ...process.env,
  GATEWAY_PORT: String(port.gateway),
  ORDERS_PORT: String(port.orders),
  PAYMENTS_PORT: String(port.payments),
};

const services = [
  { name: 'payments', script: here('./dist/payments.js') },
  { name: 'orders', script: here('./orders.mjs') },
  { name: 'gateway', script: here('./gateway.mjs') },
];
if (!existsSync(services[0].script)) {
  console.error('dist/payments.js is missing: run `npm run build` (or `npm start`, which builds first).');
  process.exit(1);
}

const width = Math.max(...services.map((s) => s.name.length));
let stopping = false;
let failed = false;

function stopAll(signal = 'SIGTERM') {
  stopping = true;
  for (const s of services) {
    if (s.restart) {
      // Waiting to restart: nothing runs, so it is stopped already.
      clearTimeout(s.restart);
      s.restart = undefined;
      s.stopped();
      continue;
    }
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill(signal);
  }
}

/** Runs `s` until the launcher stops; resolves when its last process has exited. */
function run(s, delay = 1000) {
  const prefix = `${s.name.padEnd(width)} | `;
  s.child = spawn(process.execPath, [s.script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  process.stdout.write(`${prefix}started (pid ${s.child.pid})\n`);
  const started = Date.now();
  createInterface({ input: s.child.stdout }).on('line', (line) => process.stdout.write(`${prefix}${line}\n`));
  createInterface({ input: s.child.stderr }).on('line', (line) => process.stderr.write(`${prefix}${line}\n`));
  return new Promise((resolve) => {
    s.child.once('exit', (code, signal) => {
      process.stdout.write(`${prefix}exited (${signal ?? `code ${code}`})\n`);
      if (stopping) {
        if (code !== 0) failed = true;
        resolve();
        return;
      }
      // Died on its own: one service down must not take the others with it. Restart it with a
      // growing delay (reset once it has run for a minute).
      failed = true;
      const wait = Date.now() - started > 60_000 ? 1000 : delay;
      process.stdout.write(`${prefix}restarting in ${wait / 1000} s\n`);
      s.stopped = resolve;
      s.restart = setTimeout(() => {
        s.restart = undefined;
        resolve(run(s, Math.min(wait * 2, 10_000)));
      }, wait);
    });
  });
}

const exits = services.map((s) => run(s));

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stopAll('SIGTERM'));

await Promise.all(exits);
process.exit(failed ? 1 : 0);
