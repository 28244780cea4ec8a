/**
 * `defineError()`: an application's own error codes, validated once and added to the table
 * `codeInfo` reads (app-codes.ts), so they work wherever Bulwark's codes do.
 */
import { addCode, appCode, type CodeInfo, isBulwarkCode, MAX_APP_ERROR_CODES } from './app-codes.js';
import { BulwarkError, type ConfigIssue, InvalidConfigError, isBulwarkError } from './bulwark-error.js';
import { categoryOfStatus } from './classify.js';
import type { ErrorCategory } from './codes.js';
import { isAbsoluteUri } from './problem-details.js';

const CODE_FORMAT = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;

/** What `defineError` takes. */
export interface ErrorDefinition {
  /** `UPPER_SNAKE_CASE`, 2 to 64 characters, not one of Bulwark's codes (e.g. `TENANT_EXISTS`). */
  code: string;
  /** HTTP status of the error (400–599). */
  status: number;
  /** Short summary, one per code (the problem document's `title`). */
  title: string;
  /** What a person can do about it. */
  suggestion: string;
  /** A command that fixes or works around it (shown as `Command:` in reports); instances may override it. */
  command?: string;
  /** Category for classification; default from the status (408 timeout, 429 rate-limited, other 4xx client, 5xx transient). */
  category?: ErrorCategory;
  /** Whether retry's default classifier retries it. Default false: an app code is a decision, not a glitch. */
  retryable?: boolean;
  /** The problem `type` URI (absolute). Default: `problemTypeBase` followed by the code in kebab case, like Bulwark's own. */
  type?: string;
}

const CATEGORIES: readonly ErrorCategory[] = [
  'transient',
  'permanent',
  'timeout',
  'overload',
  'rate-limited',
  'circuit-open',
  'cancelled',
  'client',
  'internal',
];

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'nothing';
  if (typeof v === 'function') return 'a function';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function nonEmpty(v: unknown, max: number): boolean {
  return typeof v === 'string' && v.trim() !== '' && v.length <= max;
}

function check(def: ErrorDefinition, issues: ConfigIssue[]): void {
  const at = (k: string) => `defineError(${typeof def.code === 'string' ? def.code : '?'}).${k}`;
  const add = (k: string, expected: string, v: unknown, fix: string) =>
    issues.push({ path: at(k), expected, received: show(v), fix });
  const { code } = def;
  if (typeof code !== 'string' || code.length < 2 || code.length > 64 || !CODE_FORMAT.test(code))
    add('code', 'an UPPER_SNAKE_CASE code of 2 to 64 characters', code, "write it like 'TENANT_EXISTS'");
  else if (isBulwarkCode(code))
    add('code', "a code that is not one of Bulwark's own", code, `pick another name, e.g. 'APP_${code}'`);
  if (!(Number.isInteger(def.status) && def.status >= 400 && def.status <= 599))
    add('status', 'an HTTP error status from 400 to 599', def.status, 'use e.g. 409 for a conflict');
  if (!nonEmpty(def.title, 200))
    add('title', 'a non-empty string of at most 200 characters', def.title, 'e.g. "Tenant exists"');
  if (!nonEmpty(def.suggestion, 2000))
    add('suggestion', 'a non-empty string (what a person can do)', def.suggestion, 'say what to do next');
  if (def.command !== undefined && !nonEmpty(def.command, 2000))
    add('command', 'a non-empty string, or nothing', def.command, 'e.g. "tenant update --tenant-id acme"');
  if (def.category !== undefined && !CATEGORIES.includes(def.category))
    add(
      'category',
      `one of ${CATEGORIES.join(', ')}`,
      def.category,
      'leave it out to derive it from the status',
    );
  if (def.retryable !== undefined && typeof def.retryable !== 'boolean')
    add('retryable', 'true or false', def.retryable, 'leave it out for false');
  if (def.type !== undefined && !isAbsoluteUri(def.type))
    add('type', 'an absolute URI', def.type, 'e.g. "https://errors.example.com/tenant-exists"');
}

const FIELDS = ['status', 'title', 'suggestion', 'command', 'category', 'retryable', 'type'] as const;

/**
 * Registers an application error code, usable wherever Bulwark's codes are: `new BulwarkError(code)`
 * gets its status, title, category, suggestion and command; problem documents, batch reports and
 * logs show them. Defining the same code again with the same content is a no-op; with different
 * content it throws an InvalidConfigError naming the code and the first difference.
 * @example
 * const TenantExists = defineError({
 *   code: 'TENANT_EXISTS', status: 409, title: 'Tenant exists',
 *   suggestion: "Use 'tenant update' instead, or delete the existing tenant first.",
 *   command: 'tenant update --tenant-id <id>',
 * });
 * throw TenantExists.create({ message: "Tenant 'acme' already exists", command: 'tenant update --tenant-id acme' });
 */
export function defineError(definition: ErrorDefinition): DefinedError {
  const issues: ConfigIssue[] = [];
  if (typeof definition !== 'object' || definition === null) {
    throw new InvalidConfigError([
      {
        path: 'defineError',
        expected: 'an object { code, status, title, suggestion }',
        received: show(definition),
      },
    ]);
  }
  check(definition, issues);
  if (issues.length > 0) throw new InvalidConfigError(issues);
  const d = definition;
  const info: CodeInfo = Object.freeze({
    code: d.code,
    status: d.status,
    title: d.title,
    category: d.category ?? categoryOfStatus(d.status),
    suggestion: d.suggestion,
    command: d.command,
    retryable: d.retryable ?? false,
    type: d.type,
    source: 'app',
  });
  const earlier = appCode(d.code);
  if (earlier !== undefined) {
    const diff = FIELDS.find((k) => earlier[k] !== info[k]);
    if (diff !== undefined)
      throw new InvalidConfigError([
        {
          path: `defineError(${d.code}).${diff}`,
          expected: `${show(earlier[diff])}, as '${d.code}' was first defined`,
          received: show(info[diff]),
          fix: 'a code is defined once: define it in one module and import it, or give this error its own code',
        },
      ]);
    return makeDefined(earlier);
  }
  if (!addCode(info))
    throw new InvalidConfigError([
      {
        path: `defineError(${d.code})`,
        expected: `at most ${MAX_APP_ERROR_CODES} app error codes`,
        received: `${MAX_APP_ERROR_CODES} already defined`,
        fix: 'define codes once at start-up, not per request',
      },
    ]);
  return makeDefined(info);
}

/** Options of a defined error's `create`. */
export interface DefinedErrorOptions {
  /** This occurrence, e.g. "Tenant 'acme' already exists"; defaults to the title. */
  message?: string;
  /** Underlying cause. */
  cause?: unknown;
  /** Overrides the definition's command for this occurrence (e.g. with the tenant's id filled in). */
  command?: string;
  /** Overrides the definition's suggestion. */
  suggestion?: string;
}

/** The handle `defineError` returns: the code's info, a factory and a guard. */
export interface DefinedError extends CodeInfo {
  /** A BulwarkError with this code. */
  create(options?: DefinedErrorOptions): BulwarkError;
  /** True for a Bulwark error with this code (even from another copy of the package). */
  is(error: unknown): error is BulwarkError;
}

function makeDefined(info: CodeInfo): DefinedError {
  return Object.freeze({
    ...info,
    create(options: DefinedErrorOptions = {}) {
      return new BulwarkError(info.code, options);
    },
    is(error: unknown): error is BulwarkError {
      return isBulwarkError(error) && error.code === info.code;
    },
  });
}
