/**
 * The durable record store across real processes: a writer SIGKILLed at random moments loses no
 * acknowledged write and leaves a file that opens cleanly; two processes share one file; the
 * default store lives under the working directory and is created only on first use.
 *
 * The children run against the built dist (npm test builds first; alone: `npm run build`).
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { durableRecords } from '@bulwark/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited, integrity } from './process.js';

const writer = fileURLToPath(new URL('./records-writer.mjs', import.meta.url));
const defaultPath = fileURLToPath(new URL('./default-path.mjs', import.meta.url));
const dist = fileURLToPath(new URL('../../packages/core/dist/index.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'bulwark-durability-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(() => {
  expect(existsSync(dist), `build @bulwark/core first: ${dist} is missing`).toBe(true);
});

type Child = ChildProcessByStdio<null, Readable, Readable>;

/** Starts the writer; `acked` collects every id it printed; `ready` resolves on the first. */
function startWriter(args: string[]): {
  child: Child;
  acked: string[];
  ready: Promise<void>;
  stderr: () => string;
} {
  const child = spawn(process.execPath, [writer, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked: string[] = [];
  let rest = '';
  let err = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    acked.push(...lines);
    if (acked.length > 0) onReady();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  return { child, acked, ready, stderr: () => err };
}

describe('durableRecords under SIGKILL', () => {
  const runs = [
    ...Array.from({ length: 20 }, (_, i) => ({
      run: i,
      sync: 'grouped',
      inflight: i % 2 === 0 ? '64' : '1',
    })),
    ...Array.from({ length: 4 }, (_, i) => ({ run: 20 + i, sync: 'each', inflight: '8' })),
  ];
  // One file per mode, reopened after every kill: each run also recovers from the one before.
  const files = { grouped: join(dir, 'kill-grouped.db'), each: join(dir, 'kill-each.db') };
  const everAcked = { grouped: new Set<string>(), each: new Set<string>() };

  it.each(runs)(
    'run $run ($sync, $inflight in flight): every acknowledged put survives',
    async ({ run, sync, inflight }) => {
      const mode = sync as 'grouped' | 'each';
      const path = files[mode];
      const { child, acked, ready, stderr } = startWriter([
        path,
        mode,
        `r${String(run).padStart(2, '0')}`,
        inflight,
      ]);
      await ready;
      // A random kill moment, 0 to 250 ms after the first acknowledged put.
      const delay = Math.floor(Math.random() * 250);
      await new Promise((resolve) => setTimeout(resolve, delay));
      const done = exited(child);
      child.kill('SIGKILL');
      const { signal } = await done;
      expect(signal).toBe('SIGKILL');
      expect(stderr()).toBe('');
      for (const id of acked) everAcked[mode].add(id);

      expect(integrity(path)).toBe('ok');
      const store = durableRecords({ path, sync: mode });
      try {
        const records = store.records('kill-test');
        const listed = await records.list();
        const ids = listed.map((r) => r.id);
        expect(new Set(ids).size, 'no id twice').toBe(ids.length);
        expect(await records.count()).toBe(ids.length);
        const present = new Set(ids);
        const missing = [...everAcked[mode]].filter((id) => !present.has(id));
        expect(missing, `acknowledged but lost (killed after ${delay} ms)`).toEqual([]);
        for (const r of listed) expect(r.value).toEqual({ id: r.id, body: 'x'.repeat(64) });
      } finally {
        await store.close();
      }
    },
  );
});

describe('durableRecords across processes', () => {
  it('two processes write to one file at once; both sets are there', async () => {
    const path = join(dir, 'shared.db');
    const { child, acked, stderr } = startWriter([path, 'grouped', 'child', '16', '2000']);
    const mine = durableRecords({ path });
    const records = mine.records('kill-test');
    const ids = Array.from({ length: 2000 }, (_, i) => `parent-${String(i).padStart(8, '0')}`);
    for (let i = 0; i < ids.length; i += 50)
      await Promise.all(ids.slice(i, i + 50).map((id) => records.put(id, { id, body: 'x'.repeat(64) })));
    const { code } = await exited(child);
    expect(stderr()).toBe('');
    expect(code).toBe(0);
    expect(acked).toHaveLength(2000);
    expect(await records.count()).toBe(4000);
    await mine.close();
    // 4,000 fsynced commits from two processes contending for one write lock: seconds on a quiet
    // machine, more than the default 20 s on a loaded one.
  }, 90_000);

  it('the default store is .bulwark/bulwark.db under the cwd, created on first use, closed by close()', async () => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    const child = spawn(process.execPath, [defaultPath], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const { code } = await exited(child);
    expect(code, err).toBe(0);
    expect(JSON.parse(out)).toEqual({
      before: false,
      afterAccess: false,
      durable: true,
      file: true,
      closed: true,
    });
    // Node 22's "SQLite is an experimental feature" warning is dropped; other warnings pass.
    expect(err).not.toMatch(/SQLite/);
    expect(err).toMatch(/ExperimentalWarning: another experimental thing/);
  });
});
