/**
 * The part of an adapter's request description that is the same in every framework: the
 * admission it got, and what happens when the response closes (the client left, or it finished).
 * Adapters extend it with the translated fields (method, path, route key, headers, address).
 */
import type { Admission, InboundRequest } from './types.js';

/** Base class of the adapters' {@link InboundRequest}s: client signal, admission and close handling. */
export abstract class AdapterRequest implements InboundRequest {
  /** HTTP method, upper case. */
  abstract readonly method: string;
  /** URL path without the query string. */
  abstract readonly path: string;
  /** Route pattern, only when the adapter knows it (never the raw path). */
  abstract readonly routeKey: string | undefined;
  /** Request headers. */
  abstract readonly headers: InboundRequest['headers'];
  /** Client address. */
  abstract readonly remoteAddress: string | undefined;
  /** Set once admitted (also when rejected). */
  admission: Admission | undefined = undefined;
  /** The response closed (finished or the client left). */
  gone = false;
  /** The client left before the response finished. */
  #left = false;
  /** Aborts when the client leaves; created only when the engine asks (to queue, or for the request's signal), so the hot path allocates none. */
  #client: AbortController | undefined = undefined;

  /** Sets a response header while headers can still be sent (the degraded marker). */
  abstract setHeader(name: string, value: string): void;

  /** The client-gone signal: aborts when the client leaves before the response finished. */
  get signal(): AbortSignal {
    let c = this.#client;
    if (c === undefined) {
      c = new AbortController();
      this.#client = c;
      if (this.#left) c.abort();
    }
    return c.signal;
  }

  /** The response closed: if it never finished the client left (aborts the client signal: a queued request gives up its place, the request's signal aborts); then releases the admission. */
  closed(finished: boolean): void {
    this.gone = true;
    if (!finished) {
      this.#left = true;
      this.#client?.abort();
    }
    this.admission?.release();
  }
}

/** Anything with Node's `setHeader` (a `ServerResponse`, Express's `res`). */
export interface HeaderSink {
  /** Sets one response header. */
  setHeader(name: string, value: string): unknown;
}

/** Writes an admission's headers (flat name/value pairs) with one `setHeader` each. */
export function writeAdmissionHeaders(res: HeaderSink, a: Admission): void {
  const list = a.headers;
  for (let i = 0; i < list.length; i += 2) res.setHeader(list[i] as string, list[i + 1] as string);
}
