/**
 * A real process runs a saga on the durable store and is SIGKILLed at a random moment, mid-steps
 * or mid-compensation; a second process runs the same saga id again. Across both, no undo ever
 * starts twice, the undo of a step that did not complete never runs, and the resumed saga
 * finishes its compensation (every completed step undone, or reported unknown and dead-lettered).
 *
 * The source is bundled with esbuild into one CJS file (Node cannot run our `.ts` sources that
 * import `./x.js` without a loader). Each step and undo appends to an effects file the moment it
 * starts and ends (appendFileSync: written to the kernel before the call returns, so SIGKILL
 * cannot lose it) and prints the line, so the parent can kill after a chosen effect.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'bulwark-saga-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const STEPS = 8;
const FAILS_AT = 6; // steps 0..5 complete, step 6 fails, so 6 undos run

const CHILD = `
const { appendFileSync } = require('node:fs');
const { join } = require('node:path');
const { createSaga, durableRecords } = require('./core.cjs');
const [work] = process.argv.slice(2);
const effect = (line) => { appendFileSync(join(work, 'effects.log'), line + '\\n'); process.stdout.write(line + '\\n'); };
const pause = () => new Promise((r) => setTimeout(r, 1 + Math.floor(Math.random() * 4)));
const deadLetters = { async add(entry) {
  appendFileSync(join(work, 'dead-letters.log'), JSON.stringify(entry.payload) + '\\n');
  return 'dl-' + entry.payload.stepIndex;
} };
const steps = Array.from({ length: ${STEPS} }, (_, i) => ({
  name: 's' + i,
  do: async () => { effect('do-start ' + i); await pause(); if (i === ${FAILS_AT}) throw new Error('step ' + i); effect('do-end ' + i); return i; },
  undo: async (_ctx, r) => { effect('undo-start ' + i); await pause(); if (r !== i) throw new Error('bad result'); effect('undo-end ' + i); },
}));
(async () => {
  const records = durableRecords({ path: join(work, 'bulwark.db') });
  const saga = createSaga('crash', steps, { records, deadLetters, retry: false });
  const result = await saga.run(undefined, { id: 'saga-1' });
  const unfinished = await saga.unfinished();
  process.stdout.write('RESULT ' + JSON.stringify({ status: result.status, resumed: result.resumed, completed: result.completed,
    compensated: result.compensated, failed: result.failed.map((f) => ({ step: f.step, status: f.status, deadLetterId: f.deadLetterId })), unfinished }) + '\\n');
  await records.close();
})().catch((e) => { console.error(e); process.exit(3); });
`;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
}

/** Runs the child; with `killAfter`, SIGKILLs it right after it printed that many effect lines. */
function runChild(work: string, killAfter?: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(dir, 'child.cjs'), work], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let effects = 0;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      effects = out.split('\n').filter((l) => /^(do|undo)-/.test(l)).length;
      if (killAfter !== undefined && effects >= killAfter) child.kill('SIGKILL');
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not finish within 20 s: ${out}`));
    }, 20_000);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, out });
    });
  });
}

beforeAll(async () => {
  await build({
    entryPoints: [fileURLToPath(new URL('../index.ts', import.meta.url))],
    outfile: join(dir, 'core.cjs'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    logLevel: 'error',
  });
  writeFileSync(join(dir, 'child.cjs'), CHILD);
}, 60_000);

const count = (lines: string[], line: string) => lines.filter((l) => l === line).length;

// 6 do-end/undo pairs + the failing step: 8 + 6 + ... effect lines; kill points spread over all of them.
const TOTAL_EFFECTS = 2 * FAILS_AT + 1 + 2 * FAILS_AT;
const KILL_POINTS = Array.from(
  { length: 20 },
  (_, i) => 1 + ((i * 7 + Math.floor(Math.random() * 3)) % (TOTAL_EFFECTS - 1)),
);

it.each(KILL_POINTS.map((k, run) => ({ k, run })))(
  'run $run: killed after effect $k, the resumed saga finishes its undo and never runs one twice',
  async ({ k, run }) => {
    const work = mkdtempSync(join(dir, `run-${run}-`));
    const killed = await runChild(work, k);
    expect(killed.signal, killed.out).toBe('SIGKILL');
    const resumed = await runChild(work);
    expect(resumed.code, resumed.out).toBe(0);
    const line = resumed.out.split('\n').find((l) => l.startsWith('RESULT '));
    expect(line, resumed.out).toBeDefined();
    const result = JSON.parse((line as string).slice(7)) as {
      status: string;
      resumed: boolean;
      compensated: string[];
      failed: { step: string; status: string; deadLetterId?: string }[];
      unfinished: string[];
    };
    const effects = readFileSync(join(work, 'effects.log'), 'utf8').trim().split('\n');
    const deadLettered = existsSync(join(work, 'dead-letters.log'))
      ? readFileSync(join(work, 'dead-letters.log'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { stepIndex: number; reason: string })
      : [];
    expect(result.resumed).toBe(true);
    expect(['compensated', 'failed']).toContain(result.status);
    expect(result.unfinished).toEqual([]);
    for (let i = 0; i < STEPS; i++) {
      // At most once, across the killed process and the resumed one.
      expect(count(effects, `undo-start ${i}`), `undo ${i}\n${effects.join('\n')}`).toBeLessThanOrEqual(1);
      const undone = result.compensated.includes(`s${i}`);
      const unknown = result.failed.find((f) => f.step === `s${i}`);
      if (count(effects, `do-end ${i}`) === 1 && i < FAILS_AT) {
        // A completed step is undone, or reported unknown (interrupted) and dead-lettered.
        expect(undone || unknown?.status === 'unknown', `step ${i}: ${JSON.stringify(result)}`).toBe(true);
      }
      if (undone) expect(count(effects, `undo-end ${i}`)).toBe(1);
      if (unknown) {
        expect(unknown.status).toBe('unknown');
        expect(deadLettered.some((d) => d.stepIndex === i)).toBe(true);
      }
      // An undo only ever runs for a step whose do completed.
      if (count(effects, `undo-start ${i}`) === 1) expect(count(effects, `do-end ${i}`)).toBe(1);
    }
    // The resumed process never re-ran a step that completed before the kill.
    for (let i = 0; i < STEPS; i++) expect(count(effects, `do-end ${i}`)).toBeLessThanOrEqual(1);
  },
  30_000,
);
