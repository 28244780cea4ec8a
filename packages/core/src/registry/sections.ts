/**
 * The checks the registry delegates to for sections owned by other rooms: the circuit breaker
 * (policies/breaker/options.ts), the rate limit (policies/rate-limit.ts) and the HTTP engine
 * (http/options.ts). Each follows the resolver contract of util/checks.ts:
 * `check<X>Options(input, path, issues)` collects every problem, and the part's own resolver runs
 * the same check, so a config that passes `createBulwark` cannot fail when the part is built.
 */

import { checkLifecycleOptions } from '../health/lifecycle-options.js';
import { checkHealthOptions } from '../health/options.js';
import { checkHttpOptions } from '../http/options.js';
import { checkCircuitBreakerOptions } from '../policies/breaker/options.js';
import { checkRateLimitOptions } from '../policies/rate-limit.js';
import { checkDeadLetterOptions } from '../recovery/dead-letter-options.js';
import { checkCompensationsOptions, checkSagaOptions } from '../recovery/saga-options.js';
import { type Issues, shape } from '../util/checks.js';

/** The contract every section check follows. */
export type SectionCheck = (input: unknown, path: string, issues: Issues) => void;

/** The circuit breaker section: the breaker's own check. */
export const checkBreakerSection: SectionCheck = checkCircuitBreakerOptions;

/** The rate-limit section of a policy: the rate limit's own check. */
export const checkRateLimitSection: SectionCheck = checkRateLimitOptions;

/** The `http` section: the HTTP engine's own check. */
export const checkHttpSection: SectionCheck = checkHttpOptions;

/** The `health` section: the health registry's own check. */
export const checkHealthSection: SectionCheck = checkHealthOptions;

/** The `lifecycle` section: graceful shutdown's own check. */
export const checkLifecycleSection: SectionCheck = checkLifecycleOptions;

/** The `recovery` section: each building block's own check (`deadLetters`: recovery/dead-letter-options.ts). */
export const checkRecoverySection: SectionCheck = shape(
  { deadLetters: checkDeadLetterOptions, sagas: checkSagaOptions, compensations: checkCompensationsOptions },
  {
    expected: 'recovery options (deadLetters, sagas, compensations)',
    aliases: { saga: 'sagas', compensation: 'compensations' },
  },
);
