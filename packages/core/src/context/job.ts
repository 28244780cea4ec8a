/**
 * A request context for work that is not an HTTP request: a queue consumer, a cron task, a
 * script. Logs, events and outgoing calls inside it carry the correlation ID, as they do inside a
 * request.
 */
import { type RequestContext, runWithContext } from './context.js';
import { acceptCorrelationId, newCorrelationId } from './correlation.js';
import { traceFromHeaders } from './trace.js';

/** Options of {@link runWithCorrelation}. */
export interface RunWithCorrelationOptions {
  /** A `traceparent` that came with the job (e.g. a message header), to continue its trace. */
  traceparent?: string;
  /** Its `tracestate`, kept only with a valid `traceparent`. */
  tracestate?: string;
  /** Makes the ID when `id` is missing or invalid (default a random UUID); its IDs are validated too. */
  generate?: () => string;
}

/**
 * Runs `fn` inside a fresh context whose correlation ID is `id`, validated like an incoming one: a
 * missing or invalid ID (over 128 characters, or outside `A-Za-z0-9-_.:/+=@`) is replaced by a
 * fresh one, never used. `fn` gets the context; its result is returned.
 * @example
 * consumer.on('message', (msg) =>
 *   runWithCorrelation(msg.headers['x-request-id'], () => handle(msg)),
 * );
 */
export function runWithCorrelation<T>(
  id: unknown,
  fn: (context: RequestContext) => T,
  options?: RunWithCorrelationOptions,
): T {
  if (typeof fn !== 'function') {
    throw new TypeError(`Expected \`fn\` to be a function (context) => result; got ${typeof fn}.`);
  }
  const correlationId = acceptCorrelationId(id) ?? generated(options?.generate);
  const ctx: RequestContext = {
    correlationId,
    trace: traceFromHeaders({ traceparent: options?.traceparent, tracestate: options?.tracestate }),
    criticality: 'default',
    degraded: [],
  };
  return runWithContext(ctx, () => fn(ctx));
}

function generated(generate: (() => string) | undefined): string {
  if (generate === undefined) return newCorrelationId();
  try {
    return acceptCorrelationId(generate()) ?? newCorrelationId();
  } catch {
    return newCorrelationId();
  }
}
