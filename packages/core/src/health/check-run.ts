/**
 * Running one health check: its timeout, its AbortSignal, and turning whatever it settled with
 * into a {@link CheckResult} that is safe to report (a short cause, a bounded message).
 */
import { isBulwarkError, TimeoutError } from '../errors/bulwark-error.js';
import { MAX_TIMER_MS } from '../util/duration.js';
import type { CheckResult, HealthCheck } from './types.js';

const SAFE_CAUSE = /^[A-Z][A-Z0-9_]{1,39}$/;
/** Longest message or reason kept. */
export const MAX_MESSAGE = 200;

/** A short cause that is safe to show: a system error code (`ECONNREFUSED`), an HTTP status. */
export function causeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as { code?: unknown; status?: unknown; cause?: unknown };
  const inner = () => (e.cause === undefined || e.cause === error ? undefined : causeOf(e.cause));
  // A BulwarkError's own code is the report's `code`; its cause may say more.
  if (isBulwarkError(error)) return inner();
  if (typeof e.code === 'string' && SAFE_CAUSE.test(e.code)) return e.code;
  if (typeof e.status === 'number' && Number.isInteger(e.status)) return `HTTP ${e.status}`;
  return inner();
}

function messageOf(error: unknown): string {
  const m = error instanceof Error ? error.message : String(error);
  return m.length > MAX_MESSAGE ? `${m.slice(0, MAX_MESSAGE - 1)}…` : m;
}

/** Resolves like `p`, or rejects with the signal's reason once it aborts (a check that ignores its signal still ends). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}

/**
 * Runs `check` once under `controller` (the caller may abort it, e.g. on close) and a timeout of
 * `timeoutMs`; never rejects. A rejection, a throw or a `false` is a `down` result.
 */
export function runCheck(
  name: string,
  check: HealthCheck,
  timeoutMs: number,
  controller: AbortController,
): Promise<CheckResult> {
  const at = Date.now();
  const started = performance.now();
  const timer = setTimeout(
    () =>
      controller.abort(
        new TimeoutError({ message: `The health check of '${name}' took longer than ${timeoutMs} ms.` }),
      ),
    Math.min(timeoutMs, MAX_TIMER_MS),
  );
  timer.unref?.();
  let called: Promise<unknown>;
  try {
    called = Promise.resolve(check(controller.signal));
  } catch (e) {
    called = Promise.reject(e);
  }
  return untilAborted(called, controller.signal)
    .then(
      (value): CheckResult =>
        value === false
          ? {
              status: 'down',
              at,
              durationMs: elapsed(started),
              code: 'DEPENDENCY_DOWN',
              cause: 'returned false',
              message: 'The check returned false.',
            }
          : { status: 'up', at, durationMs: elapsed(started) },
      (error: unknown): CheckResult => {
        const cause = causeOf(error);
        return {
          status: 'down',
          at,
          durationMs: elapsed(started),
          code: isBulwarkError(error) ? error.code : 'DEPENDENCY_DOWN',
          ...(cause === undefined ? {} : { cause }),
          message: messageOf(error),
          error,
        };
      },
    )
    .finally(() => clearTimeout(timer));
}
