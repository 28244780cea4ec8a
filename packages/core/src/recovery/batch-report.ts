/**
 * The partial-success report of a batch: the levels runner's counts plus, per failure, what a
 * person needs (code, reason, suggestion, command), the rollback's outcome and the checkpoint's.
 * Built once here; the renderers (batch-render.ts) only format it.
 */
import { codeInfo, isKnownCode } from '../errors/app-codes.js';
import { isBulwarkError } from '../errors/bulwark-error.js';
import { classify } from '../errors/classify.js';
import type { ErrorCategory } from '../errors/codes.js';
import { toProblem } from '../errors/problem.js';
import type {
  DependencyCriticality,
  ItemOutcome,
  LevelSummary,
  LevelsReport,
  OutcomeCounts,
} from './levels.js';

/** One failed item, as a person reads it: `Error / Reason / Suggestion / Command`. */
export interface BatchFailure {
  /** The item's key. */
  key: string;
  /** Its level. */
  level: number;
  /** Its criticality (an optional or stretch failure is a warning). */
  criticality: DependencyCriticality;
  /** Time spent on it (every attempt under the policy). */
  durationMs: number;
  /** The `Error:` line: what failed (the batch's `describe`, default `Item '<key>' failed`). */
  error: string;
  /** The error's code: Bulwark's, the app's (`defineError`), or `INTERNAL_ERROR` for an unknown error. */
  code: string;
  /** HTTP status of that code. */
  status: number;
  /** Its title. */
  title: string;
  /** Its category. */
  category: ErrorCategory;
  /** The `Reason:` line: the error's message, then its causes' (`message: cause: cause`). */
  reason: string;
  /** What a person can do. */
  suggestion: string;
  /** A command that fixes or works around it, when the error carries one. */
  command?: string;
  /** The dead-letter entry holding the item, when the policy dead-lettered it. */
  deadLetterId?: string;
}

/** What the rollback did. */
export interface RollbackReport {
  /** Keys undone, in the order they were undone (last finished first). */
  undone: string[];
  /** Undos that failed. */
  failed: { key: string; code: string; reason: string }[];
}

/** The report of a batch. */
export interface BatchReport extends OutcomeCounts {
  /** The batch's name (the policy name for `bulwark.batch`). */
  name: string;
  /** The checkpoint id. */
  id: string;
  /**
   * `complete`: every item succeeded (now or in an earlier run); `partial`: some failed or were not
   * run and the rest stand; `rolled-back`: a core failure undid the items done; `aborted`: the
   * signal stopped it.
   */
  status: 'complete' | 'partial' | 'rolled-back' | 'aborted';
  /** True when no core item failed or was left unrun. */
  ok: boolean;
  /** Items skipped because an earlier run finished them (counted in `skipped`). */
  resumed: number;
  /** Optional and stretch failures. */
  warnings: number;
  /** Wall time. */
  durationMs: number;
  /** Every failed item, in input order. */
  failures: BatchFailure[];
  /** Keys of items not run because the batch stopped (not the resumed ones), in input order. */
  notRun: string[];
  /** Every item's outcome (with the raw error), in input order. */
  outcomes: ItemOutcome[];
  /** Counts per level. */
  levels: LevelSummary[];
  /** Counts per criticality. */
  byCriticality: Record<DependencyCriticality, OutcomeCounts>;
  /** Present when a rollback ran. */
  rollback?: RollbackReport;
  /** Present when progress was checkpointed: the id and the number of writes. */
  checkpoint?: { id: string; writes: number };
}

const MAX_CAUSES = 3;
const MAX_REASON = 2000;

function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e) ?? String(e);
  } catch {
    return String(e);
  }
}

