/**
 * Draining one `http.Server` (Express's and Koa's `app.listen()`, Nest's `getHttpServer()`): its
 * responses in flight are tracked from `attach`, so at drain time they can be told to close their
 * connection, counted, and — when the drain timeout runs out — reported by method and path before
 * their connections are cut. Only public `http` APIs (`close`, `closeIdleConnections`,
 * `closeAllConnections`); no socket internals.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** A request whose connection was cut because the drain timeout ran out (or a second signal forced it). */
export interface CutRequest {
  /** HTTP method. */
  method: string;
  /** Path without the query string (at most 200 characters). */
  path: string;
  /** How long it had been running when it was cut. */
  runningMs: number;
}

/** Most cut requests named in a report (the count is always exact). */
export const MAX_CUT_REPORTED = 100;

/** A response in flight and when its request arrived. */
interface Live {
  res: ServerResponse;
  since: number;
}

/** One attached server: its live responses and the steps of its drain. */
export class DrainingServer {
  /** Responses in flight, by response. */
  private readonly live = new Map<ServerResponse, Live>();
  private draining = false;
  private closed: Promise<void> | undefined;
  /** Resolves the drain of a server that was no longer listening, once its last response closed. */
  private whenEmpty: (() => void) | undefined;
  private readonly onRequest: (req: IncomingMessage, res: ServerResponse) => void;
  private readonly onResponseClose: (this: ServerResponse) => void;

  constructor(readonly server: Server) {
    const tracker = this;
    // One closure per server, none per request: the response is the listener's `this`.
    this.onResponseClose = function (this: ServerResponse) {
      tracker.live.delete(this);
      if (tracker.live.size === 0) tracker.whenEmpty?.();
      // Its connection may be idle now (a keep-alive response that had sent its headers before
      // the drain began): close it on the next turn, once Node has detached the socket.
      if (tracker.draining) setImmediate(() => tracker.server.closeIdleConnections());
    };
    this.onRequest = (_req, res) => {
      this.live.set(res, { res, since: performance.now() });
      res.once('close', this.onResponseClose);
      if (this.draining && !res.headersSent) res.setHeader('Connection', 'close');
    };
    // Before the app's own listener, so even a response the app ends synchronously is seen.
    server.prependListener('request', this.onRequest);
  }

  /** Responses in flight. */
  get inFlight(): number {
    return this.live.size;
  }

  /**
   * Stops accepting connections, tells every response in flight to close its connection, closes
   * idle keep-alive connections; resolves once every connection has ended.
   */
  drain(): Promise<void> {
    if (this.closed) return this.closed;
    this.draining = true;
    for (const { res } of this.live.values()) if (!res.headersSent) res.setHeader('Connection', 'close');
    this.closed = new Promise<void>((resolve) => {
      if (this.server.listening) this.server.close(() => resolve());
      // Closed already (by the app, or never listening): done once its last response closed.
      else if (this.live.size === 0) resolve();
      else this.whenEmpty = resolve;
    });
    this.server.closeIdleConnections();
    return this.closed;
  }

  /** Cuts every connection still open and names the requests that were running on them. */
  cut(): CutRequest[] {
    const now = performance.now();
    const cut: CutRequest[] = [];
    for (const { res, since } of this.live.values()) {
      if (cut.length === MAX_CUT_REPORTED) break;
      const req = res.req as IncomingMessage | undefined;
      const url = req?.url ?? '';
      const q = url.indexOf('?');
      cut.push({
        method: req?.method ?? '',
        path: (q === -1 ? url : url.slice(0, q)).slice(0, 200),
        runningMs: Math.round(now - since),
      });
    }
    this.server.closeAllConnections();
    return cut;
  }

  /** Stops tracking (removes the listeners); the server itself is left as it is. */
  detach(): void {
    this.server.removeListener('request', this.onRequest);
    for (const { res } of this.live.values()) res.removeListener('close', this.onResponseClose);
    this.live.clear();
  }
}
