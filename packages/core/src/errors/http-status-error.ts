/**
 * A downstream answered with a non-2xx status. Thrown by `assertOk(response)` (client/), so a
 * plain `fetch` inside `run()` or `protect()` fails where the dependency failed: the classifier
 * reads its `status` (5xx, 408 and 429 are retried and count for the breaker; other 4xx are not)
 * and its `headers` (Retry-After). As a problem it is a `DOWNSTREAM_ERROR`: a dependency's
 * answer is never passed on as this service's own.
 */

const BRAND = Symbol.for('bulwark.httpStatusError');

/** Options of {@link HttpStatusError}. */
export interface HttpStatusErrorOptions {
  /** Status text of the response. */
  statusText?: string;
  /** Response headers (Retry-After is read from them). */
  headers?: Headers;
  /** URL that was called (kept for logs; never rendered in a problem). */
  url?: string;
  /** Name of the dependency, rendered as the problem's `service`. */
  service?: string;
}

/** A non-2xx response turned into an error; `status` is the downstream's status. */
export class HttpStatusError extends Error {
  /** Brand read by {@link isHttpStatusError}; survives two copies of the package. */
  readonly [BRAND] = true;
  /** The downstream's HTTP status. */
  readonly status: number;
  /** The downstream's status text. */
  readonly statusText: string;
  /** The downstream's response headers. */
  readonly headers: Headers;
  /** The URL called. */
  readonly url: string;
  /** The dependency's name, if given. */
  readonly service: string | undefined;

  constructor(status: number, options: HttpStatusErrorOptions = {}) {
    const where = options.service ? `Downstream service '${options.service}'` : 'A downstream service';
    super(`${where} answered ${status}${options.statusText ? ` ${options.statusText}` : ''}.`);
    this.name = 'HttpStatusError';
    this.status = status;
    this.statusText = options.statusText ?? '';
    this.headers = options.headers ?? new Headers();
    this.url = options.url ?? '';
    this.service = options.service;
  }
}

/** True for an {@link HttpStatusError}, even from another copy of the package. */
export function isHttpStatusError(e: unknown): e is HttpStatusError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}
