/**
 * Route protection, resolved once when an adapter wraps a handler (start-up), so a typo in a
 * policy name or a bad timeout fails there and never at the first request.
 */
import type { Criticality } from '../context/context.js';
import { BulwarkError, isBulwarkError } from '../errors/bulwark-error.js';
import type { TimeoutPolicy } from '../policies/timeout.js';
import { unknownPolicyConfigError } from '../registry/unknown-policy.js';
import type { Policy } from '../types.js';
import { closest, Issues, throwIfIssues } from '../util/checks.js';
import { MAX_TIMER_MS, parseDuration } from '../util/duration.js';
import { checkHttpRateLimitOptions, type HttpLimit, type HttpRateLimitOptions } from './limits.js';
import type { InboundRequest, InlinePolicy, ProtectedRoute, RouteProtection } from './types.js';

/** What a route needs from its engine. */
export interface RouteEnv {
  /** Resolves a registered policy by name (throws UNKNOWN_POLICY); undefined without a registry. */
  readonly resolvePolicy: ((name: string) => Policy) | undefined;
  /** Makes the route timeout policy. */
  readonly makeTimeout: (ms: number) => TimeoutPolicy;
  /** Defines an inline policy in the registry (bulwark.define); undefined without a registry. */
  readonly definePolicy: ((name: string, config: InlinePolicy) => Policy) | undefined;
  /** Makes a route's own rate limit from validated options. */
  readonly makeLimit: (options: HttpRateLimitOptions, name: string) => HttpLimit;
}

/** Route protection after validation (see {@link RouteEnv}). */
/** The parts a route may declare inline. */
const INLINE_PARTS = ['fallback', 'retry', 'circuitBreaker', 'attemptTimeout', 'bulkhead'] as const;

/** Every option of {@link RouteProtection}. */
const KNOWN_KEYS: readonly string[] = [
  'name',
  'policy',
  'timeout',
  'cacheKey',
  'rateLimit',
  'criticality',
  ...INLINE_PARTS,
];

/** Unnamed inline policies without a route pattern get `protect:<n>`. */
let unnamed = 0;

export class Route implements ProtectedRoute {
  #policyName: string | undefined;
  /** Inline parts waiting to be defined under the first request's route pattern. */
  #pending: InlinePolicy | undefined;
  #define: ((name: string, config: InlinePolicy) => Policy) | undefined;
  /** The route timeout, outermost. */
  readonly timeout: TimeoutPolicy | undefined;
  /** The route's own rate limit, `false` to opt out of the app-wide one, undefined for the app-wide one. */
  readonly limit: HttpLimit | false | undefined;
  /** The criticality of this route's requests for its policies, if set. */
  readonly criticality: Criticality | undefined;
  /** Key of the request's answer for stale-if-error. */
  readonly cacheKey: ((req: InboundRequest | undefined) => string | undefined) | undefined;
  private readonly instance: Policy | undefined;
  private readonly resolve: ((name: string) => Policy) | undefined;