/** The message, then each cause's (`a: b: c`), without repeating a message, bounded. */
export function reasonOf(error: unknown): string {
  const parts: string[] = [];
  let e: unknown = error;
  for (let depth = 0; e !== undefined && depth <= MAX_CAUSES; depth++) {
    const m = messageOf(e);
    if (m !== '' && !parts.includes(m)) parts.push(m);
    e = e instanceof Error ? e.cause : undefined;
  }
  const s = parts.join(': ');
  return s.length > MAX_REASON ? `${s.slice(0, MAX_REASON)}…` : s;
}

function deadLetterIdOf(e: unknown): string | undefined {
  const id = typeof e === 'object' && e !== null ? (e as { deadLetterId?: unknown }).deadLetterId : undefined;
  return typeof id === 'string' ? id : undefined;
}

/** The code, status, title, suggestion and command of any thrown value (as the problem document would say it, messages kept). */
export function describeError(
  error: unknown,
): Pick<BatchFailure, 'code' | 'status' | 'title' | 'category' | 'suggestion' | 'command'> {
  if (isBulwarkError(error) && isKnownCode(error.code)) {
    const out: ReturnType<typeof describeError> = {
      code: error.code,
      status: error.status,
      title: codeInfo(error.code).title,
      category: error.category,
      suggestion: error.suggestion,
    };
    if (error.command !== undefined) out.command = error.command;
    return out;
  }
  // An error that only carries a known code (a saga's error rebuilt from its log after a restart).
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (!isBulwarkError(error) && typeof code === 'string' && isKnownCode(code)) {
    const info = codeInfo(code);
    const out: ReturnType<typeof describeError> = {
      code,
      status: info.status,
      title: info.title,
      category: info.category,
      suggestion: info.suggestion,
    };
    const command = (error as { command?: unknown }).command ?? info.command;
    if (typeof command === 'string') out.command = command;
    return out;
  }
  const p = toProblem(error, { production: false });
  return {
    code: p.code,
    status: p.status,
    title: p.title,
    category: classify(error),
    suggestion: p.suggestion ?? codeInfo('INTERNAL_ERROR').suggestion,
  };
}

/** One failure entry from a failed outcome. */
export function failureOf(o: ItemOutcome, describe: (key: string) => string): BatchFailure {
  const f: BatchFailure = {
    key: o.key,
    level: o.level,
    criticality: o.criticality,
    durationMs: o.durationMs,
    error: describe(o.key),
    ...describeError(o.error),
    reason: reasonOf(o.error),
  };
  const dl = deadLetterIdOf(o.error);
  if (dl !== undefined) f.deadLetterId = dl;
  return f;
}

/** The batch report from the levels report. */
export function batchReport(
  levels: LevelsReport,
  meta: {
    name: string;
    id: string;
    describe: (key: string) => string;
    rollback?: RollbackReport;
    checkpointWrites?: number;
  },
): BatchReport {
  const failures: BatchFailure[] = [];
  const notRun: string[] = [];
  let resumed = 0;
  for (const o of levels.outcomes) {
    if (o.status === 'failed') failures.push(failureOf(o, meta.describe));
    else if (o.status === 'skipped') {
      if (o.reason === 'done') resumed++;
      else notRun.push(o.key);
    }
  }
  const status: BatchReport['status'] =
    levels.stopped === 'aborted'
      ? 'aborted'
      : meta.rollback !== undefined
        ? 'rolled-back'
        : failures.length === 0 && notRun.length === 0
          ? 'complete'
          : 'partial';
  const report: BatchReport = {
    name: meta.name,
    id: meta.id,
    status,
    ok: levels.ok,
    total: levels.total,
    succeeded: levels.succeeded,
    failed: levels.failed,
    skipped: levels.skipped,
    resumed,
    warnings: levels.warnings,
    durationMs: levels.durationMs,
    failures,
    notRun,
    outcomes: levels.outcomes,
    levels: levels.levels,
    byCriticality: levels.byCriticality,
  };
  if (meta.rollback !== undefined) report.rollback = meta.rollback;
  if (meta.checkpointWrites !== undefined) report.checkpoint = { id: meta.id, writes: meta.checkpointWrites };
  return report;
}
