/**
 * The checks the registry delegates to for sections owned by other rooms: the circuit breaker
 * (policies/breaker/options.ts), the rate limit (policies/rate-limit.ts) and the HTTP engine
 * (http/options.ts). Each owner exports `check<X>Options(input, path, issues)`; until one does,
 * the registry checks the section's shape here and then runs the owner's resolver, turning
 * whatever it still throws into an issue, so a config that passes `createBulwark` cannot fail when
 * the part is built.
 */

import * as httpModule from '../http/options.js';
import { checkCircuitBreakerOptions } from '../policies/breaker/options.js';
import { checkBulkheadOptions } from '../policies/bulkhead.js';
import * as rateLimitModule from '../policies/rate-limit.js';
import {
  arrayOf,
  boolean,
  type Check,
  commonFields,
  falseOr,
  func,
  headerName,
  Issues,
  isPlainObject,
  positiveDuration,
  positiveInt,
  shape,
  store,
  text,
} from '../util/checks.js';

/** The contract every section check follows. */
export type SectionCheck = (input: unknown, path: string, issues: Issues) => void;

/** An owner's exported check, if it has one yet. */
function ownCheck(module: object, name: string): SectionCheck | undefined {
  const fn = (module as Record<string, unknown>)[name];
  return typeof fn === 'function' ? (fn as SectionCheck) : undefined;
}

/** Runs `build` and records what it throws as one issue at `path` (a resolver of the old shape). */
function builds(path: string, input: unknown, out: Issues, build: () => unknown): void {
  try {
    build();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    out.add(path, 'options the part accepts', input, message);
  }
}

/** The circuit breaker section: the breaker's own check (policies/breaker/options.ts). */
export const checkBreakerSection: SectionCheck = checkCircuitBreakerOptions;

const rateLimitShape = shape(
  { limit: positiveInt, interval: positiveDuration, maxKeys: positiveInt, store, ...commonFields },
  { required: ['limit'] },
);

/** The rate-limit section: the rate limit's own check, else its shape plus its resolver. */
export const checkRateLimitSection: SectionCheck = (v, p, out) => {
  const own = ownCheck(rateLimitModule, 'checkRateLimitOptions');
  if (own) return own(v, p, out);
  const before = out.list.length;
  rateLimitShape(v, p, out);
  if (out.list.length === before)
    builds(p, v, out, () => rateLimitModule.rateLimit(v as rateLimitModule.RateLimitOptions).close());
};

const keyed = (check: Check): Check =>
  falseOr((v, p, out) => {
    if (!isPlainObject(v)) return check(v, p, out);
    const { key, ...rest } = v;
    if (key !== undefined) func(key, `${p}.key`, out);
    check(rest, p, out);
  });

const httpShape = shape(
  {
    correlation: shape({
      header: headerName,
      accept: arrayOf(headerName, 'a list of header names'),
      generate: func,
    }),
    deadline: shape({ header: headerName, max: positiveDuration, default: positiveDuration }),
    rateLimit: keyed(checkRateLimitSection),
    bulkhead: keyed(checkBulkheadOptions),
    production: boolean,
    problemTypeBase: text,
    degradedHeader: headerName,
    criticalityHeader: headerName,
    traceResponse: boolean,
    onError: func,
  },
  {
    reserved: {
      resolvePolicy: 'remove it; createBulwark wires it to bulwark.policy(name)',
      events: 'remove it; set `events` at the top level of the config',
    },
  },
);

/** The `http` section: the HTTP engine's own check, else its shape plus its resolver. */
export const checkHttpSection: SectionCheck = (v, p, out) => {
  const own = ownCheck(httpModule, 'checkHttpOptions');
  if (own) return own(v, p, out);
  const before = out.list.length;
  httpShape(v, p, out);
  if (out.list.length === before) {
    builds(p, v, out, () => {
      const resolved = httpModule.resolveHttpOptions(v as never);
      resolved.rateLimit?.close();
      resolved.bulkhead?.close();
    });
  }
};
