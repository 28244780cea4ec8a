/** What the health tests share: a dependency check whose outcome the test switches. */
import { vi } from 'vitest';

/**
 * A check whose outcome the test sets: `state.ok` true resolves, false rejects with a connection
 * error whose message carries a password (so tests can check it never reaches an answer). Counts
 * its calls and keeps the signal of each.
 */
export function switchableCheck(initial = true) {
  const state = { ok: initial, calls: 0, signals: [] as AbortSignal[] };
  const check = vi.fn(async (signal: AbortSignal) => {
    state.calls++;
    state.signals.push(signal);
    if (!state.ok)
      throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432 password=hunter2'), {
        code: 'ECONNREFUSED',
      });
  });
  return { state, check };
}
