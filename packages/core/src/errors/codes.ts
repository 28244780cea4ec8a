/** Category an error falls into; retry and breaker decisions hang on it. */
export type ErrorCategory =
  | 'transient'
  | 'permanent'
  | 'timeout'
  | 'overload'
  | 'rate-limited'
  | 'circuit-open'
  | 'cancelled'
  | 'client'
  | 'internal';

/** Every code the engine can produce, with its HTTP status, title and the suggestion a person can act on. */
export const ERROR_CODES = {
  CIRCUIT_OPEN: {
    status: 503,
    title: 'Circuit open',
    category: 'circuit-open',
    suggestion:
      'The dependency is failing and calls to it are paused. Retry after the Retry-After delay; if it persists, check the health of the dependency named in the detail.',
  },
  BULKHEAD_FULL: {
    status: 503,
    title: 'Too many concurrent requests',
    category: 'overload',
    suggestion:
      'The service is at its concurrency limit. Retry after the Retry-After delay with backoff, or raise maxConcurrent/maxQueue for this key if the load is expected.',
  },
  QUEUE_TIMEOUT: {
    status: 503,
    title: 'Queued too long',
    category: 'overload',
    suggestion:
      'The request waited in the bulkhead queue longer than queueTimeout. Retry later, or raise maxConcurrent or queueTimeout if the load is expected.',
  },
  OVERLOADED: {
    status: 503,
    title: 'Service overloaded',
    category: 'overload',
    suggestion:
      'The service is overloaded (too many requests in flight, or its event loop is lagging) and refused this request before doing any work. Retry after the Retry-After delay with backoff; if it persists, add capacity or lower the load.',
  },
  RATE_LIMITED: {
    status: 429,
    title: 'Rate limit exceeded',
    category: 'rate-limited',
    suggestion:
      'Too many requests for this key. Wait for the Retry-After delay and slow down; the RateLimit headers show the remaining quota.',
  },
  TIMEOUT: {
    status: 504,
    title: 'Timed out',
    category: 'timeout',
    suggestion:
      'The operation took longer than its timeout and was aborted. Retry later, or raise the timeout if the operation is legitimately slow.',
  },
  DEADLINE_EXCEEDED: {
    status: 504,
    title: 'Deadline exceeded',
    category: 'timeout',
    suggestion:
      "The request's deadline was spent before the work could finish. Send a longer deadline, or reduce the work done per request.",
  },
  RETRY_EXHAUSTED: {
    status: 502,
    title: 'Retries exhausted',
    category: 'transient',
    suggestion:
      'Every attempt failed with a retryable error. Check the dependency named in the detail; the cause holds the last failure.',
  },
  RETRY_BUDGET_EXHAUSTED: {
    status: 503,
    title: 'Retry budget exhausted',
    category: 'overload',
    suggestion:
      'Too many retries are in flight compared with recent calls, so this one was not retried to avoid a retry storm. Fix the failing dependency or raise the retry budget ratio.',
  },
  CANCELLED: {
    status: 499,
    title: 'Cancelled',
    category: 'cancelled',
    suggestion: 'The caller went away or aborted the operation; nothing needs to be done.',
  },
  INVALID_CONFIG: {
    status: 500,
    title: 'Invalid configuration',
    category: 'permanent',
    suggestion:
      'Fix each configuration problem listed in the message; every entry names its path and the value expected.',
  },
  UNKNOWN_POLICY: {
    status: 500,
    title: 'Unknown policy',
    category: 'permanent',
    suggestion: 'Declare the policy under `policies` in the Bulwark config, or fix the spelling of its name.',
  },
  DOWNSTREAM_ERROR: {
    status: 502,
    title: 'Downstream service failed',
    category: 'transient',
    suggestion:
      'A service this one depends on failed; the detail names it. Check its health and logs using the correlation ID.',
  },
  SAGA_COMPENSATION_FAILED: {
    status: 500,
    title: 'Compensation failed',
    category: 'internal',
    suggestion:
      "Some undo actions did not succeed after their retries, or were interrupted by a crash; each is in the dead-letter queue with the saga's id. Check what each one left behind, fix the cause, then replay or finish the undo by hand.",
  },
  COMPENSATIONS_FULL: {
    status: 503,
    title: 'Too many pending compensations',
    category: 'overload',
    suggestion:
      'Call compensate() or discard() once each operation finishes, so its compensations are released; raise maxOperations or maxPerOperation if this many are expected.',
  },
  DEPENDENCY_DOWN: {
    status: 503,
    title: 'Dependency down',
    category: 'transient',
    suggestion:
      "A dependency's health check failed (the report names it and the cause). Check that it runs and is reachable with the configured address and credentials; it is marked up again after its next successful check.",
  },
  DRAINING: {
    status: 503,
    title: 'Shutting down',
    category: 'overload',
    suggestion:
      'This instance is shutting down and takes no new requests. Retry the request: the load balancer sends it to another instance.',
  },
  IDEMPOTENCY_KEY_MISSING: {
    status: 400,
    title: 'Idempotency-Key is missing',
    category: 'client',
    suggestion:
      'This operation requires an idempotency key. Send a fresh random key (a UUID) in the header named in the detail, and send the same key again only when retrying this same request.',
  },
  IDEMPOTENCY_KEY_INVALID: {
    status: 400,
    title: 'Idempotency-Key is invalid',
    category: 'client',
    suggestion:
      'Send one idempotency key per request: a string of printable ASCII characters no longer than the limit in the detail, quoted or not, e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324".',
  },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    title: 'Idempotency-Key is already used',
    category: 'client',
    suggestion:
      'This key was used for a different request (another method, path or body). Use a fresh key for a new request; reuse a key only to retry exactly the same request.',
  },
  IDEMPOTENCY_IN_PROGRESS: {
    status: 409,
    title: 'A request is outstanding for this Idempotency-Key',
    category: 'client',
    suggestion:
      'The first request with this key is still being processed. Retry after the Retry-After delay with the same key and body to get its answer.',
  },
  IDEMPOTENCY_REPLAY_UNAVAILABLE: {
    status: 409,
    title: 'Idempotent response not stored',
    category: 'client',
    suggestion:
      'The request with this key completed (its status is in the detail), but its response was too large to keep for replay, so it is not run again. Read the resource it changed instead of retrying.',
  },
  DEAD_LETTER_FULL: {
    status: 503,
    title: 'Dead-letter queue full',
    category: 'overload',
    suggestion:
      "The dead-letter queue holds its maxSize entries, so this failure was not queued. Replay, purge or archive settled entries (e.g. purge({ status: 'recovered' }), archive({ status: 'failed' })), or raise recovery.deadLetters.maxSize.",
  },
  BATCH_FAILED: {
    status: 502,
    title: 'Batch incomplete',
    category: 'transient',
    suggestion:
      'Core items of the batch failed; `failed` lists each with its own code and suggestion. Fix those, then run the batch again with resume to process only what is not done.',
  },
  INTERNAL_ERROR: {
    status: 500,
    title: 'Internal Server Error',
    category: 'internal',
    suggestion:
      'An unexpected error occurred. Report the correlation ID to the service owners so they can find it in the logs.',
  },
} as const satisfies Record<
  string,
  { status: number; title: string; category: ErrorCategory; suggestion: string }
>;

/** A stable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;
