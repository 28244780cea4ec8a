/**
 * The RFC 9457 document itself: its type, the `type` URIs of Bulwark's codes, and the URI rules
 * its members follow (`type` absolute, `instance` a valid URI reference whatever the request
 * path held). The ground floor: imports nothing.
 */

/** One entry of a problem's `errors` member (a validation failure): what is wrong, and where (a JSON Pointer as a URI fragment). */
export interface ProblemErrorEntry {
  /** What is wrong with this part of the request. */
  detail: string;
  /** JSON Pointer to the offending member, as a URI fragment (`#/address/city`); `#` for the whole request. */
  pointer: string;
}

/** RFC 9457 problem details, with Bulwark's extension members. */
export interface ProblemDetails {
  /** URI identifying the problem type (`about:blank` for plain HTTP errors). */
  type: string;
  /** Short summary of the type; one fixed title per type. */
  title: string;
  /** HTTP status. */
  status: number;
  /** Explanation of this occurrence (omitted for unknown errors in production). */
  detail?: string;
  /** URI reference of this occurrence (the request path, percent-encoded). */
  instance?: string;
  /** Stable Bulwark code. */
  code: string;
  /** Correlation ID of the request. */
  correlationId?: string;
  /** What the caller can do. */
  suggestion?: string;
  /** Seconds until a retry may succeed. */
  retryAfter?: number;
  /** Service/hop that failed, for errors that crossed services. */
  service?: string;
  /** A command that fixes or works around it (app codes defined with one, see `defineError`). */
  command?: string;
  /** Validation failures, one entry each. */
  errors?: ProblemErrorEntry[];
  /** Stack, only outside production. */
  stack?: string;
  /** Further extension members. */
  [extension: string]: unknown;
}

/**
 * Default prefix of Bulwark's problem `type` URIs: a `tag:` URI (RFC 4151), an identifier that is
 * never dereferenced, so no domain anyone could register serves content for it. Set
 * `problemTypeBase` to a URL you control to make the types link to your own documentation.
 */
export const DEFAULT_PROBLEM_TYPE_BASE = 'tag:bulwark,2026:problems/';

/** The `type` of plain HTTP errors (RFC 9457 §4.2.1): the status phrase is the title. */
export const ABOUT_BLANK = 'about:blank';

/** Longest `instance` written (in characters, after encoding). */
export const MAX_INSTANCE_LENGTH = 1024;

/** `BULKHEAD_FULL` → `bulkhead-full`. */
export function problemSlug(code: string): string {
  return code.toLowerCase().replace(/_/g, '-');
}

/** The `type` URI of a Bulwark code under `base` (default {@link DEFAULT_PROBLEM_TYPE_BASE}). */
export function problemType(code: string, base: string = DEFAULT_PROBLEM_TYPE_BASE): string {
  return base + problemSlug(code);
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
// RFC 3986 characters of a URI outside escapes: unreserved, gen-delims but "[]" (host only), sub-delims.
const URI_CHARS = /^(?:[A-Za-z0-9\-._~:/?#@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/;

/**
 * True when `value` is an absolute URI (RFC 3986: a scheme, then only URI characters and
 * well-formed `%XX` escapes; a fragment is allowed, so a type base may point into one page).
 * Used to validate `problemTypeBase` at start-up.
 * @example
 * isAbsoluteUri('https://errors.example.com/'); // true
 * isAbsoluteUri('my problems/'); // false
 */
export function isAbsoluteUri(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) return false;
  if (!SCHEME.test(value)) return false;
  const hash = value.indexOf('#');
  if (hash >= 0 && value.indexOf('#', hash + 1) >= 0) return false;
  return URI_CHARS.test(value);
}

/** Characters kept as they are in a path or query (pchar, "/" and "?"); everything else is percent-encoded. */
function plain(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    "-._~!$&'()*+,;=:@/?".includes(String.fromCharCode(c))
  );
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

const HEX = '0123456789ABCDEF';

function escapeByte(b: number): string {
  return `%${HEX[b >> 4]}${HEX[b & 15]}`;
}

/** The `%XX` escapes of one code point's UTF-8 bytes (a lone surrogate becomes U+FFFD). */
function escapeCodePoint(cp: number): string {
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
  if (cp < 0x80) return escapeByte(cp);
  if (cp < 0x800) return escapeByte(0xc0 | (cp >> 6)) + escapeByte(0x80 | (cp & 63));
  if (cp < 0x10000)
    return escapeByte(0xe0 | (cp >> 12)) + escapeByte(0x80 | ((cp >> 6) & 63)) + escapeByte(0x80 | (cp & 63));
  return (
    escapeByte(0xf0 | (cp >> 18)) +
    escapeByte(0x80 | ((cp >> 12) & 63)) +
    escapeByte(0x80 | ((cp >> 6) & 63)) +
    escapeByte(0x80 | (cp & 63))
  );
}

/**
 * `path` as a valid relative URI reference for a problem's `instance`: characters a URI may not
 * hold (space, `{}|^\``, `"<>`, `[]`, `#`, controls, non-ASCII…) percent-encoded as UTF-8,
 * well-formed `%XX` escapes kept, a stray `%` encoded; a leading `//` (which would read as a
 * host) and a `:` in the first segment (which would read as a scheme) escaped. Cut to at most
 * `max` characters between escapes, never inside a `%XX` or a code point.
 * @example
 * problemInstance('/a b/{x}'); // '/a%20b/%7Bx%7D'
 */
export function problemInstance(path: string, max: number = MAX_INSTANCE_LENGTH): string {
  let out = '';
  let firstSegment = !path.startsWith('/');
  for (let i = 0; i < path.length; ) {
    const c = path.charCodeAt(i);
    let unit: string;
    let width = 1;
    if (c === 0x25 && isHex(path.charCodeAt(i + 1)) && isHex(path.charCodeAt(i + 2))) {
      unit = path.slice(i, i + 3);
      width = 3;
    } else if (c < 0x80 && plain(c)) {
      unit = path[i] as string;
      if (c === 0x2f) {
        if (out === '/') unit = '%2F'; // '//' would start an authority
        firstSegment = false;
      } else if (c === 0x3a && firstSegment) unit = '%3A';
    } else {
      const cp = path.codePointAt(i) as number;
      width = cp > 0xffff ? 2 : 1;
      unit = escapeCodePoint(cp);
    }
    if (out.length + unit.length > max) break;
    out += unit;
    i += width;
  }
  return out;
}
