/**
 * The probe endpoints the HTTP engine answers inside `admit()`: `/livez` (the process answers),
 * `/readyz` (readiness) and `/health` (the report). Each answer is built from cached state (no
 * check runs while a probe waits). The detailed report needs the configured token (a Bearer token,
 * compared in constant time); without a token it is shown only outside production.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { InboundRequest, OutboundResponse } from '../http/types.js';
import { type Check, type Issues, isPlainObject, shape } from '../util/checks.js';
import type { Features } from './features.js';
import type { Health } from './registry.js';

/** The `http.health` section: the probe paths (`false` turns one off) and the token of the detailed report. */
export interface HttpHealthOptions {
  /** Liveness path: 200 while the process answers; never depends on a dependency. Default `/livez`. */
  live?: string | false;
  /** Readiness path: 503 while a core dependency is down or unchecked, while draining, before start-up finished. Default `/readyz`. */
  ready?: string | false;
  /** Health report path: the JSON report (503 while the service is down). Default `/health`. */
  report?: string | false;
  /**
   * A secret that unlocks the detailed report and readiness reasons (`Authorization: Bearer <token>`).
   * Without it, the detail is shown only outside production. At least 16 characters.
   */
  token?: string;
}

/** The probe a path answers. */
export type ProbeKind = 'live' | 'ready' | 'report';

/** Default probe paths (also the engine's default `exempt` list). */
export const DEFAULT_PROBE_PATHS: Readonly<Record<ProbeKind, string>> = Object.freeze({
  live: '/livez',
  ready: '/readyz',
  report: '/health',
});

const MAX_AUTHORIZATION = 1024;

const path: Check = (v, p, out) => {
  if (v === false) return;
  if (typeof v !== 'string' || !/^\/[\x21-\x7e]{0,255}$/.test(v) || v.includes('?'))
    out.add(p, 'a path starting with / (no query), or false to turn it off', v);
};

const token: Check = (v, p, out) => {
  if (typeof v !== 'string' || v.length < 16 || v.length > 512 || !/^[\x21-\x7e]+$/.test(v))
    out.add(
      p,
      'a secret of 16 to 512 visible ASCII characters',
      typeof v === 'string' ? `a string of ${v.length} characters` : v,
      'use a random value, e.g. the output of `openssl rand -hex 32`, from an env var (BULWARK_HTTP__HEALTH__TOKEN)',
      typeof v === 'string',
    );
};

const probesShape = shape(
  { live: path, ready: path, report: path, token },
  { expected: 'health endpoint options (live, ready, report, token), or false' },
);

/** Records every problem of `http.health` at `p` (false turns the endpoints off). */
export function checkHttpHealthOptions(v: unknown, p: string, out: Issues): void {
  if (v === false) return;
  probesShape(v, p, out);
  if (!isPlainObject(v)) return;
  const seen = new Map<string, string>();
  for (const kind of ['live', 'ready', 'report'] as const) {
    const at = v[kind] ?? DEFAULT_PROBE_PATHS[kind];
    if (typeof at !== 'string') continue;
    const other = seen.get(at);
    if (other !== undefined) out.add(`${p}.${kind}`, `a path other than ${p}.${other}'s`, at);
    seen.set(at, kind);
  }
}

/** The endpoints after validation. */
export interface ResolvedProbes {
  /** Path → probe. */
  readonly paths: ReadonlyMap<string, ProbeKind>;
  /** SHA-256 of the token, compared in constant time; undefined without a token. */
  readonly tokenDigest: Buffer | undefined;
}

/** Builds the endpoints from options that passed {@link checkHttpHealthOptions}; undefined when turned off. */
export function resolveProbes(input: HttpHealthOptions | false | undefined): ResolvedProbes | undefined {
  if (input === false) return undefined;
  const o = input ?? {};
  const paths = new Map<string, ProbeKind>();
  for (const kind of ['live', 'ready', 'report'] as const) {
    const at = o[kind] ?? DEFAULT_PROBE_PATHS[kind];
    if (at !== false) paths.set(at, kind);
  }
  return { paths, tokenDigest: o.token === undefined ? undefined : digest(o.token) };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** True when the request's `Authorization: Bearer <token>` matches (constant time over the digests). */
function authorized(authorization: unknown, expected: Buffer): boolean {
  if (typeof authorization !== 'string' || authorization.length > MAX_AUTHORIZATION) return false;
  const m = /^Bearer +(\S+) *$/i.exec(authorization);
  if (m === null) return false;
  return timingSafeEqual(digest(m[1] as string), expected);
}

/** Where the probes read from: set by `createBulwark` once `bulwark.health` exists (probes of an engine without one see no dependencies). */
export interface HealthLink {
  health: Health | undefined;
  features: Features | undefined;
}

/** A probe's answer: status, JSON body (headers are the engine's). */
export interface ProbeAnswer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * Answers one probe from cached state. `detail`: the caller may see reasons and the full report
 * (the token matched, or no token is configured outside production); `production` hides the
 * checks' raw error messages even then.
 */
export function answerProbe(
  kind: ProbeKind,
  link: HealthLink,
  probes: ResolvedProbes,
  authorization: unknown,
  production: boolean,
): ProbeAnswer {
  if (kind === 'live') return { status: 200, body: { status: 'alive' } };
  const detail =
    probes.tokenDigest === undefined ? !production : authorized(authorization, probes.tokenDigest);
  const health = link.health;
  if (kind === 'ready') {
    const r = health?.readiness() ?? { ready: true, reasons: [] };
    if (r.ready) return { status: 200, body: { status: 'ready' } };
    return {
      status: 503,
      body: detail ? { status: 'not-ready', reasons: r.reasons } : { status: 'not-ready' },
    };
  }
  const status = health?.status() ?? 'up';
  const code = status === 'down' ? 503 : 200;
  if (!detail) return { status: code, body: { status } };
  const report = health?.report({ messages: !production }) ?? {
    status,
    at: new Date().toISOString(),
    dependencies: [],
  };
  const degraded = link.features?.report();
  return {
    status: code,
    body: {
      ...report,
      ready: health?.readiness() ?? { ready: true, reasons: [] },
      ...(degraded === undefined ? {} : { degraded, features: link.features?.list() ?? [] }),
    },
  };
}

const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
});

/**
 * The engine's answer to a probe request (GET or HEAD on a probe path), or undefined when `req` is
 * not one. Answered before deadlines, limits and shedding: an orchestrator must always reach it.
 */
export function probeResponse(
  req: InboundRequest,
  probes: ResolvedProbes | undefined,
  link: HealthLink | undefined,
  production: boolean,
): OutboundResponse | undefined {
  const kind = probes?.paths.get(req.path);
  if (kind === undefined || probes === undefined || (req.method !== 'GET' && req.method !== 'HEAD'))
    return undefined;
  const a = answerProbe(
    kind,
    link ?? { health: undefined, features: undefined },
    probes,
    req.headers.authorization,
    production,
  );
  return { status: a.status, headers: { ...JSON_HEADERS }, body: req.method === 'HEAD' ? undefined : a.body };
}
