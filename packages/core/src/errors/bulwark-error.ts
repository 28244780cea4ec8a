import { type AnyErrorCode, codeInfo } from './app-codes.js';
import type { ErrorCategory, ErrorCode } from './codes.js';

/** Result of a rate-limit check, for the RateLimit headers. */
export interface RateLimitState {
  /** Capacity per interval. */
  limit: number;
  /** Tokens left after this call. */
  remaining: number;
  /** Ms until the bucket is full again. */
  resetMs: number;
  /** Interval in ms (for RateLimit-Policy's `w`). */
  windowMs: number;
}

const BRAND = Symbol.for('bulwark.error');

/** Options common to every Bulwark error. */
export interface BulwarkErrorOptions {
  /** Human readable detail; defaults to the code's title. */
  message?: string;
  /** Underlying cause. */
  cause?: unknown;
  /** Milliseconds after which a retry may succeed. */
  retryAfterMs?: number;
  /** Policy (or hop) that produced the error. */
  policy?: string;
  /** Overrides the code's default suggestion. */
  suggestion?: string;
  /** Overrides the code's default HTTP status. */
  status?: number;
  /** A command that fixes or works around it (reports print it as `Command:`); overrides the code's. */
  command?: string;
}

/** Base class of every error the engine raises: a stable `code`, an HTTP status, a category and a suggestion. */
export class BulwarkError extends Error {
  /** Brand checked by the `is…Error` guards; survives two copies of the package. */
  readonly [BRAND] = true;
  /** Stable machine-readable code: Bulwark's, or the application's own (`defineError`). */
  readonly code: AnyErrorCode;
  /** HTTP status this error maps to. */
  readonly status: number;
  /** Category used by classifiers. */
  readonly category: ErrorCategory;
  /** What a person can do about it. */
  readonly suggestion: string;
  /** Milliseconds until a retry may succeed, where it applies. */
  readonly retryAfterMs: number | undefined;
  /** Policy or hop that produced it. */
  readonly policy: string | undefined;
  /** A command that fixes or works around it, when the code or the thrower gives one. */
  readonly command: string | undefined;
  /**
   * Id of the dead-letter entry that holds the failed operation, when a policy with `deadLetter`
   * queued it (set on the error after construction; see `deadLetterIdOf`).
   */
  declare readonly deadLetterId?: string;

