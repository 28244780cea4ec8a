/**
 * Turning a plain `fetch` Response into a classified outcome: resolve with a 2xx, throw an
 * {@link HttpStatusError} otherwise, so retry, breaker and fallback see a dependency's failure.
 */
import { HttpStatusError } from '../errors/http-status-error.js';
import { discardBody } from './body.js';

/** Options of {@link assertOk}. */
export interface AssertOkOptions {
  /** Name of the dependency, rendered as the problem's `service` when the error reaches a client. */
  service?: string;
  /** Statuses accepted besides 2xx (for example `[404]` when "not found" is an answer, not a failure). */
  accept?: readonly number[];
}

/**
 * Returns `response` when it is 2xx (or in `accept`); otherwise discards its body (the socket
 * is freed) and throws an {@link HttpStatusError} carrying the status and headers.
 * @example
 * const res = await bulwark.run('inventory', (signal) => fetch(url, { signal }).then(assertOk));
 * const items = await res.json();
 */
export function assertOk(response: Response, options?: AssertOkOptions): Response {
  if (response.ok || options?.accept?.includes(response.status)) return response;
  discardBody(response);
  throw new HttpStatusError(response.status, {
    statusText: response.statusText,
    headers: response.headers,
    url: response.url,
    ...(options?.service === undefined ? {} : { service: options.service }),
  });
}
