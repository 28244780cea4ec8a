import { AsyncLocalStorage } from 'node:async_hooks';
import { getContext } from '@bulwark/core';

/** The call a Bulwark-wrapped method is running: its instance, arguments and the signal its policies handed in. */
export interface CallFrame {
  /** The instance the method was called on (`this` of `@Fallback` handlers). */
  readonly self: unknown;
  /** Arguments of the wrapped call (read by `@Fallback` handlers). */
  readonly args: readonly unknown[];
  /** Signal of the innermost policy layer (or of the request). */
  readonly signal: AbortSignal | undefined;
}

/** Frames of wrapped calls; set by the method wrapper. */
export const callFrames = new AsyncLocalStorage<CallFrame>();

/**
 * The AbortSignal the running code should honour: the innermost Bulwark-wrapped method's (aborted by
 * its `@Timeout`, a retry giving up, ...), else the request's (client disconnect, deadline), else undefined.
 * @example
 * @Timeout('1s') get(id: string) { return fetch(`${base}/${id}`, { signal: currentSignal() }); }
 */
export function currentSignal(): AbortSignal | undefined {
  return callFrames.getStore()?.signal ?? getContext()?.signal;
}