  /** `code` may be any string: an unknown one is a 500 `internal` error with the generic suggestion. */
  constructor(code: AnyErrorCode, options: BulwarkErrorOptions = {}) {
    const def = codeInfo(code);
    super(options.message ?? def.title, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BulwarkError';
    this.code = typeof code === 'string' ? code : 'INTERNAL_ERROR';
    this.status = options.status ?? def.status;
    this.category = def.category;
    this.suggestion = options.suggestion ?? def.suggestion;
    this.retryAfterMs = options.retryAfterMs;
    this.policy = options.policy;
    this.command = options.command ?? def.command;
  }

  /** `Retry-After` in whole seconds (at least 1), or undefined. */
  get retryAfter(): number | undefined {
    return this.retryAfterMs === undefined ? undefined : Math.max(1, Math.ceil(this.retryAfterMs / 1000));
  }
}

/** True for any Bulwark error, even from another copy of the package. */
export function isBulwarkError(e: unknown): e is BulwarkError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

function guard(code: ErrorCode) {
  return (e: unknown): e is BulwarkError => isBulwarkError(e) && e.code === code;
}

/** The circuit is open; calls are short-circuited. */
export class CircuitOpenError extends BulwarkError {
  constructor(options: BulwarkErrorOptions = {}) {
    super('CIRCUIT_OPEN', options);
    this.name = 'CircuitOpenError';
  }
}
/** The bulkhead (and its queue) is full. */
export class BulkheadFullError extends BulwarkError {
  constructor(options: BulwarkErrorOptions = {}) {
    super('BULKHEAD_FULL', options);
    this.name = 'BulkheadFullError';
  }
}
/** A queued call waited longer than the queue timeout. */
export class QueueTimeoutError extends BulwarkError {
  constructor(options: BulwarkErrorOptions = {}) {
    super('QUEUE_TIMEOUT', options);
    this.name = 'QueueTimeoutError';
  }
}
/** The service as a whole is overloaded (engine-wide concurrency limit, event-loop delay, memory); the request was refused before any work. */
export class OverloadedError extends BulwarkError {
  constructor(options: BulwarkErrorOptions = {}) {
    super('OVERLOADED', options);
    this.name = 'OverloadedError';
  }
}
/** The rate limit for a key was exceeded; `rateLimit` carries the decision (for the RateLimit headers). */
export class RateLimitedError extends BulwarkError {
  /** The limiter's state when it refused, if the limiter reported one. */
  readonly rateLimit: RateLimitState | undefined;
  constructor(options: BulwarkErrorOptions & { rateLimit?: RateLimitState } = {}) {
    super('RATE_LIMITED', options);
    this.name = 'RateLimitedError';
    this.rateLimit = options.rateLimit;
  }
}
/** The operation exceeded its timeout and was aborted. */
export class TimeoutError extends BulwarkError {
  constructor(options: BulwarkErrorOptions = {}) {
    super('TIMEOUT', options);
    this.name = 'TimeoutError';
  }
}
/** The request's absolute deadline has passed. */
export class DeadlineExceededError extends BulwarkError {
  constructor(options: BulwarkErrorOptions = {}) {
    super('DEADLINE_EXCEEDED', options);
    this.name = 'DeadlineExceededError';
  }
}
/** Every retry attempt failed; `cause` holds the last error. */
export class RetryExhaustedError extends BulwarkError {
  /** Number of attempts made. */
  readonly attempts: number;
  constructor(attempts: number, options: BulwarkErrorOptions = {}) {
    super('RETRY_EXHAUSTED', options);
    this.name = 'RetryExhaustedError';
    this.attempts = attempts;
  }
}
/** The retry budget refused a retry (too many retries compared with recent calls); `cause` holds the last error. */
export class RetryBudgetExhaustedError extends BulwarkError {
  /** Attempts made before the budget refused the next one. */
  readonly attempts: number;
  constructor(attempts: number, options: BulwarkErrorOptions = {}) {
    super('RETRY_BUDGET_EXHAUSTED', options);
    this.name = 'RetryBudgetExhaustedError';
    this.attempts = attempts;
  }
}
/** The operation was cancelled by its caller. */
export class CancelledError extends BulwarkError {
  constructor(options: BulwarkErrorOptions = {}) {
    super('CANCELLED', options);
    this.name = 'CancelledError';
  }
}
/** One problem found while validating config. */
export interface ConfigIssue {
  /** Dotted path, e.g. `policies.payments-api.retry.maxAttempts`. */
  path: string;
  /** What was expected. */
  expected: string;
  /** What was received (rendered). */
  received: string;
  /** How to fix it. */
  fix?: string;
  /** Where the bad value came from when not from code: the env variable or the config file. */
  source?: string;
}
/** Configuration is invalid; `issues` lists every problem at once. */
export class InvalidConfigError extends BulwarkError {
  /** Every problem found. */
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    const lines = issues.map(
      (i) => `  - ${i.path}: expected ${i.expected}, got ${i.received}${i.fix ? ` (fix: ${i.fix})` : ''}`,
    );
    super('INVALID_CONFIG', { message: `Invalid Bulwark configuration:\n${lines.join('\n')}` });
    this.name = 'InvalidConfigError';
    this.issues = issues;
  }
}

/** Guard for {@link CircuitOpenError}. */
export const isCircuitOpenError = guard('CIRCUIT_OPEN');
/** Guard for {@link BulkheadFullError}. */
export const isBulkheadFullError = guard('BULKHEAD_FULL');
/** Guard for {@link QueueTimeoutError}. */
export const isQueueTimeoutError = guard('QUEUE_TIMEOUT');
/** Guard for {@link OverloadedError}. */
export const isOverloadedError = guard('OVERLOADED');
/** Guard for {@link RateLimitedError}. */
export const isRateLimitedError = guard('RATE_LIMITED');
/** Guard for {@link TimeoutError}. */
export const isTimeoutError = guard('TIMEOUT');
/** Guard for {@link DeadlineExceededError}. */
export const isDeadlineExceededError = guard('DEADLINE_EXCEEDED');
/** Guard for {@link RetryExhaustedError}. */
export const isRetryExhaustedError = guard('RETRY_EXHAUSTED');
/** Guard for {@link RetryBudgetExhaustedError}. */
export const isRetryBudgetExhaustedError = guard('RETRY_BUDGET_EXHAUSTED');
/** Guard for {@link CancelledError}. */
export const isCancelledError = guard('CANCELLED');
/** Guard for {@link InvalidConfigError}. */
export const isInvalidConfigError = guard('INVALID_CONFIG');
