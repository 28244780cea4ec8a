/**
 * Bridge to cls-hooked, for apps that already read request data from a CLS namespace (Sequelize
 * CLS transactions, older logging setups). Bulwark's context stays on AsyncLocalStorage; the
 * bridge opens a namespace context per request and writes the correlation ID and the context
 * into it. cls-hooked is an optional peer dependency: core never imports it, you pass the namespace.
 */
import { getContext, type RequestContext } from './context.js';

/** The part of a cls-hooked `Namespace` the bridge uses. */
export interface ClsNamespaceLike {
  /** Runs `fn` in a fresh namespace context and returns its result. */
  runAndReturn<T>(fn: () => T): T;
  /** Sets `key` in the active namespace context. */
  set<T>(key: string, value: T): T;
}

/** Options of {@link bridgeClsHooked}. */
export interface ClsBridgeOptions {
  /** Key the correlation ID is stored under (default `correlationId`). */
  key?: string;
  /** Key the whole request context is stored under (default `bulwark`). */
  contextKey?: string;
}

/** A bridge bound to one namespace. */
export interface ClsBridge {
  /** Runs `fn` inside a fresh namespace context holding `ctx` (the current request context by default); just calls `fn` outside a request. */
  run<T>(fn: () => T, ctx?: RequestContext): T;
  /** Middleware for Express-style `(req, res, next)` stacks; mount it after Bulwark's middleware. */
  middleware(): (req: unknown, res: unknown, next: (err?: unknown) => void) => void;
  /** Middleware for Koa-style `(ctx, next)` stacks; mount it after Bulwark's middleware. */
  koa(): (ctx: unknown, next: () => Promise<unknown>) => Promise<unknown>;
}

function key(value: unknown, name: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`Expected \`${name}\` to be a non-empty string; got ${String(value)}.`);
  }
  return value;
}

/**
 * Mirrors each request's correlation ID (and context) into a cls-hooked namespace.
 * @example
 * const ns = createNamespace('app');
 * const cls = bridgeClsHooked(ns);
 * app.use(bulwarkMiddleware(bulwark)); // sets the context
 * app.use(cls.middleware());           // ns.get('correlationId') works from here on
 */
export function bridgeClsHooked(namespace: ClsNamespaceLike, options?: ClsBridgeOptions): ClsBridge {
  if (
    typeof namespace !== 'object' ||
    namespace === null ||
    typeof namespace.runAndReturn !== 'function' ||
    typeof namespace.set !== 'function'
  ) {
    throw new TypeError(
      'Expected a cls-hooked Namespace (from createNamespace); got something without runAndReturn/set.',
    );
  }
  const correlationKey = key(options?.key, 'key', 'correlationId');
  const contextKey = key(options?.contextKey, 'contextKey', 'bulwark');
  const run = <T>(fn: () => T, ctx: RequestContext | undefined = getContext()): T => {
    if (ctx === undefined) return fn();
    return namespace.runAndReturn(() => {
      namespace.set(correlationKey, ctx.correlationId);
      namespace.set(contextKey, ctx);
      return fn();
    });
  };
  return {
    run,
    middleware: () => (_req, _res, next) => run(() => next()),
    koa: () => (_ctx, next) => run(() => next()),
  };
}
