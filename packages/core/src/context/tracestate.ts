/**
 * W3C `tracestate` (https://www.w3.org/TR/trace-context-2/#tracestate-header), parsed as the spec
 * describes it:
 * - several header fields are one list (RFC 9110 §5.3), joined with commas;
 * - spaces and tabs around members are ignored; empty and whitespace-only members are allowed;
 * - a key is `[a-z0-9][a-z0-9_\-*\/@]{0,255}` (so multi-tenant keys `tenant@system` too), a value is
 *   1–256 printable ASCII characters except `,` and `=`, not ending in a space;
 * - a header with an invalid member, or with more than 32 members, cannot be parsed and is dropped
 *   whole (the processing model's "MAY discard the entire header"); the `traceparent` is unaffected;
 * - a repeated key keeps its first (left-most, most recent) entry;
 * - past 512 characters the list is truncated by whole entries: entries longer than 128 characters
 *   go first, then entries from the end.
 */

/** Most members a `tracestate` list may hold. */
export const MAX_TRACESTATE_MEMBERS = 32;
/** Longest combined `tracestate` passed on; longer lists are truncated by whole entries. */
export const MAX_TRACESTATE_LENGTH = 512;
/** Entries longer than this are the first removed when a list must be truncated. */
const LARGE_ENTRY = 128;
// Longest raw header looked at: 32 members of 513 characters, their commas and generous OWS.
// Anything longer cannot be a valid list worth the parse.
const MAX_RAW_LENGTH = 32 * 1024;

const KEY_RE = /^[a-z0-9][a-z0-9_\-*/@]{0,255}$/;
// 1–256 of 0x20–0x7E except ',' (0x2C) and '=' (0x3D), the last not a space.
const VALUE_RE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/** One `key=value` member of a `tracestate` list. */
export interface TracestateEntry {
  /** The vendor key. */
  key: string;
  /** The opaque value. */
  value: string;
}

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/**
 * Parses a `tracestate` header (a string, or the fields of a repeated header) into its entries, in
 * order. Returns undefined when the header cannot be parsed (it is then dropped whole), and an empty
 * list for an empty or whitespace-only header. Not truncated: see {@link formatTracestate}.
 */
export function parseTracestate(value: unknown): TracestateEntry[] | undefined {
  let raw: string;
  if (typeof value === 'string') raw = value;
  else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) raw = value.join(',');
  else return undefined;
  if (raw.length > MAX_RAW_LENGTH) return undefined;
  const entries: TracestateEntry[] = [];
  let seen: Set<string> | undefined;
  let members = 0;
  let start = 0;
  while (start <= raw.length) {
    let end = raw.indexOf(',', start);
    if (end < 0) end = raw.length;
    let s = start;
    let e = end;
    while (s < e && isOws(raw.charCodeAt(s))) s++;
    while (e > s && isOws(raw.charCodeAt(e - 1))) e--;
    start = end + 1;
    if (s === e) continue; // empty or whitespace-only member: allowed, ignored
    if (++members > MAX_TRACESTATE_MEMBERS) return undefined;
    const member = raw.slice(s, e);
    const eq = member.indexOf('=');
    if (eq < 0) return undefined;
    const key = member.slice(0, eq);
    const val = member.slice(eq + 1);
    if (!KEY_RE.test(key) || !VALUE_RE.test(val)) return undefined;
    // A repeated key: the left-most entry is the most recent position; later ones are dropped.
    if (seen === undefined) seen = new Set();
    if (seen.has(key)) continue;
    seen.add(key);
    entries.push({ key, value: val });
  }
  return entries;
}

/**
 * Serialises entries as a `tracestate` value (`k=v,k2=v2`), truncated by whole entries to
 * `maxLength` characters (entries over 128 characters removed first, then from the end).
 * Returns undefined for an empty list (an empty header is not sent).
 */
export function formatTracestate(
  entries: readonly TracestateEntry[],
  maxLength: number = MAX_TRACESTATE_LENGTH,
): string | undefined {
  const parts = entries.map((e) => `${e.key}=${e.value}`);
  const size = () => parts.reduce((n, p) => n + p.length, 0) + Math.max(0, parts.length - 1);
  for (let i = parts.length - 1; i >= 0 && size() > maxLength; i--) {
    if ((parts[i] as string).length > LARGE_ENTRY) parts.splice(i, 1);
  }
  while (parts.length > 0 && size() > maxLength) parts.pop();
  return parts.length === 0 ? undefined : parts.join(',');
}

/**
 * The `tracestate` to pass on for an incoming header: parsed, de-duplicated, truncated to 512
 * characters by whole entries. Undefined when the header is absent, empty or cannot be parsed.
 */
export function acceptTracestate(value: unknown): string | undefined {
  const entries = parseTracestate(value);
  return entries === undefined ? undefined : formatTracestate(entries);
}
