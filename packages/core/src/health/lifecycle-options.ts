/**
 * The `lifecycle` config section (graceful shutdown and levelled start-up), checked and defaulted
 * once: `checkLifecycleOptions` collects every problem (the registry calls it for `lifecycle`),
 * `resolveLifecycleOptions` returns a frozen copy with defaults (never the caller's object).
 */
import { productionByDefault } from '../http/options.js';
import {
  arrayOf,
  boolean,
  type Check,
  duration,
  either,
  Issues,
  oneOf,
  positiveDuration,
  shape,
  throwIfIssues,
} from '../util/checks.js';
import { type Duration, parseDuration } from '../util/duration.js';

/** Signals the lifecycle may handle (the ones orchestrators and terminals send to stop a process). */
export const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'] as const;
/** A signal the lifecycle may handle. */
export type ShutdownSignal = (typeof SHUTDOWN_SIGNALS)[number];

/** Options of graceful shutdown (the `lifecycle` section of the config). */
export interface LifecycleOptions {
  /**
   * Signals that start the shutdown once a server is attached (`lifecycle.attach(server)`):
   * `true` for `['SIGTERM', 'SIGINT']`, or a list. A second signal forces (connections still open
   * are closed at once); a third is left to Node (the process dies). Default false: nothing
   * listens (NestJS apps use `app.enableShutdownHooks()` instead).
   */
  handleSignals?: boolean | ShutdownSignal[];
  /**
   * Time between the signal (readiness turns false at once) and refusing new requests (503
   * `DRAINING` with `Connection: close`, listeners closed), for load balancers to notice. Default
   * `'5s'` in production, 0 when `NODE_ENV` is `development` or `test`.
   */
  delay?: Duration;
  /** Time in-flight requests get to finish after the delay; then their connections are cut (and reported). Default `'20s'`. */
  drainTimeout?: Duration;
  /** Time each shutdown hook (`lifecycle.onShutdown(fn)`) gets before the shutdown moves on without it. Default `'5s'`. */
  hookTimeout?: Duration;
}

/** Lifecycle options after validation and defaults. */
export interface ResolvedLifecycleOptions {
  readonly signals: readonly ShutdownSignal[];
  readonly delayMs: number;
  readonly drainTimeoutMs: number;
  readonly hookTimeoutMs: number;
}

const DEFAULT_SIGNALS: readonly ShutdownSignal[] = Object.freeze(['SIGTERM', 'SIGINT']);
/** Default delay in production: a few seconds covers the usual endpoint propagation of Kubernetes and cloud load balancers. */
const PRODUCTION_DELAY_MS = 5000;
/** Default drain timeout: with the default delay it stays inside Kubernetes' 30 s termination grace period. */
const DEFAULT_DRAIN_TIMEOUT_MS = 20_000;
const DEFAULT_HOOK_TIMEOUT_MS = 5000;

const signalList: Check = arrayOf(oneOf(SHUTDOWN_SIGNALS), 'a list of signal names');

const lifecycleShape = shape(
  {
    handleSignals: either((v) => typeof v === 'boolean', boolean, signalList),
    delay: duration(),
    drainTimeout: positiveDuration,
    hookTimeout: positiveDuration,
  },
  {
    expected: 'lifecycle options',
    aliases: { signals: 'handleSignals', timeout: 'drainTimeout', gracePeriod: 'drainTimeout' },
  },
);

/** Records every problem of the `lifecycle` section at `path` (the registry's check for it). */
export function checkLifecycleOptions(input: unknown, path: string, issues: Issues): void {
  lifecycleShape(input, path, issues);
}

/**
 * Validates and defaults lifecycle options (throws one InvalidConfigError listing every problem).
 * `production` picks the default delay (the HTTP engine's `production` when the registry calls it).
 */
export function resolveLifecycleOptions(
  input: LifecycleOptions | undefined,
  production: boolean = productionByDefault(),
): ResolvedLifecycleOptions {
  const issues = new Issues();
  checkLifecycleOptions(input ?? {}, 'lifecycle', issues);
  throwIfIssues(issues);
  const o = input ?? {};
  const h = o.handleSignals;
  return Object.freeze({
    signals: h === true ? DEFAULT_SIGNALS : Array.isArray(h) ? Object.freeze([...new Set(h)]) : [],
    delayMs: o.delay === undefined ? (production ? PRODUCTION_DELAY_MS : 0) : (parseDuration(o.delay) ?? 0),
    drainTimeoutMs:
      o.drainTimeout === undefined ? DEFAULT_DRAIN_TIMEOUT_MS : (parseDuration(o.drainTimeout) ?? 0),
    hookTimeoutMs:
      o.hookTimeout === undefined ? DEFAULT_HOOK_TIMEOUT_MS : (parseDuration(o.hookTimeout) ?? 0),
  });
}
