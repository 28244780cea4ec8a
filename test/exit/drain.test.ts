/**
 * The examples' shutdown drains (issue 8, finding 17): a real `npm start` process, a request in
 * flight, then SIGTERM. The request completes with its answer, new connections are refused, and
 * the process exits with code 0 once the in-flight work is done (never cut by
 * `closeAllConnections()` first).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLES, freePorts } from '../docs/examples.js';
import { root } from '../docs/run-ts.js';
import { get } from './http-get.js';

describe.each(['express-basic', 'koa-basic', 'nestjs-basic'])('%s on SIGTERM', (name) => {
  it('lets the in-flight request finish, refuses new ones, and exits 0', async () => {
    const [port] = (await freePorts(1)) as [number];
    const spec = EXAMPLES[name]!;
    const child = spawn(process.execPath, [spec.entry], {
      cwd: join(root, 'examples', name),
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        FLAKY_FAILURE_RATE: '0',
        NODE_ENV: 'production',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      out += s;
    });
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      out += s;
    });
    const exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    try {
      for (let i = 0; ; i++) {
        if (
          await get(port, '/livez-probe').then(
            () => true,
            () => false,
          )
        )
          break;
        if (i > 400 || child.exitCode !== null) throw new Error(`${name} did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      // /report works 800 ms; SIGTERM arrives while it runs.
      const inflight = get(port, '/report');
      await new Promise((r) => setTimeout(r, 250));
      child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 100));
      const refused = await get(port, '/hello').then(
        (r) => `answered ${r.status}`,
        (e: NodeJS.ErrnoException) => e.code,
      );
      const answer = await inflight;
      expect(answer.status, out).toBe(200);
      expect(JSON.parse(answer.body)).toEqual({ report: 'quarterly', rows: 42 });
      expect(refused).toBe('ECONNREFUSED');
      const [code, signal] = await Promise.race([
        exit,
        new Promise<[string, null]>((r) => setTimeout(() => r(['still running 5 s later', null]), 5000)),
      ]);
      expect({ code, signal }, out).toEqual({ code: 0, signal: null });
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 30_000);
});
