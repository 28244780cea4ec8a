/**
 * The request headers the context is built from, and their default names. The lowest room that
 * reads them: `http/` (the inbound engine) and `propagation/` (outgoing calls) import from here.
 */

/** Incoming headers, names lower-cased (as Node gives them). */
export type IncomingHeaders = Record<string, string | string[] | undefined>;

/** Default response/downstream correlation header. */
export const DEFAULT_CORRELATION_HEADER = 'x-request-id';
/** Default correlation headers read, in order. */
export const DEFAULT_CORRELATION_ACCEPT: readonly string[] = ['x-request-id', 'x-correlation-id'];
/** Default inbound deadline header (remaining budget in ms). */
export const DEFAULT_DEADLINE_HEADER = 'x-deadline-ms';
/** Default header carrying the caller's criticality (`critical`, `default`, `sheddable`). */
export const DEFAULT_CRITICALITY_HEADER = 'bulwark-criticality';
/** Default header marking a degraded answer. */
export const DEFAULT_DEGRADED_HEADER = 'bulwark-degraded';