  constructor(protection: RouteProtection, env: RouteEnv) {
    if (typeof protection !== 'object' || protection === null) {
      throw new TypeError(
        `Expected route protection to be an object ({ policy, timeout, ... }); got ${String(protection)}.`,
      );
    }
    for (const key of Object.keys(protection)) {
      if (KNOWN_KEYS.includes(key)) continue;
      const near = closest(key, KNOWN_KEYS);
      throw new TypeError(
        `Unknown route protection option \`${key}\`. Fix: ${near ? `did you mean \`${near}\`?` : `use one of ${KNOWN_KEYS.join(', ')}`}`,
      );
    }
    const { policy, cacheKey } = protection;
    if (cacheKey !== undefined && typeof cacheKey !== 'function') {
      throw new TypeError(
        `Expected \`protection.cacheKey\` to be a function (req) => string | undefined; got ${typeof cacheKey}.`,
      );
    }
    this.cacheKey = cacheKey;
    const crit = protection.criticality;
    if (crit !== undefined && crit !== 'critical' && crit !== 'default' && crit !== 'sheddable') {
      throw new TypeError(
        `Expected \`protection.criticality\` to be 'critical', 'default' or 'sheddable'; got ${JSON.stringify(crit)}.`,
      );
    }
    this.criticality = crit;
    const rl = protection.rateLimit;
    if (rl === undefined || rl === false) this.limit = rl;
    else {
      const issues = new Issues();
      checkHttpRateLimitOptions(rl, 'protection.rateLimit', issues);
      throwIfIssues(issues);
      this.limit = env.makeLimit(rl, 'route');
    }
    this.timeout =
      protection.timeout === undefined ? undefined : env.makeTimeout(routeTimeoutMs(protection.timeout));
    const inline = inlineParts(protection);
    if (inline !== undefined) {
      if (policy !== undefined) {
        throw new TypeError(
          'Expected either `protection.policy` or inline policy parts (retry, circuitBreaker, ...), not both. Fix: move the parts into the named policy, or drop `policy`.',
        );
      }
      const define = env.definePolicy;
      if (define === undefined || env.resolvePolicy === undefined) {
        throw new TypeError(
          'Inline route policies are defined in the registry: build the engine with createBulwark (or pass definePolicy and resolvePolicy).',
        );
      }
      this.instance = undefined;
      this.resolve = env.resolvePolicy;
      this.#define = define;
      const { name } = protection;
      if (name !== undefined) {
        if (typeof name !== 'string' || name.trim() === '' || name.length > 256)
          throw new TypeError(
            `Expected \`protection.name\` to be a policy name (1–256 characters); got ${JSON.stringify(name)}.`,
          );
        define(name, inline); // at start-up: visible in names() and breaker(name) at once
        this.#policyName = name;
      } else this.#pending = inline;
      return;
    }
    if (policy === undefined || typeof policy !== 'string') {
      if (
        policy !== undefined &&
        (typeof policy !== 'object' || policy === null || typeof policy.execute !== 'function')
      ) {
        throw new TypeError(
          `Expected \`protection.policy\` to be a policy name or a Policy; got ${String(policy)}. Fix: pass the name of a policy declared under \`policies\`, or a policy such as retry({ ... }).`,
        );
      }
      this.instance = policy;
      this.resolve = undefined;
      return;
    }
    const resolve = env.resolvePolicy;
    if (resolve === undefined) {
      throw new BulwarkError('UNKNOWN_POLICY', {
        message: `Cannot resolve policy "${policy}": this engine has no registry (pass resolvePolicy, or use createBulwark).`,
        policy,
      });
    }
    // Resolved now (start-up) so a typo throws here, with the registry's did-you-mean; per request
    // it is resolved again (a map lookup), so a policy redefined later is the one that runs.
    try {
      checked(resolve, policy);
    } catch (e) {
      // The registry's UnknownPolicyError knows the declared names: at start-up say them, and the
      // closest one (this is the developer's console, never a response).
      const declared = (e as { declared?: unknown }).declared;
      if (Array.isArray(declared))
        throw unknownPolicyConfigError(policy, declared as string[], 'protection.policy');
      throw e;
    }
    this.instance = undefined;
    this.#policyName = policy;
    this.resolve = resolve;
  }

  /** The registry name of the route's policy, if it has one (an unnamed inline one once its first request came). */
  get policyName(): string | undefined {
    return this.#policyName;
  }

  /** The policy to run around the handler of `req`, if any (defines a pending inline one first). */
  policy(req: InboundRequest): Policy | undefined {
    const pending = this.#pending;
    if (pending !== undefined && this.#define !== undefined) {
      const name = req.routeKey ?? `protect:${++unnamed}`;
      this.#pending = undefined;
      this.#define(name, pending);
      this.#policyName = name;
    }
    const name = this.#policyName;
    return name === undefined || this.resolve === undefined ? this.instance : checked(this.resolve, name);
  }
}

function inlineParts(p: RouteProtection): InlinePolicy | undefined {
  let parts: Record<string, unknown> | undefined;
  for (const k of INLINE_PARTS) {
    if (p[k] === undefined) continue;
    parts ??= {};
    parts[k] = p[k];
  }
  return parts as InlinePolicy | undefined;
}

function checked(resolve: (name: string) => Policy, name: string): Policy {
  let found: Policy | undefined;
  try {
    found = resolve(name);
  } catch (e) {
    if (isBulwarkError(e)) throw e;
    throw new BulwarkError('UNKNOWN_POLICY', {
      message: `No policy named "${name}".`,
      policy: name,
      cause: e,
    });
  }
  if (found === undefined || found === null || typeof found.execute !== 'function') {
    throw new BulwarkError('UNKNOWN_POLICY', { message: `No policy named "${name}".`, policy: name });
  }
  return found;
}

function routeTimeoutMs(value: unknown): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0 || ms > MAX_TIMER_MS) {
    throw new TypeError(
      `Expected \`protection.timeout\` to be a positive number of ms up to ${MAX_TIMER_MS} or a duration like '2s'; got ${JSON.stringify(value)}.`,
    );
  }
  return ms;
}
