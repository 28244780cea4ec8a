/**
 * Reading the untrusted parts of a request: each header is bounded in length and charset before
 * it is believed, and anything odd is ignored rather than rejected.
 */
import type { Criticality } from '../context/context.js';
import type { IncomingHeaders } from './types.js';

// Up to 12 digits (about 31 years of ms), optionally negative: anything else is garbage.
const DEADLINE_RE = /^\s*(-?\d{1,12})\s*$/;

/** What the deadline header said. */
export type DeadlineHeader =
  /** Absent, repeated or malformed: ignored. */
  | undefined
  /** Remaining budget in ms; ≤ 0 means already spent. */
  | number;

/** The first value of a header, or undefined when absent; a repeated header counts through its first value. */
export function headerValue(headers: IncomingHeaders, name: string): string | undefined {
  const v = headers[name];
  return typeof v === 'string' ? v : Array.isArray(v) ? v[0] : undefined;
}

/** Parses the remaining-budget header (an integer number of ms); undefined when absent or garbage. */
export function parseDeadlineHeader(value: string | undefined): DeadlineHeader {
  if (value === undefined || value.length > 32) return undefined;
  const m = DEADLINE_RE.exec(value);
  return m ? Number(m[1]) : undefined;
}

/** The caller's criticality when the header holds one of the three known values, else 'default'. */
export function parseCriticality(value: string | undefined): Criticality {
  return value === 'critical' || value === 'sheddable' ? value : 'default';
}

// Visible ASCII minus the list separator, so a reason can never split or inject a header.
const UNSAFE_REASON = /[^\x21-\x2b\x2d-\x7e ]/g;
const MAX_REASON = 64;
const MAX_DEGRADED_VALUE = 512;

/** The degraded header's value: reasons made header-safe, joined by ', ', bounded in length. */
export function degradedValue(reasons: readonly string[]): string {
  let out = '';
  for (const r of reasons) {
    const safe = String(r).replace(UNSAFE_REASON, '').trim().slice(0, MAX_REASON);
    if (safe === '') continue;
    const next = out === '' ? safe : `${out}, ${safe}`;
    if (next.length > MAX_DEGRADED_VALUE) break;
    out = next;
  }
  return out === '' ? 'degraded' : out;
}

/** Longest limit key kept; longer keys (a route pattern, a key function's result) are cut so keys stay bounded. */
export const MAX_KEY_LENGTH = 256;

/** The default key when no route pattern is known: one key for the whole engine. */
export const ENGINE_KEY = '*';

/**
 * The default key of per-key limits: the route pattern when the adapter knows it (bounded), else
 * {@link ENGINE_KEY}. Never the raw path: with app-level middleware (no pattern yet) every distinct
 * URL would get a fresh compartment and bucket, and a client could walk past the limits by varying it.
 */
export function defaultKey(routeKey: string | undefined): string {
  if (routeKey === undefined) return ENGINE_KEY;
  return routeKey.length > MAX_KEY_LENGTH ? routeKey.slice(0, MAX_KEY_LENGTH) : routeKey;
}
