/**
 * The batch report for people and programs: text for a terminal (`Error / Reason / Suggestion /
 * Command` per failure, then the counts), JSON (no raw errors; safe to write to a file or log),
 * and an HTTP answer.
 *
 * HTTP: when every core item succeeded (optional/stretch failures are warnings), `200` with the
 * JSON report — the work is done, and the report says what degraded. Otherwise an RFC 9457
 * `application/problem+json` of code `BATCH_FAILED` listing the failed items (`failed`, at most
 * `maxItems`): `502` when every core failure came from the items' own work (a dependency's refusal
 * or outage, an app error such as `TENANT_EXISTS`), `500` when one was an unknown error (a bug in
 * this service). `207 Multi-Status` is WebDAV's, with an XML body clients do not expect; a 2xx
 * for a batch whose core part failed would let a client treat a failure as done.
 * Production-safe: each item's detail follows `toProblem`'s rules (an unknown error's message is
 * not shown in production).
 */
import { ERROR_CODES } from '../errors/codes.js';
import { type ProblemDetails, problemInstance, problemType, toProblem } from '../errors/problem.js';
import type { BatchFailure, BatchReport } from './batch-report.js';
import type { DependencyCriticality, ItemOutcome, OutcomeCounts } from './levels.js';

const ms = (n: number) => `${Math.round(n)} ms`;

function counts(c: OutcomeCounts): string {
  return `${c.succeeded} succeeded, ${c.failed} failed, ${c.skipped} skipped`;
}

function failureLines(f: BatchFailure): string[] {
  const head = f.criticality === 'core' ? 'Error' : 'Warning';
  const tag = f.criticality === 'core' ? '' : `, ${f.criticality}`;
  const lines = [
    `${head}: ${f.error} (${f.code}${tag}, in ${ms(f.durationMs)})`,
    `Reason: ${f.reason || f.title}`,
    `Suggestion: ${f.suggestion}`,
  ];
  if (f.command !== undefined) lines.push(`Command: ${f.command}`);
  if (f.deadLetterId !== undefined) lines.push(`Dead letter: ${f.deadLetterId}`);
  return lines;
}

/** Options of {@link renderBatchText}. */
export interface RenderTextOptions {
  /** Failures shown in full; the rest are counted. Default 50. */
  maxFailures?: number;
}

/**
 * The report for a terminal: each failure as `Error: / Reason: / Suggestion: / Command:`
 * (`Warning:` for optional and stretch items), then the counts per criticality and per level.
 * @example
 * const report = await bulwark.batch('tenants.sync', tenants, sync, { continueOnError: true });
 * console.log(renderBatchText(report));
 * process.exitCode = report.ok ? 0 : 1;
 */
export function renderBatchText(report: BatchReport, options: RenderTextOptions = {}): string {
  const max = options.maxFailures ?? 50;
  const out: string[] = [];
  for (const f of report.failures.slice(0, max)) out.push(...failureLines(f), '');
  if (report.failures.length > max) out.push(`… and ${report.failures.length - max} more failures`, '');
  const resumed = report.resumed > 0 ? `, ${report.resumed} done by an earlier run` : '';
  out.push(
    `${report.name}: ${report.status} — ${report.succeeded} succeeded, ${report.failed} failed, ${report.skipped} skipped of ${report.total}${resumed} in ${ms(report.durationMs)}`,
  );
  const crit = (Object.entries(report.byCriticality) as [DependencyCriticality, OutcomeCounts][]).filter(
    ([, c]) => c.total > 0,
  );
  if (crit.length > 1 || report.warnings > 0) for (const [k, c] of crit) out.push(`  ${k}: ${counts(c)}`);
  if (report.levels.length > 1)
    for (const l of report.levels) out.push(`  level ${l.level}: ${counts(l)} in ${ms(l.durationMs)}`);
  if (report.notRun.length > 0) out.push(`  not run: ${list(report.notRun)}`);
  if (report.rollback) {
    out.push(
      `  rolled back: ${report.rollback.undone.length}${report.rollback.undone.length ? ` (${list(report.rollback.undone)})` : ''}`,
    );
    for (const f of report.rollback.failed) out.push(`  undo failed: ${f.key} (${f.code}): ${f.reason}`);
  }
  if (report.checkpoint)
    out.push(`  checkpoint: ${report.checkpoint.id} (${report.checkpoint.writes} writes)`);
  return out.join('\n');
}

function list(keys: readonly string[], max = 10): string {
  return keys.length > max
    ? `${keys.slice(0, max).join(', ')}, … ${keys.length - max} more`
    : keys.join(', ');
}

