/**
 * Parsing a downstream's problem+json body. Nothing in it is trusted: every member is checked
 * for type, bounded in length and stripped of control characters, and members that fail are
 * dropped rather than passed on.
 */
import { acceptCorrelationId } from '../context/correlation.js';

/** The members of a downstream problem document Bulwark keeps. */
export interface DownstreamProblem {
  /** HTTP status the document claims. */
  status?: number;
  /** Stable code (`[A-Z][A-Z0-9_]*`, ≤ 64 chars). */
  code?: string;
  /** Short title (≤ 200 chars). */
  title?: string;
  /** Detail (≤ 1024 chars). */
  detail?: string;
  /** Suggestion (≤ 1024 chars). */
  suggestion?: string;
  /** Correlation ID, if it passes the correlation ID rules. */
  correlationId?: string;
  /** The service the downstream blames (a hop further down), if any. */
  service?: string;
  /** The code at the service that failed first, when the downstream relayed a failure. */
  downstreamCode?: string;
  /** Hops from the downstream to the failing service, when relayed. */
  hops?: string[];
  /** Seconds until a retry may succeed. */
  retryAfter?: number;
}

const CODE = /^[A-Z][A-Z0-9_]{0,63}$/;
const SERVICE = /^[A-Za-z0-9][A-Za-z0-9\-_.:/@]{0,63}$/;
// C0/C1 controls, DEL, and bidi/line-separator marks that could forge log lines or text.
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const MAX_HOPS = 8;

/** A bounded, control-free string, or undefined. */
export function cleanText(v: unknown, max: number): string | undefined {
  if (typeof v !== 'string') return undefined;
  const s = v
    .slice(0, max * 2)
    .replace(UNSAFE, ' ')
    .trim();
  if (s.length === 0) return undefined;
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** A valid service/hop name, or undefined. */
export function cleanService(v: unknown): string | undefined {
  return typeof v === 'string' && SERVICE.test(v) ? v : undefined;
}

/** A valid error code, or undefined. */
export function cleanCode(v: unknown): string | undefined {
  return typeof v === 'string' && CODE.test(v) ? v : undefined;
}

/** Parses `text` as a problem document; undefined when it is not JSON or not an object with a status or code. */
export function parseProblem(text: string | undefined): DownstreamProblem | undefined {
  if (text === undefined || text.length === 0) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  const p: DownstreamProblem = {};
  if (typeof r.status === 'number' && Number.isInteger(r.status) && r.status >= 100 && r.status <= 599)
    p.status = r.status;
  const code = cleanCode(r.code);
  if (code) p.code = code;
  if (p.status === undefined && p.code === undefined) return undefined;
  const title = cleanText(r.title, 200);
  if (title) p.title = title;
  const detail = cleanText(r.detail, 1024);
  if (detail) p.detail = detail;
  const suggestion = cleanText(r.suggestion, 1024);
  if (suggestion) p.suggestion = suggestion;
  const correlationId = acceptCorrelationId(r.correlationId);
  if (correlationId) p.correlationId = correlationId;
  const service = cleanService(r.service);
  if (service) p.service = service;
  const downstreamCode = cleanCode(r.downstreamCode);
  if (downstreamCode) p.downstreamCode = downstreamCode;
  if (Array.isArray(r.hops)) {
    const hops = r.hops.slice(0, MAX_HOPS).map(cleanService);
    if (hops.length > 0 && hops.every((h) => h !== undefined)) p.hops = hops as string[];
  }
  if (typeof r.retryAfter === 'number' && Number.isFinite(r.retryAfter) && r.retryAfter >= 0)
    p.retryAfter = r.retryAfter;
  return p;
}
