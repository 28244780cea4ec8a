/**
 * Shown output of the examples' READMEs: a fresh instance of the example per block, started as
 * `npm start` starts it (on free loopback ports), every command run with bash, its output
 * compared with what the README shows (after normalisation).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { normalize } from './normalize.js';
import { root } from './run-ts.js';

const exec = promisify(execFile);

/** How each example starts (its `npm start` without the build) and the ports its README shows. */
export const EXAMPLES: Record<
  string,
  { entry: string; ports: Record<string, number>; warmUp?: string; cli?: boolean }
> = {
  'express-basic': { entry: 'server.mjs', ports: { PORT: 3000 } },
  'koa-basic': { entry: 'server.mjs', ports: { PORT: 3000 } },
  'nestjs-basic': { entry: 'dist/server.js', ports: { PORT: 3000 } },
  health: { entry: 'server.mjs', ports: { PORT: 3000, RECOMMENDATIONS_PORT: 3001 } },
  'multi-service': {
    entry: 'start.mjs',
    ports: { GATEWAY_PORT: 3000, ORDERS_PORT: 3001, PAYMENTS_PORT: 3002 },
  },
  // A command-line tool: nothing is started; the block's commands run it (its state is in `.data/`).
  recovery: { entry: 'sync.mjs', ports: {}, cli: true },
};

/** The example a Markdown file belongs to (`examples/<name>/README.md`), if any. */
export function exampleOf(file: string): string | undefined {
  const m = /^examples\/([^/]+)\/README\.md$/.exec(file);
  return m && m[1] !== undefined && EXAMPLES[m[1]] ? m[1] : undefined;
}

/** `n` distinct free loopback ports. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))));
  const ports = servers.map((s) => {
    const a = s.address();
    if (typeof a !== 'object' || a === null) throw new Error('no port');
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/** A running example: the doc port → real port map, its output, and a stop that must exit. */
export interface RunningExample {
  ports: Map<number, number>;
  output: string[];
  /** The example's process (absent for a command-line example). */
  child?: ChildProcess;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `name` with `env` on free ports; resolves when every port accepts connections. */
export async function startExample(name: string, env: Record<string, string> = {}): Promise<RunningExample> {
  const spec = EXAMPLES[name];
  if (!spec) throw new Error(`unknown example ${name}`);
  if (spec.cli) return cliExample();
  const keys = Object.keys(spec.ports);
  const real = await freePorts(keys.length);
  const portEnv = Object.fromEntries(keys.map((k, i) => [k, String(real[i])]));
  const cwd = join(root, 'examples', name);
  const child = spawn(process.execPath, [spec.entry], {
    cwd,
    env: { ...process.env, NODE_ENV: 'production', ...env, ...portEnv, HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout?.setEncoding('utf8').on('data', (s: string) => output.push(s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => output.push(s));
  const exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const end = Date.now() + 30_000;
  for (const port of real) {
    while (!(await accepts(port as number))) {
      if (child.exitCode !== null) throw new Error(`${name} exited before listening:\n${output.join('')}`);
      if (Date.now() > end)
        throw new Error(`${name} did not listen on ${port} within 30 s:\n${output.join('')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  if (spec.warmUp) {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`http://127.0.0.1:${real[0]}${spec.warmUp}`, {
        signal: AbortSignal.timeout(10_000),
      });
      await res.body?.cancel();
    }
  }
  return {
    ports: new Map(keys.map((k, i) => [spec.ports[k] as number, real[i] as number])),
    output,
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const [code, signal] = await exit;
      clearTimeout(timer);
      return { code, signal };
    },
  };
}

/** A command-line example: no process of its own, commands run it. */
function cliExample(): RunningExample {
  return { ports: new Map(), output: [], stop: async () => ({ code: 0, signal: null }) };
}

/** One `$ command` of a console block and the lines shown after it. */
export interface Shown {
  command: string;
  expected: string[];
}

/** Splits a console block into commands and their shown output. */
export function parseConsole(code: string): Shown[] {
  const out: Shown[] = [];
  for (const line of code.trimEnd().split('\n')) {
    if (line.startsWith('$ ')) out.push({ command: line.slice(2), expected: [] });
    else if (out.length > 0) out.at(-1)?.expected.push(line);
  }
  for (const s of out) while (s.expected.at(-1)?.trim() === '') s.expected.pop();
  return out;
}

/** Runs `command` with bash in the example's folder, its ports mapped to the real ones. */
export async function runCommand(example: RunningExample, name: string, command: string): Promise<string[]> {
  let cmd = command;
  for (const [doc, real] of example.ports) {
    cmd = cmd
      .replaceAll(`127.0.0.1:${doc}`, `127.0.0.1:${real}`)
      .replaceAll(`localhost:${doc}`, `localhost:${real}`);
  }
  const { stdout } = await exec('bash', ['-c', cmd], {
    cwd: join(root, 'examples', name),
    timeout: 30_000,
    maxBuffer: 8 << 20,
  }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }));
  let text = stdout.replace(/\r\n/g, '\n');
  for (const [doc, real] of example.ports) text = text.replaceAll(`127.0.0.1:${real}`, `127.0.0.1:${doc}`);
  return text.trimEnd().split('\n');
}

/**
 * Compares shown lines with real ones: every shown line (normalised) must appear in the real
 * output, in order (a README may leave lines out, e.g. headers that do not matter); with
 * `unordered`, the words of both must be the same multiset.
 */
export function compare(expected: string[], actual: string[], unordered: boolean): string | undefined {
  const e = expected.map(normalize);
  const a = actual.map(normalize);
  if (unordered) {
    const words = (l: string[]) => l.join(' ').split(/\s+/).filter(Boolean).sort().join(' ');
    return words(e) === words(a) ? undefined : `expected (any order): ${words(e)}\n     got: ${words(a)}`;
  }
  let j = 0;
  for (const line of e) {
    while (j < a.length && a[j] !== line) j++;
    if (j === a.length)
      return `shown line not in the real output (in order):\n  ${line}\nreal output:\n  ${a.join('\n  ')}`;
    j++;
  }
  return undefined;
}