/** The JSON form of a report. */
export interface BatchReportJson extends Omit<BatchReport, 'outcomes'> {
  /** Every item without its raw error (the failure entries hold what it said). */
  outcomes: Omit<ItemOutcome, 'error'>[];
}

/**
 * The report as plain JSON (no raw errors, no stacks): for a file, a log line or an API. With
 * `production`, failure reasons of unknown errors are replaced by their title.
 */
export function batchReportJson(
  report: BatchReport,
  options: { production?: boolean } = {},
): BatchReportJson {
  const { outcomes, failures, ...rest } = report;
  const production = options.production === true;
  const byKey = production ? new Map(outcomes.map((o) => [o.key, o])) : undefined;
  return {
    ...rest,
    failures: failures.map((f) => {
      if (!byKey || f.code !== 'INTERNAL_ERROR') return { ...f };
      const p = toProblem(byKey.get(f.key)?.error, { production: true });
      return { ...f, reason: p.detail ?? p.title };
    }),
    outcomes: outcomes.map(({ error: _error, ...o }) => o),
  };
}

/** Options of {@link batchResponse}. */
export interface BatchResponseOptions {
  /** Hide unknown errors' messages (as every problem document does). */
  production: boolean;
  /** The request path, for the problem's `instance`. */
  instance?: string;
  /** The request's correlation ID. */
  correlationId?: string;
  /** Prefix of problem `type` URIs (default Bulwark's). */
  typeBase?: string;
  /** Failed items listed at most. Default 100. */
  maxItems?: number;
}

/** A complete HTTP answer: write `status`, `headers` and `JSON.stringify(body)`. */
export interface BatchHttpResponse {
  /** 200, 500 or 502 (see the module comment). */
  status: number;
  /** `Content-Type` (and `Cache-Control: no-store`). */
  headers: Record<string, string>;
  /** The JSON report (200) or the problem document. */
  body: BatchReportJson | ProblemDetails;
}

/** One failed item in the problem document, as `toProblem` would say it. */
function itemProblem(o: ItemOutcome, options: BatchResponseOptions) {
  const p = toProblem(o.error, { production: options.production, typeBase: options.typeBase });
  const item: Record<string, unknown> = {
    key: o.key,
    criticality: o.criticality,
    code: p.code,
    status: p.status,
  };
  item.title = p.title;
  if (p.detail !== undefined) item.detail = p.detail;
  if (p.suggestion !== undefined) item.suggestion = p.suggestion;
  if (p.command !== undefined) item.command = p.command;
  return item;
}

/**
 * The report as an HTTP answer: 200 with the JSON report when every core item succeeded, else a
 * `BATCH_FAILED` problem (502, or 500 when a core failure was an unknown error) listing the failed items.
 * @example
 * app.post('/sync', async (req, res) => {
 *   const r = batchResponse(await bulwark.batch('tenants.sync', req.body.tenants, sync, { continueOnError: true }),
 *     { production: process.env.NODE_ENV === 'production', instance: req.path });
 *   res.status(r.status).set(r.headers).send(JSON.stringify(r.body));
 * });
 */
export function batchResponse(report: BatchReport, options: BatchResponseOptions): BatchHttpResponse {
  if (report.ok) {
    return {
      status: 200,
      headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
      body: batchReportJson(report, { production: options.production }),
    };
  }
  const max = options.maxItems ?? 100;
  const failed = report.outcomes.filter((o) => o.status === 'failed');
  const items = failed.slice(0, max).map((o) => itemProblem(o, options));
  const internal = failed.some(
    (o) => o.criticality === 'core' && toProblem(o.error, { production: true }).code === 'INTERNAL_ERROR',
  );
  const def = ERROR_CODES.BATCH_FAILED;
  const status = internal ? 500 : def.status;
  const stopped = report.notRun.length > 0 ? `; ${report.notRun.length} not run` : '';
  const rolled = report.rollback ? `; ${report.rollback.undone.length} rolled back` : '';
  const body: ProblemDetails = {
    type: problemType('BATCH_FAILED', options.typeBase),
    title: def.title,
    status,
    code: 'BATCH_FAILED',
    detail: `Batch '${report.name}': ${report.failed} of ${report.total} items failed${stopped}${rolled}.`,
  };
  if (options.instance !== undefined) body.instance = problemInstance(options.instance);
  if (options.correlationId !== undefined) body.correlationId = options.correlationId;
  body.suggestion = def.suggestion;
  body.batch = {
    name: report.name,
    status: report.status,
    total: report.total,
    succeeded: report.succeeded,
    failed: report.failed,
    skipped: report.skipped,
  };
  body.failed = items;
  if (failed.length > max) body.failedOmitted = failed.length - max;
  return {
    status,
    headers: {
      'Content-Type': 'application/problem+json',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    },
    body,
  };
}
