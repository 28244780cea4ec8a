/**
 * Route protection, resolved once when an adapter wraps a handler (start-up), so a typo in a
 * policy name or a bad timeout fails there and never at the first request.
 */
import { BulwarkError, isBulwarkError } from '../errors/bulwark-error.js';
import type { TimeoutPolicy } from '../policies/timeout.js';
import type { Policy } from '../types.js';
import { Issues, throwIfIssues } from '../util/checks.js';
import { parseDuration } from '../util/duration.js';
import { checkHttpRateLimitOptions, type HttpLimit, type HttpRateLimitOptions } from './limits.js';
import type { InboundRequest, ProtectedRoute, RouteProtection } from './types.js';

/** setTimeout's largest delay. */
const MAX_TIMER_MS = 2_147_483_647;

/** What a route needs from its engine. */
export interface RouteEnv {
  /** Resolves a registered policy by name (throws UNKNOWN_POLICY); undefined without a registry. */
  readonly resolvePolicy: ((name: string) => Policy) | undefined;
  /** Makes the route timeout policy. */
  readonly makeTimeout: (ms: number) => TimeoutPolicy;
  /** Makes a route's own rate limit from validated options. */
  readonly makeLimit: (options: HttpRateLimitOptions, name: string) => HttpLimit;
}

/** Route protection after validation (see {@link RouteEnv}). */
export class Route implements ProtectedRoute {
  /** The registry name of the route's policy, if it has one. */
  readonly policyName: string | undefined;
  /** The route timeout, outermost. */
  readonly timeout: TimeoutPolicy | undefined;
  /** The route's own rate limit, `false` to opt out of the app-wide one, undefined for the app-wide one. */
  readonly limit: HttpLimit | false | undefined;
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
    const { policy, cacheKey } = protection;
    if (cacheKey !== undefined && typeof cacheKey !== 'function') {
      throw new TypeError(
        `Expected \`protection.cacheKey\` to be a function (req) => string | undefined; got ${typeof cacheKey}.`,
      );
    }
    this.cacheKey = cacheKey;
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
      this.policyName = undefined;
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
    checked(resolve, policy);
    this.instance = undefined;
    this.policyName = policy;
    this.resolve = resolve;
  }

  /** The policy to run around the handler, if any. */
  policy(): Policy | undefined {
    const name = this.policyName;
    return name === undefined || this.resolve === undefined ? this.instance : checked(this.resolve, name);
  }
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
