/**
 * The lifetime of one resilient call beyond its headers: the response body is read after the
 * pipeline has returned, when the policies' own signals no longer follow the caller. A call
 * signal follows the caller's signal and the request's deadline until the body is done (read,
 * cancelled or failed), so a downstream that sends headers and then stalls is cut off and its
 * socket released when either ends.
 */
import { DeadlineExceededError } from '../errors/bulwark-error.js';
import { MAX_TIMER_MS } from '../util/duration.js';

/** Statuses whose Response may not carry a body. */
const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 204, 205, 304]);

/** One call's signal and how to end it. */
export interface CallSignal {
  /** Aborts when the caller's signal does, or when the deadline passes. */
  readonly signal: AbortSignal;
  /** Disarms the deadline (the body is done, or the call failed); undefined when there is none to disarm. */
  release?: () => void;
}

/**
 * A signal for one call that follows `outer` and the absolute `deadline` (ms since epoch) until
 * released; undefined when there is neither (nothing would bound the body read anyway). The
 * caller's signal is linked with `AbortSignal.any`, not a listener: many calls in flight on one
 * long-lived signal add no listeners to it, and a dropped response leaks nothing.
 */
export function callSignal(
  outer: AbortSignal | undefined,
  deadline: number | undefined,
  name: string,
): CallSignal | undefined {
  if (deadline === undefined) return outer === undefined ? undefined : { signal: outer };
  const controller = new AbortController();
  const left = Math.min(Math.max(0, deadline - Date.now()), MAX_TIMER_MS);
  // Armed until the body is done; a body never read is cut off at the deadline.
  const timer = setTimeout(() => {
    controller.abort(
      new DeadlineExceededError({
        message: `The request's deadline passed while calling '${name}'.`,
        policy: name,
      }),
    );
  }, left);
  timer.unref?.();
  const signal = outer === undefined ? controller.signal : AbortSignal.any([outer, controller.signal]);
  return { signal, release: () => clearTimeout(timer) };
}

/**
 * `response` with its body tied to `call`: `release` runs once the body is read to its end,
 * cancelled or errored (or at once when there is no body). The status, headers, `url` and
 * `redirected` are kept.
 */
export function tieBody(response: Response, release: () => void): Response {
  const body = response.body;
  if (body === null || NULL_BODY_STATUSES.has(response.status)) {
    release();
    return response;
  }
  const reader = body.getReader();
  let done = false;
  const finish = (): void => {
    if (!done) {
      done = true;
      release();
    }
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const chunk = await reader.read();
          if (chunk.done) {
            finish();
            controller.close();
          } else controller.enqueue(chunk.value);
        } catch (error) {
          finish();
          controller.error(error);
        }
      },
      cancel(reason) {
        finish();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  const tied = new Response(stream, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  Object.defineProperty(tied, 'url', { value: response.url });
  Object.defineProperty(tied, 'redirected', { value: response.redirected });
  return tied;
}
