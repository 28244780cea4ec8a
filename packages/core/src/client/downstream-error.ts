/**
 * The error a call to another service fails with: which hop failed, what it answered, and — when
 * the hop itself relayed a failure from further down — which service failed first and why, so
 * the edge's problem document names the service at fault.
 */
import { BulwarkError, type BulwarkErrorOptions, isBulwarkError } from '../errors/bulwark-error.js';
import { ERROR_CODES } from '../errors/codes.js';
import type { DownstreamProblem } from './problem-parse.js';

/** Most hops kept in {@link DownstreamError.hops}. */
const MAX_HOPS = 8;

/** Options of {@link DownstreamError}. */
export interface DownstreamErrorOptions extends Omit<BulwarkErrorOptions, 'policy'> {
  /** Name of the service this one called (the policy name in `bulwark.fetch(name, ...)`). */
  hop: string;
  /** HTTP status the hop answered; undefined when it did not answer (network failure). */
  downstreamStatus?: number;
  /** The hop's validated problem document, if it sent one. */
  problem?: DownstreamProblem;
  /** Correlation ID the hop reported (body, else response header). */
  correlationId?: string;
  /** Attempts made, when the call was retried. */
  attempts?: number;
  /**
   * Whether the hop's own words may be relayed: its suggestion, title and the services it blames
   * further down. Default false: only its code, status and correlation ID are kept (a downstream
   * is a trust boundary; its text could be anything, `<script>` included).
   */
  trusted?: boolean;
}

/**
 * The local status for a downstream failure: a downstream timeout (504, 408, or a `TIMEOUT` /
 * `DEADLINE_EXCEEDED` code) is 504; a downstream 429 is 503 (the downstream limited *this*
 * service, not the caller); anything else is 502 Bad Gateway.
 */
export function downstreamStatusFor(status: number | undefined, code: string | undefined): number {
  if (status === 504 || status === 408 || code === 'TIMEOUT' || code === 'DEADLINE_EXCEEDED') return 504;
  if (status === 429) return 503;
  return 502;
}

/** A call to another service failed (code `DOWNSTREAM_ERROR`); keeps the downstream's code, suggestion and correlation ID. */
export class DownstreamError extends BulwarkError {
  /** The service this one called. */
  readonly hop: string;
  /** The service that failed first: the last of {@link DownstreamError.hops}. */
  readonly service: string;
  /** Hops from here to the failing service, starting with {@link DownstreamError.hop}. */
  readonly hops: readonly string[];
  /** Status the hop answered, or undefined when it did not answer. */
  readonly downstreamStatus: number | undefined;
  /** Code reported by the service that failed first (e.g. `BULKHEAD_FULL`), if it sent one. */
  readonly downstreamCode: string | undefined;
  /** The downstream's `detail`, validated and bounded (not rendered in problem answers). */
  readonly downstreamDetail: string | undefined;
  /** Correlation ID the downstream reported. */
  readonly correlationId: string | undefined;
  /** Attempts made (1 when not retried). */
  readonly attempts: number;
  /** Whether the hop's own words (suggestion, title, blamed services) were relayed. */
  readonly trusted: boolean;

  constructor(options: DownstreamErrorOptions) {
    const trusted = options.trusted === true;
    const p = options.problem;
    const relayed = p?.code === 'DOWNSTREAM_ERROR';
    // A relayed failure (DOWNSTREAM_ERROR), or the hop's own refusal naming the service it called.
    const blames = relayed || p?.service !== undefined;
    const further = blames && trusted ? (p?.hops ?? (p?.service ? [p.service] : [])) : [];
    const hops = [options.hop, ...further].slice(0, MAX_HOPS);
    const service = hops[hops.length - 1] as string;
    const downstreamCode = relayed ? p?.downstreamCode : p?.code;
    const status = options.status ?? downstreamStatusFor(options.downstreamStatus, downstreamCode ?? p?.code);
    super('DOWNSTREAM_ERROR', {
      ...options,
      status,
      policy: options.hop,
      message: options.message ?? describe(options, service, hops, downstreamCode, trusted ? p : undefined),
      suggestion:
        options.suggestion ??
        (trusted ? p?.suggestion : undefined) ??
        ERROR_CODES.DOWNSTREAM_ERROR.suggestion,
    });
    this.name = 'DownstreamError';
    this.hop = options.hop;
    this.service = service;
    this.hops = hops;
    this.downstreamStatus = options.downstreamStatus;
    this.downstreamCode = downstreamCode;
    this.downstreamDetail = p?.detail;
    this.correlationId = options.correlationId ?? p?.correlationId;
    this.attempts = options.attempts ?? 1;
    this.trusted = trusted;
  }
}

function describe(
  o: DownstreamErrorOptions,
  service: string,
  hops: readonly string[],
  code: string | undefined,
  p: DownstreamProblem | undefined,
): string {
  if (o.downstreamStatus === undefined) {
    const cause = o.cause as { code?: unknown; cause?: { code?: unknown } } | undefined;
    const net = cause?.cause?.code ?? cause?.code;
    return `Downstream service '${service}' could not be reached${typeof net === 'string' ? ` (${net.slice(0, 32)})` : ''}.`;
  }
  if (hops.length > 1) {
    return `Downstream service '${service}' failed${code ? ` with ${code}` : ''} (reported by ${hops.slice(0, -1).join(' → ')}, which answered ${o.downstreamStatus}).`;
  }
  const title = p?.title ? ` (${p.title})` : '';
  return `Downstream service '${service}' answered ${o.downstreamStatus}${code ? ` ${code}` : ''}${title}.`;
}

/** True for a {@link DownstreamError}, even from another copy of the package. */
export function isDownstreamError(e: unknown): e is DownstreamError {
  return (
    isBulwarkError(e) && e.code === 'DOWNSTREAM_ERROR' && typeof (e as { hop?: unknown }).hop === 'string'
  );
}
