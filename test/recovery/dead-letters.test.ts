/**
 * The dead-letter queue across real processes, on the durable store (a file in a mkdtemp dir):
 * - a child adding 10,000 entries is SIGKILLed at a random moment; after the restart every entry
 *   whose add() had resolved is there exactly once and the file opens cleanly (22 runs);
 * - entries waiting for their next retry survive a restart (SIGKILL) and are retried after it, on
 *   their schedule;
 * - a queue with the loop started and retries due later lets the process exit.
 *
 * The children run against the built dist (npm test builds first; alone: `npm run build`).
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  type BulwarkEvent,
  createDeadLetterQueue,
  type DeadLetterEntry,
  durableRecords,
  EventStream,
} from '@bulwark/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited, integrity } from '../durability/process.js';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const dist = here('../../packages/core/dist/index.js');
const dir = mkdtempSync(join(tmpdir(), 'bulwark-dlq-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(() => {
  expect(existsSync(dist), `build @bulwark/core first: ${dist} is missing`).toBe(true);
});

type Child = ChildProcessByStdio<null, Readable, Readable>;

function start(
  script: string,
  args: string[],
): { child: Child; lines: string[]; stderr: () => string; onLine: (fn: () => void) => void } {
  const child = spawn(process.execPath, [here(script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let rest = '';
  let err = '';
  let listener: () => void = () => {};
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    lines.push(...parts);
    if (parts.length > 0) listener();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  return { child, lines, stderr: () => err, onLine: (fn) => (listener = fn) };
}

/** Opens the queue on `path` as a restarted process would, and reads every entry. */
async function reopen(path: string): Promise<{ entries: DeadLetterEntry[]; events: BulwarkEvent[] }> {
  const events = new EventStream();
  const seen: BulwarkEvent[] = [];
  events.onAny((e) => seen.push(e));
  const records = durableRecords({ path });
  const dlq = createDeadLetterQueue({ records, events, maxSize: 1_000_000 });
  try {
    return { entries: await dlq.list(), events: seen };
  } finally {
    await dlq.close();
    await records.close();
  }
}

describe('a durable dead-letter queue under SIGKILL', () => {
  const runs = Array.from({ length: 22 }, (_, run) => ({
    run,
    inflight: run % 3 === 0 ? '1' : '64',
    sync: run % 8 === 7 ? 'each' : 'grouped',
  }));

  it.each(runs)(
    'run $run ($inflight in flight, $sync): every acknowledged entry is there exactly once',
    async ({ run, inflight, sync }) => {
      const path = join(dir, `kill-${run}.db`);
      // The kill moment: after a random number (1 to 10,000) of acknowledged adds, or 1 s after
      // the first one. The 1 s counts from the first acknowledgement, not from spawn: on a loaded
      // machine start-up alone (node, sqlite, the first fsyncs) can take longer than that.
      const target = 1 + Math.floor(Math.random() * (sync === 'each' ? 500 : 10_000));
      const w = start('./dead-letter-writer.mjs', [path, '10000', inflight, sync]);
      const done = exited(w.child);
      await new Promise<void>((resolve) => {
        let t: ReturnType<typeof setTimeout> | undefined;
        w.onLine(() => {
          t ??= setTimeout(resolve, 1000);
          if (w.lines.length >= target) {
            clearTimeout(t);
            resolve();
          }
        });
        void done.then(() => {
          clearTimeout(t);
          resolve();
        });
      });
      w.child.kill('SIGKILL');
      const { signal } = await done;
      expect(w.stderr()).toBe('');
      expect(signal, 'killed before it finished').toBe('SIGKILL');
      const acked = w.lines.map((l) => {
        const [seq, id] = l.split(' ');
        return { seq: Number(seq), id: id as string };
      });
      expect(acked.length).toBeGreaterThan(0);

      expect(integrity(path)).toBe('ok');
      const { entries, events } = await reopen(path);
      expect(events.filter((e) => e.type === 'dead-letter.store-failed')).toEqual([]);
      const byId = new Map(entries.map((e) => [e.id, e]));
      expect(byId.size, 'no id twice').toBe(entries.length);
      const seqs = entries.map((e) => (e.payload as { seq: number }).seq);
      expect(new Set(seqs).size, 'no operation stored twice').toBe(seqs.length);
      const lost = acked.filter((a) => byId.get(a.id)?.payload === undefined);
      expect(lost, `acknowledged but lost (killed after ${acked.length} acks)`).toEqual([]);
      for (const a of acked) {
        const e = byId.get(a.id) as DeadLetterEntry;
        expect(e.payload).toEqual({ seq: a.seq, order: `o-${a.seq}` });
        expect(e).toMatchObject({
          type: 'orders.sync',
          status: 'pending',
          error: { message: `sync ${a.seq} failed` },
        });
      }
      // Ids sort by age: with one add at a time, list order is the order the adds were made in.
      if (inflight === '1') expect(seqs).toEqual(seqs.map((_, i) => i));
    },
  );
});

describe('a restart', () => {
  it('keeps entries waiting for their next retry, and retries them after it, on schedule', async () => {
    const path = join(dir, 'restart.db');
    const first = start('./dead-letter-restart.mjs', [path, 'first']);
    const firstDone = exited(first.child);
    await new Promise<void>((resolve) => first.onLine(resolve));
    first.child.kill('SIGKILL');
    expect((await firstDone).signal).toBe('SIGKILL');
    expect(first.stderr()).toBe('');
    const before = JSON.parse(first.lines[0] as string) as DeadLetterEntry[];
    expect(before).toHaveLength(5);
    for (const e of before) {
      expect(e).toMatchObject({
        status: 'retrying',
        attempts: 1,
        lastError: { message: 'orders service still down' },
      });
      expect(e.nextAttemptAt).toBeGreaterThan(Date.now() - 1000);
    }

    const second = start('./dead-letter-restart.mjs', [path, 'second']);
    const { code } = await exited(second.child);
    expect(second.stderr()).toBe('');
    expect(code, 'the second process exits by itself').toBe(0);
    const { ran, entries } = JSON.parse(second.lines[0] as string) as {
      ran: { i: number; attempt: number; at: number }[];
      entries: DeadLetterEntry[];
    };
    expect(ran.map((r) => r.i).sort()).toEqual([0, 1, 2, 3, 4]);
    for (const r of ran) {
      const was = before.find((e) => (e.payload as { i: number }).i === r.i) as DeadLetterEntry;
      expect(r.attempt).toBe(2);
      // Not earlier than the schedule stored before the crash.
      expect(r.at).toBeGreaterThanOrEqual(was.nextAttemptAt as number);
    }
    for (const e of entries) {
      expect(e).toMatchObject({ status: 'recovered', attempts: 2 });
      expect(e.history.map((h) => h.outcome)).toEqual(['failed', 'recovered']);
    }
  });
});

describe('process lifetime', () => {
  it('a queue with the loop started and retries due later lets the process exit', async () => {
    const c = start('./dead-letter-exit.mjs', [join(dir, 'exit.db')]);
    const started = Date.now();
    // Real time on purpose: the point is that the real event loop empties.
    const result = await Promise.race([
      exited(c.child),
      new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000).unref()),
    ]);
    if (result === 'hung') c.child.kill('SIGKILL');
    expect(c.stderr()).toBe('');
    expect(result).toEqual({ code: 0, signal: null });
    expect(c.lines).toEqual(['done']);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
