/**
 * Helpers shared by the tests that kill real processes over a durable store (test/durability,
 * test/recovery): wait for a child to end, and check a SQLite file with SQLite's own check.
 */
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';

/** Resolves with the child's exit code and signal once it closed (its output streams too). */
export const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );

/** Opens the file with node:sqlite directly and runs SQLite's own integrity check ('ok' when sound). */
export function integrity(path: string): string {
  const { DatabaseSync } = createRequire(import.meta.url)('node:sqlite') as typeof import('node:sqlite');
  const db = new DatabaseSync(path);
  try {
    const row = db.prepare('PRAGMA integrity_check').get() as { integrity_check: string };
    return row.integrity_check;
  } finally {
    db.close();
  }
}
