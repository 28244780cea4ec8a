/**
 * Reporting unknown errors: the engine calls `http.onError` once for each error it answers with
 * a 5xx that is not one of Bulwark's own outcomes (a shed request, an open breaker, a timeout are
 * decisions, not bugs). The 500 tells the client to quote its correlation ID; this is where the
 * operator finds it.
 */
import { isBulwarkError } from '../errors/bulwark-error.js';
import type { InboundRequest } from './types.js';

/** What the engine knows about the request when it reports an error. */
export interface ErrorReport {
  /** The request's correlation ID (the one in the response header and problem body). */
  readonly correlationId: string;
  /** The status the client is answered with (≥ 500). */
  readonly status: number;
  /** HTTP method. */
  readonly method: string;
  /** Request path (no query string). */
  readonly path: string;
  /** Route pattern, when the adapter knew it. */
  readonly routeKey: string | undefined;
  /** The request as the adapter described it. */
  readonly request: InboundRequest;
}

/** Called once for each unknown (5xx) error; must not throw (a throw is swallowed). */
export type ErrorReporter = (error: unknown, report: ErrorReport) => void;

/**
 * The default reporter: logs the error with its stack and the correlation ID to `console.error`,
 * as Express's own final handler does.
 */
export const consoleErrorReporter: ErrorReporter = (error, report) => {
  console.error(
    `[bulwark] ${report.method} ${report.path} answered ${report.status} (correlation ID ${report.correlationId}):`,
    error,
  );
};

/** True when an error answered with `status` is one to report (an unknown 5xx, not a Bulwark outcome). */
export function isReportable(error: unknown, status: number): boolean {
  return status >= 500 && !isBulwarkError(error);
}

/** Reports each error object at most once (an error may reach two error handlers). */
export class Reporter {
  private readonly seen = new WeakSet<object>();

  constructor(private readonly configured: ErrorReporter | undefined) {}

  /** Reports `error` through the configured reporter, else the adapter's default, else the console. */
  report(error: unknown, report: ErrorReport): void {
    if (typeof error === 'object' && error !== null) {
      if (this.seen.has(error)) return;
      this.seen.add(error);
    }
    const req = report.request;
    try {
      if (this.configured !== undefined) this.configured(error, report);
      else if (req.reportError !== undefined) req.reportError(error, report);
      else consoleErrorReporter(error, report);
    } catch {
      // A reporter that throws must not turn one failed request into a crashed process.
    }
  }
}
