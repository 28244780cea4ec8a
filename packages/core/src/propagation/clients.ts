/**
 * Propagation for axios (a request interceptor) and got (a `beforeRequest` hook). Both are typed
 * structurally, so core depends on neither; headers the caller set are left alone, and a spent
 * budget rejects the call with `DeadlineExceededError` before it is sent.
 */
import { getContext } from '../context/context.js';
import type { Disposable } from '../types.js';
import { type PropagationOptions, planOutgoing, resolvePropagation, spentError } from './headers.js';

/** The part of an axios request config the interceptor reads and writes. */
export interface AxiosRequestConfigLike {
  /** axios 1.x: an `AxiosHeaders` (has/set); older: a plain object. */
  headers?: unknown;
  /** Request URL. */
  url?: string;
  /** Base URL. */
  baseURL?: string;
  /** Method. */
  method?: string;
}

/** The part of an axios instance {@link axiosInterceptor} uses. */
export interface AxiosInstanceLike {
  /** axios' interceptor managers. */
  interceptors: {
    request: {
      // biome-ignore lint/suspicious/noExplicitAny: axios' own config type is not ours to name.
      use(onFulfilled: (config: any) => any): number;
      eject(id: number): void;
    };
  };
}

/** The part of got's `Options` the hook reads and writes. */
export interface GotOptionsLike {
  /** got keeps header names lower-cased in a plain object. */
  headers: Record<string, string | string[] | undefined>;
  /** Target URL. */
  url?: URL | string;
  /** Method. */
  method?: string;
}

/** The hooks object to pass as got's `hooks` option. */
export interface GotHooksLike {
  /** Called by got before each request (and each retry) is sent. */
  beforeRequest: Array<(options: GotOptionsLike) => void>;
}

type Bag = { has?: (n: string) => boolean; set?: (n: string, v: string) => unknown } & Record<
  string,
  unknown
>;

function setMissing(bag: Bag, headers: Record<string, string>): void {
  const hasFn = typeof bag.has === 'function' && typeof bag.set === 'function';
  for (const name in headers) {
    const value = headers[name] as string;
    if (hasFn) {
      if (!bag.has!(name)) bag.set!(name, value);
      continue;
    }
    let found = false;
    for (const k in bag) {
      if (k.toLowerCase() === name && bag[k] !== undefined) {
        found = true;
        break;
      }
    }
    if (!found) bag[name] = value;
  }
}

function targetOf(url: unknown, base: unknown, method: unknown) {
  let origin = '';
  let path = '';
  try {
    const u = new URL(String(url ?? ''), typeof base === 'string' && base ? base : undefined);
    origin = u.origin;
    path = u.pathname + u.search;
  } catch {
    path = typeof url === 'string' ? url : '';
  }
  return { origin, path, method: typeof method === 'string' ? method.toUpperCase() : 'GET' };
}

/**
 * Registers an axios request interceptor that adds the propagation headers inside a request
 * context; `dispose()` ejects it.
 * @example
 * const api = axios.create({ baseURL: 'http://orders' });
 * axiosInterceptor(api);
 */
export function axiosInterceptor(instance: AxiosInstanceLike, options?: PropagationOptions): Disposable {
  const o = resolvePropagation(options);
  const id = instance.interceptors.request.use((config: AxiosRequestConfigLike) => {
    const ctx = getContext();
    if (ctx === undefined) return config;
    const target = targetOf(config.url, config.baseURL, config.method);
    if (o.shouldPropagate && !o.shouldPropagate(target)) return config;
    const plan = planOutgoing(ctx, o, Date.now(), 'inject');
    if (plan.spent) throw spentError(o, plan.budgetMs, target.origin || undefined);
    if (typeof config.headers !== 'object' || config.headers === null) config.headers = {};
    setMissing(config.headers as Bag, plan.headers);
    return config;
  });
  let active = true;
  return {
    dispose() {
      if (active) instance.interceptors.request.eject(id);
      active = false;
    },
  };
}

/**
 * got hooks that add the propagation headers inside a request context (on every retry too, so
 * the deadline sent is always current).
 * @example
 * const client = got.extend({ hooks: gotHooks() });
 */
export function gotHooks(options?: PropagationOptions): GotHooksLike {
  const o = resolvePropagation(options);
  return {
    beforeRequest: [
      (gotOptions) => {
        const ctx = getContext();
        if (ctx === undefined) return;
        const target = targetOf(gotOptions.url, undefined, gotOptions.method);
        if (o.shouldPropagate && !o.shouldPropagate(target)) return;
        const plan = planOutgoing(ctx, o, Date.now(), 'inject');
        if (plan.spent) throw spentError(o, plan.budgetMs, target.origin || undefined);
        setMissing(gotOptions.headers as Bag, plan.headers);
      },
    ],
  };
}
