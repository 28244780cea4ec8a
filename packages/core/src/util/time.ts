import { CancelledError } from '../errors/bulwark-error.js';

/**
 * The signal handed to operations when the caller gave none. Its controller is unreachable, so it
 * never aborts: policies recognise it and skip listening to it.
 */
export const NEVER_ABORTED_SIGNAL: AbortSignal = new AbortController().signal;

/**
 * Waits `ms`, rejecting at once (with the signal's reason or a CancelledError) if `signal` aborts.
 * The timer is always cleared. It is deliberately NOT unref'd: a caller is awaiting this wait (a
 * retry backoff), and an unref'd timer would let the process exit mid-retry with the promise
 * unsettled. It never outlives the operation, so it cannot keep an idle process alive.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  if (ms <= 0) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The error to reject with when `signal` aborted: its reason if it is an Error, else a CancelledError. */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error && r.name !== 'AbortError' ? r : new CancelledError({ cause: r });
}

/**
 * A child AbortController that aborts when `parent` does. Call `dispose()` in `finally` so the
 * listener on a long-lived parent does not accumulate.
 */
export function childController(parent?: AbortSignal): { controller: AbortController; dispose: () => void } {
  const controller = new AbortController();
  if (!parent) return { controller, dispose: noop };
  if (parent.aborted) {
    controller.abort(parent.reason);
    return { controller, dispose: noop };
  }
  const onAbort = () => controller.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  return { controller, dispose: () => parent.removeEventListener('abort', onAbort) };
}

function noop(): void {}
