/**
 * Propagation for `node:http` / `node:https`: {@link withPropagation} merges the headers into
 * request options, and {@link propagatingAgent} is an Agent that adds them to every request it
 * carries (headers the caller set are left alone).
 */
import http from 'node:http';
import https from 'node:https';
import { getContext } from '../context/context.js';
import { type PropagationOptions, planOutgoing, resolvePropagation, spentError } from './headers.js';

type OutgoingHeaderValue = number | string | readonly string[];

function hasHeader(headers: Record<string, unknown>, name: string): boolean {
  for (const k in headers) if (k.toLowerCase() === name && headers[k] !== undefined) return true;
  return false;
}

function originOf(o: http.RequestOptions): string {
  const protocol = o.protocol ?? 'http:';
  const host = o.hostname ?? o.host ?? 'localhost';
  return `${protocol}//${host}${o.port === undefined || o.port === null ? '' : `:${o.port}`}`;
}

/**
 * A copy of `options` whose headers also carry the propagation headers (the caller's own headers
 * win). Throws `DeadlineExceededError` when the request's budget is spent. Outside a request
 * context it returns an unchanged copy.
 * @example
 * http.get(withPropagation({ host: 'orders', port: 80, path: '/orders/1' }), onResponse);
 */
export function withPropagation<T extends http.RequestOptions>(
  options: T,
  propagation?: PropagationOptions,
): T {
  const copy = { ...options };
  const ctx = getContext();
  if (ctx === undefined) return copy;
  const o = resolvePropagation(propagation);
  const target = {
    origin: originOf(options),
    path: options.path ?? '/',
    method: (options.method ?? 'GET').toUpperCase(),
  };
  if (o.shouldPropagate && !o.shouldPropagate(target)) return copy;
  const plan = planOutgoing(ctx, o, Date.now(), 'inject');
  if (plan.spent) throw spentError(o, plan.budgetMs, target.origin);
  if (Array.isArray(options.headers)) {
    // Raw [name, value, ...] form: append what is missing.
    const raw = [...(options.headers as string[])];
    const present = new Set(raw.filter((_, i) => i % 2 === 0).map((n) => String(n).toLowerCase()));
    for (const name in plan.headers) if (!present.has(name)) raw.push(name, plan.headers[name] as string);
    copy.headers = raw;
    return copy;
  }
  const headers: Record<string, OutgoingHeaderValue | undefined> = {
    ...(options.headers as Record<string, OutgoingHeaderValue>),
  };
  for (const name in plan.headers) if (!hasHeader(headers, name)) headers[name] = plan.headers[name];
  copy.headers = headers as http.OutgoingHttpHeaders;
  return copy;
}

/** Options of {@link propagatingAgent}. */
export interface PropagatingAgentOptions extends PropagationOptions {
  /** Build an `https.Agent` instead of an `http.Agent`. */
  https?: boolean;
  /** Options of the underlying agent (keepAlive, maxSockets, TLS...). */
  agent?: http.AgentOptions | https.AgentOptions;
}

// Agent#addRequest is public in practice (every proxy agent overrides it) but not in @types/node.
type AddRequest = (req: http.ClientRequest, options: http.RequestOptions) => void;

function propagating<A extends typeof http.Agent>(
  Base: A,
  options: PropagatingAgentOptions,
): InstanceType<A> {
  const o = resolvePropagation(options);
  const agent = new Base(options.agent) as InstanceType<A>;
  const base = (agent as unknown as { addRequest: AddRequest }).addRequest;
  (agent as unknown as { addRequest: AddRequest }).addRequest = function addRequest(req, reqOptions) {
    const ctx = getContext();
    // Headers already rendered (raw array headers, `Expect`) cannot be changed: leave them.
    if (ctx !== undefined && !req.headersSent && !(req as { _header?: unknown })._header) {
      const target = {
        origin: originOf({ ...reqOptions, protocol: req.protocol }),
        path: req.path,
        method: req.method,
      };
      if (!o.shouldPropagate || o.shouldPropagate(target)) {
        const plan = planOutgoing(ctx, o, Date.now(), 'inject');
        if (plan.spent) {
          // Fail it the way an agent fails a connection it could not make: no socket, nothing
          // written, and the request emits 'error' then 'close'.
          const err = spentError(o, plan.budgetMs, target.origin);
          (req as unknown as { onSocket(socket: undefined, err: Error): void }).onSocket(undefined, err);
          return;
        }
        for (const name in plan.headers)
          if (!req.hasHeader(name)) req.setHeader(name, plan.headers[name] as string);
      }
    }
    base.call(this, req, reqOptions);
  };
  return agent;
}

/**
 * An `http.Agent` (or `https.Agent` with `https: true`) that adds the propagation headers to every
 * request made through it inside a request context; a spent budget fails the request with
 * `DeadlineExceededError` before it gets a socket.
 * @example
 * const agent = propagatingAgent({ agent: { keepAlive: true } });
 * http.get({ host: 'orders', path: '/orders/1', agent }, onResponse);
 */
export function propagatingAgent(options: PropagatingAgentOptions & { https: true }): https.Agent;
export function propagatingAgent(options?: PropagatingAgentOptions): http.Agent;
export function propagatingAgent(options: PropagatingAgentOptions = {}): http.Agent | https.Agent {
  return options.https ? propagating(https.Agent, options) : propagating(http.Agent, options);
}
