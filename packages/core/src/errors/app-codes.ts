/**
 * Error codes defined by the application (`defineError`), next to Bulwark's own, and the one
 * lookup every consumer uses (`codeInfo`): a BulwarkError's status, title, category, suggestion
 * and command come from it, for built-in, app-defined and unknown codes alike. An unknown code
 * never crashes: it is a 500 `internal` error with the generic suggestion (an undefined code is
 * a bug the operator should see, so the problem document treats it as an unknown error).
 *
 * The definitions live on `globalThis` under a registered symbol, so two copies of the package in
 * one process (an app and a library it uses) agree on them. `defineError` (define-error.ts)
 * validates and adds them; this module only holds and reads the table, so bulwark-error.ts can
 * import it without a cycle.
 */
import { ERROR_CODES, type ErrorCategory, type ErrorCode } from './codes.js';

/** A Bulwark code or an application's own (see `defineError`); any string is accepted and an unknown one never crashes. */
export type AnyErrorCode = ErrorCode | (string & {});

/** What is known of a code: its definition, filled in. */
export interface CodeInfo {
  /** The code. */
  readonly code: string;
  /** HTTP status. */
  readonly status: number;
  /** Title. */
  readonly title: string;
  /** Category. */
  readonly category: ErrorCategory;
  /** Suggestion. */
  readonly suggestion: string;
  /** Command, if the definition has one. */
  readonly command: string | undefined;
  /** Whether retry's default classifier retries it. */
  readonly retryable: boolean;
  /** Explicit problem `type` URI, if the definition has one. */
  readonly type: string | undefined;
  /** Where the code comes from: Bulwark, the application, or nowhere (an unknown code). */
  readonly source: 'bulwark' | 'app' | 'unknown';
}

/** Most app codes one process may define (the table is process-wide; a loop defining codes is a bug). */
export const MAX_APP_ERROR_CODES = 10_000;

/** Bulwark codes worth another attempt; the rest (open circuit, full bulkhead, rate limited, spent deadline...) are not. */
const RETRYABLE_BUILTIN: ReadonlySet<string> = new Set(['TIMEOUT', 'DOWNSTREAM_ERROR']);

const KEY = Symbol.for('bulwark.app-error-codes');
const table: Map<string, CodeInfo> =
  ((globalThis as Record<symbol, unknown>)[KEY] as Map<string, CodeInfo> | undefined) ??
  (() => {
    const m = new Map<string, CodeInfo>();
    Object.defineProperty(globalThis, KEY, { value: m, enumerable: false });
    return m;
  })();

/** The info of `code` described by one of Bulwark's own definitions (`d`). */
function fromDefinition(
  code: string,
  d: (typeof ERROR_CODES)[keyof typeof ERROR_CODES],
  retryable: boolean,
  source: CodeInfo['source'],
): CodeInfo {
  return {
    code,
    status: d.status,
    title: d.title,
    category: d.category,
    suggestion: d.suggestion,
    command: undefined,
    retryable,
    type: undefined,
    source,
  };
}

const builtin = new Map<string, CodeInfo>(
  Object.entries(ERROR_CODES).map(([code, d]) => [
    code,
    Object.freeze(fromDefinition(code, d, RETRYABLE_BUILTIN.has(code), 'bulwark')),
  ]),
);

/** An unknown code is answered as an unknown error (500, internal), never retried. */
function unknownInfo(code: string): CodeInfo {
  return fromDefinition(code, ERROR_CODES.INTERNAL_ERROR, false, 'unknown');
}

/** Everything known of `code`: Bulwark's, the app's, or the 500/internal fallback of an unknown code. Never throws. */
export function codeInfo(code: string): CodeInfo {
  return builtin.get(code) ?? table.get(code) ?? unknownInfo(String(code));
}

/** True when `code` is Bulwark's or was defined with `defineError`. */
export function isKnownCode(code: string): boolean {
  return builtin.has(code) || table.has(code);
}

/** The codes defined with `defineError`, in definition order (for an app's own error catalogue). */
export function definedErrors(): CodeInfo[] {
  return [...table.values()];
}

/** Internal (define-error.ts): adds a validated definition; false when the table is full. */
export function addCode(info: CodeInfo): boolean {
  if (table.size >= MAX_APP_ERROR_CODES) return false;
  table.set(info.code, info);
  return true;
}

/** Internal (define-error.ts): the app's definition of `code`, if any. */
export function appCode(code: string): CodeInfo | undefined {
  return table.get(code);
}

/** Internal (define-error.ts): true for Bulwark's codes and the reserved `HTTP_ERROR`. */
export function isBulwarkCode(code: string): boolean {
  return builtin.has(code) || code === 'HTTP_ERROR';
}
