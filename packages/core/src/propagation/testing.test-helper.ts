/** Test helpers: a loopback HTTP server that records requests and answers from a script, and a request context. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RequestContext } from '../context/context.js';

/** One recorded request. */
export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** How the server answers the n-th request (0-based). */
export type Script = (n: number, req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A running loopback server. */
export interface Loopback {
  url: string;
  port: number;
  seen: Seen[];
  /** Resolves when the next request arrives. */
  next(): Promise<Seen>;
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 answering from `script` (default: 200 'ok'). */
export async function loopback(script: Script = (_n, _req, res) => res.end('ok')): Promise<Loopback> {
  const seen: Seen[] = [];
  let waiters: Array<(s: Seen) => void> = [];
  const server = http.createServer((req, res) => {
    const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    seen.push(s);
    const w = waiters;
    waiters = [];
    for (const f of w) f(s);
    req.resume();
    script(seen.length - 1, req, res);
  });
  server.keepAliveTimeout = 100;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    next: () => new Promise((resolve) => waiters.push(resolve)),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A request context with fixed ids (trace `aa…`, span `bb…`, caller's parent `cc…`). */
export function testContext(over: Partial<RequestContext> = {}): RequestContext {
  return {
    correlationId: 'corr-123',
    trace: {
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      parentId: 'c'.repeat(16),
      flags: 1,
      tracestate: 'vendor=x',
    },
    criticality: 'default',
    degraded: [],
    ...over,
  };
}
