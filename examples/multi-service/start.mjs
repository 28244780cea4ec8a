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
  for (const s of services)
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill(signal);
}

const exits = services.map((s) => {
  s.child = spawn(process.execPath, [s.script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = `${s.name.padEnd(width)} | `;
  createInterface({ input: s.child.stdout }).on('line', (line) => process.stdout.write(`${prefix}${line}\n`));
  createInterface({ input: s.child.stderr }).on('line', (line) => process.stderr.write(`${prefix}${line}\n`));
  return new Promise((resolve) => {
    s.child.once('exit', (code, signal) => {
      const clean = code === 0;
      if (!clean) failed = true;
      process.stdout.write(`${prefix}exited (${signal ?? `code ${code}`})\n`);
      // One service gone for no reason: stop the others, there is no chain left to serve.
      if (!stopping) {
        failed = true;
        stopAll();
      }
      resolve();
    });
  });
});

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stopAll('SIGTERM'));

await Promise.all(exits);
process.exit(failed ? 1 : 0);
