/**
 * Capturing a response for idempotent replay, at the one level every adapter shares: Node's
 * `ServerResponse` (Express's `res`, Koa's `ctx.res`, Nest's raw response under Express or Fastify).
 * Whatever the framework or its error handler writes passes through `writeHead`/`write`/`end`.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** A response as it was written: status, headers (lower-case names) and body. */
export interface CapturedResponse {
  /** Status code. */
  readonly status: number;
  /** Every header set on the response (lower-case names). */
  readonly headers: OutgoingHttpHeaders;
  /** The body bytes, or undefined when it was larger than the capture bound (then only `size` is known). */
  readonly body: Buffer | undefined;
  /** Body size in bytes. */
  readonly size: number;
}

/** What a capture hands its response to: resolves once the response is stored (or dropped). */
export type CaptureSink = (response: CapturedResponse) => Promise<void>;

type Chunk = string | Uint8Array | null | undefined | ((error?: Error | null) => void);

/**
 * Records what is written to `res` (at most `maxBytes` of body) and, when the body ends, hands it to
 * `sink` before the end reaches the socket: a client that got the answer and retries finds it
 * stored. The response's own methods come back once it ended.
 */
export function captureResponse(res: ServerResponse, maxBytes: number, sink: CaptureSink): void {
  const { writeHead, write, end } = res;
  let extra: OutgoingHttpHeaders | undefined;
  let chunks: Buffer[] | undefined = [];
  let size = 0;
  let ended = false;

  const add = (chunk: Chunk, encoding: unknown): void => {
    if (chunk === null || chunk === undefined || typeof chunk === 'function') return;
    const b =
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    size += b.length;
    if (chunks !== undefined && size <= maxBytes) chunks.push(b);
    else chunks = undefined;
  };

  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    // writeHead(status, [reason], [headers]): headers given here bypass setHeader when none were set before (Fastify).
    const given = args.find((a, i) => i > 0 && typeof a === 'object' && a !== null);
    if (given !== undefined)
      extra = Array.isArray(given) ? pairsToHeaders(given) : (given as OutgoingHttpHeaders);
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];

  res.write = function (this: ServerResponse, chunk: Chunk, ...rest: unknown[]) {
    if (ended) return false; // after end() and before the stored end reaches the socket: nothing more goes out
    add(chunk, rest[0]);
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as ServerResponse['write'];

  res.end = function (this: ServerResponse, chunk?: Chunk, ...rest: unknown[]) {
    if (ended) return this; // a second end() while the first waits for the store
    ended = true;
    add(chunk, rest[0]);
    const headers: OutgoingHttpHeaders = { ...res.getHeaders() };
    if (extra !== undefined) for (const name in extra) headers[name.toLowerCase()] = extra[name];
    const body = chunks === undefined ? undefined : Buffer.concat(chunks);
    const args = [chunk, ...rest];
    const finish = () => {
      res.writeHead = writeHead;
      res.write = write;
      res.end = end;
      (end as (...a: unknown[]) => ServerResponse).apply(res, args);
    };
    let stored: Promise<void>;
    try {
      stored = sink({ status: res.statusCode, headers, body, size });
    } catch {
      stored = Promise.resolve();
    }
    stored.then(finish, finish);
    return this;
  } as ServerResponse['end'];
}

/** `writeHead`'s flat `[name, value, name, value...]` form as an object. */
function pairsToHeaders(pairs: unknown[]): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) out[String(pairs[i]).toLowerCase()] = pairs[i + 1] as string;
  return out;
}
