/**
 * The real HTTP server a doc block talks to instead of the host it names (`downstream=`): answers
 * every path with 200 JSON by default; a driving test scripts it and reads what it received.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

/** How the downstream answers: a fixed status/body/delay, or a function per request. */
export interface DownstreamScript {
  status?: number;
  body?: unknown;
  delayMs?: number;
  headers?: Record<string, string>;
}

/** One request the downstream received. */
export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

/** A running downstream: its URL, what it received, and how it answers next. */
export interface Downstream {
  url: string;
  requests: Received[];
  script: DownstreamScript;
  close(): Promise<void>;
}

/** Starts a downstream on a free loopback port. */
export async function startDownstream(script: DownstreamScript = {}): Promise<Downstream> {
  const requests: Received[] = [];
  const state: Downstream = { url: '', requests, script, close: async () => {} };
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers });
    req.resume();
    const { status = 200, body, delayMs = 0, headers = {} } = state.script;
    const timer = setTimeout(() => {
      const payload =
        body === undefined
          ? status < 400
            ? { ok: true, method: req.method, path: req.url }
            : { status, title: 'Scripted failure' }
          : body;
      res.writeHead(status, {
        'content-type': status < 400 ? 'application/json' : 'application/problem+json',
        ...headers,
      });
      res.end(JSON.stringify(payload));
    }, delayMs);
    res.once('close', () => clearTimeout(timer));
  });
  server.keepAliveTimeout = 500;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('downstream has no port');
  state.url = `http://127.0.0.1:${address.port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
