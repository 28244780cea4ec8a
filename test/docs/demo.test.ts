/**
 * The root README's first command, `npm run demo`, as a new user meets it: a machine where turbo
 * never ran (fresh HOME and config dir, no TURBO_TELEMETRY_DISABLED in the environment). Its first
 * screen is the demo, not Turborepo's telemetry notice (issue 8, finding 13), and it ends by itself.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { root } from './run-ts.js';

const exec = promisify(execFile);

it('npm run demo starts with the demo (no telemetry notice) and exits 0 by itself', async () => {
  const home = await mkdtemp(join(tmpdir(), 'bulwark-demo-home-'));
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config') };
    delete env.TURBO_TELEMETRY_DISABLED;
    delete env.DO_NOT_TRACK;
    // biome-ignore lint/suspicious/noUndeclaredEnvVars: set by npm when it runs `npm test`
    const cli = process.env.npm_execpath;
    const [cmd, args] =
      cli?.endsWith('.js') || cli?.endsWith('.cjs')
        ? [process.execPath, [cli, 'run', '--silent', 'demo']]
        : ['npm', ['run', '--silent', 'demo']];
    const { stdout, stderr } = await exec(cmd, args as string[], {
      cwd: root,
      env: { ...env, NO_COLOR: '1' },
      timeout: 90_000,
      maxBuffer: 16 << 20,
    });
    const screen = `${stderr}\n${stdout}`;
    expect(screen).not.toMatch(/telemetry/i);
    // The demo's timeline starts on the first screen (after turbo's few lines of build summary).
    const firstScreen = stdout.split('\n').slice(0, 24);
    expect(firstScreen.some((l) => /^\+\d+\.\d{3}s/.test(l))).toBe(true);
    expect(stdout).toMatch(/breaker/i);
    // The recovery chapter: the tenant sync is killed, resumed, and its create replayed, not duplicated.
    expect(stdout).toContain('then SIGKILL before the sync recorded it');
    expect(stdout).toContain('the create was replayed, not duplicated');
    expect(stdout).toContain('Error: Failed to create tenant');
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}, 120_000);
