/**
 * Idempotency keys on the server (IETF httpapi `Idempotency-Key` draft): the one place that decides,
 * for a POST or PATCH carrying a key, whether to run the handler, replay the stored answer, or refuse
 * (400 missing/invalid key, 422 key reused for another request, 409 first request still running).
 * Adapters describe the request, write what {@link IdempotencyGuard.begin} returns, and hand the
 * response they wrote back through {@link captureResponse}.
 */
import { randomUUID } from 'node:crypto';
import { getContext } from '../context/context.js';
import { BulwarkError } from '../errors/bulwark-error.js';
import type { Records } from '../stores/records.js';
import type { EventStream } from '../telemetry/events.js';
import {
  arrayOf,
  boolean,
  type Check,
  headerName,
  Issues,
  isPlainObject,
  positiveDuration,
  positiveInt,
  shape,
  throwIfIssues,
  withMethods,
} from '../util/checks.js';
import { type Duration, parseDuration } from '../util/duration.js';
import type { CapturedResponse } from './idempotency-capture.js';
import { callerOf, fingerprint, parseIdempotencyKey, recordId } from './idempotency-key.js';
import type { Reporter } from './report.js';
import type { InboundRequest, OutboundResponse } from './types.js';

/** Options of idempotency keys: the `http.idempotency` section, and per route in the adapters' middleware. */
export interface IdempotencyOptions {
  /** Request header carrying the key. Default `idempotency-key`. */
  header?: string;
  /** Methods keys apply to (others pass untouched). Default `['POST', 'PATCH']`. */
  methods?: string[];
  /** Refuse a request without a key with 400 `IDEMPOTENCY_KEY_MISSING`. Default false (it runs as usual). */
  required?: boolean;
  /** How long a completed answer is replayed. Default `'24h'`. */
  ttl?: Duration;
  /** How long a running request holds its key when it never completes (a crashed process). Default `'1m'`. */
  claimTtl?: Duration;
  /** Longest key accepted (characters). Default 255. */
  maxKeyLength?: number;
  /** Largest response body stored for replay (bytes). Default 65536; a larger answer is not replayed (see docs). */
  maxBodyBytes?: number;
  /** Response headers replayed besides the default ones (content-type, location, etag...). Never `set-cookie`. */
  replayHeaders?: string[];
  /** Header marking a replayed answer. Default `idempotent-replayed` (value `true`), as Stripe sends it. */
  replayedHeader?: string;
  /** Where records live (from code). Default: the `http.idempotency` kind of `bulwark.records`. */
  records?: Records<IdempotencyRecord>;
}

/** What is stored per key (JSON): a claim while the first request runs, then its answer. */
export type IdempotencyRecord = {
  /** `run` while the first request runs, `done` once it answered. */
  st: 'run' | 'done';
  /** Fingerprint of the first request (method, path, body digest). */
  fp: string;
  /** The claim's own id: only the request that claimed the key completes or releases it. */
  n: string;
  /** Status of the answer. */
  status?: number;
  /** Replayed headers, as flat name/value pairs. */
  h?: string[];
  /** Body, base64. */
  b?: string;
  /** Set instead of `b` when the body was larger than `maxBodyBytes`: its size. */
  big?: number;
};

/** An idempotent request as the adapter describes it. */
export interface IdempotentRequest
  extends Pick<InboundRequest, 'method' | 'path' | 'headers' | 'remoteAddress'> {
  /** The authenticated subject, when the adapter found one (keys are then scoped to it, else to the client address). */
  caller?: string | undefined;
  /** The parsed body (`req.body`): hashed as canonical JSON (a Buffer or string as it is) into the fingerprint. */
  body?: unknown;
}

/** A complete answer the adapter writes as is (a replay, or a refusal as problem+json). */
export interface IdempotencyAnswer {
  /** Status code. */
  status: number;
  /** Headers to set. */
  headers: Record<string, string>;
  /** Body bytes. */
  body: Buffer | undefined;
}

/** What the guard decided: run as usual (no key / not applicable), answer without running, or run and store. */
export type IdempotencyDecision =
  | { readonly action: 'pass' }
  | { readonly action: 'answer'; readonly answer: IdempotencyAnswer }
  | {
      readonly action: 'run';
      /** Largest body worth capturing. */
      readonly maxBodyBytes: number;
      /** Stores the answer (a 5xx releases the key instead); never rejects (a store failure goes to `onError`). */
      complete(response: CapturedResponse): Promise<void>;
    };

/** Headers replayed by default: what describes the answer, never what is about this client or connection. */
const DEFAULT_REPLAY_HEADERS = [
  'content-type',
  'content-language',
  'content-location',
  'location',
  'etag',
  'last-modified',
  'link',
];
/** Headers that are never stored: cookies belong to one response, the rest to the connection. */
const NEVER_REPLAYED = new Set([
  'set-cookie',
  'set-cookie2',
  'content-length',
  'transfer-encoding',
  'connection',
]);

/** Options after validation (never the caller's object). */
interface Resolved {
  header: string;
  headerLabel: string;
  methods: ReadonlySet<string>;
  required: boolean;
  ttlMs: number;
  claimTtlMs: number;
  maxKeyLength: number;
  maxBodyBytes: number;
  replayHeaders: readonly string[];
  replayedHeader: string;
}

const recordsCheck: Check = withMethods(
  'a Records collection (get, put, insert, delete)',
  ['get', 'put', 'insert', 'delete'],
  'pass `bulwark.records.records(kind)` or a store of your own from code',
);

const optionsShape = shape(
  {
    header: headerName,
    methods: arrayOf((v, p, out) => {
      if (typeof v !== 'string' || !/^[A-Za-z]+$/.test(v)) out.add(p, 'an HTTP method such as POST', v);
    }, 'a list of HTTP methods'),
    required: boolean,
    ttl: positiveDuration,
    claimTtl: positiveDuration,
    maxKeyLength: positiveInt,
    maxBodyBytes: positiveInt,
    replayHeaders: arrayOf((v, p, out) => {
      headerName(v, p, out);
      if (typeof v === 'string' && NEVER_REPLAYED.has(v.toLowerCase()))
        out.add(
          p,
          'a header that may be replayed',
          v,
          `remove '${v}': it belongs to one response and is never stored`,
        );
    }, 'a list of header names'),
    replayedHeader: headerName,
    records: recordsCheck,
  },
  { expected: 'idempotency options' },
);

/** Records every problem of idempotency options at `path` (the `http.idempotency` section's check). */
export function checkIdempotencyOptions(input: unknown, path: string, issues: Issues): void {
  optionsShape(input, path, issues);
  if (isPlainObject(input) && typeof input.maxKeyLength === 'number' && input.maxKeyLength > 1024)
    issues.add(`${path}.maxKeyLength`, 'at most 1024', input.maxKeyLength, 'keys are UUIDs; 255 is plenty');
}

/** Throws one InvalidConfigError listing every problem of route-level options (decorators check theirs when applied). */
export function validateIdempotencyOptions(options: IdempotencyOptions | undefined): void {
  if (options === undefined) return;
  const issues = new Issues();
  checkIdempotencyOptions(options, 'idempotency', issues);
  throwIfIssues(issues);
}

function resolve(base: IdempotencyOptions | undefined, route: IdempotencyOptions | undefined): Resolved {
  validateIdempotencyOptions(route);
  const o = { ...base, ...route };
  const header = o.header ?? 'Idempotency-Key';
  return {
    header: header.toLowerCase(),
    headerLabel: header,
    methods: new Set((o.methods ?? ['POST', 'PATCH']).map((m) => m.toUpperCase())),
    required: o.required === true,
    ttlMs: parseDuration(o.ttl ?? '24h') as number,
    claimTtlMs: parseDuration(o.claimTtl ?? '1m') as number,
    maxKeyLength: o.maxKeyLength ?? 255,
    maxBodyBytes: o.maxBodyBytes ?? 65_536,
    replayHeaders: [
      ...new Set([...DEFAULT_REPLAY_HEADERS, ...(o.replayHeaders ?? []).map((h) => h.toLowerCase())]),
    ],
    replayedHeader: (o.replayedHeader ?? 'idempotent-replayed').toLowerCase(),
  };
}

/** What the engine lends a guard: its problem answers, its error reporting, and the default records. */
export interface IdempotencyHost {
  /** Turns a refusal into the engine's problem answer. */
  toResponse(error: unknown, req: IdempotentRequest): OutboundResponse;
  /** Reports a store failure to the operator (`http.onError`). */
  reporter: Reporter;
  /** The default records (`bulwark.records`), when the engine has them. */
  records: (() => Records<IdempotencyRecord>) | undefined;
  /** Where outcomes are reported (`idempotency` events). */
  events: EventStream;
}

const PASS: IdempotencyDecision = { action: 'pass' };
const POLICY = 'http.idempotency';

/**
 * Decides idempotent requests for one route (or app-wide); made once at start-up by
 * `engine.idempotencyGuard(options)`, so a bad option fails there.
 */
export class IdempotencyGuard {
  private readonly o: Resolved;
  private store: Records<IdempotencyRecord> | undefined;
  private readonly storeOf: () => Records<IdempotencyRecord>;

  constructor(
    base: IdempotencyOptions | undefined,
    route: IdempotencyOptions | undefined,
    private readonly host: IdempotencyHost,
  ) {
    this.o = resolve(base, route);
    const given = route?.records ?? base?.records;
    const fromHost = host.records;
    this.store = given;
    this.storeOf = () => {
      if (fromHost === undefined)
        throw new TypeError(
          'Idempotency keys need records: pass `records` (e.g. memoryRecords().records(kind)).',
        );
      return fromHost();
    };
  }

  /** The decision for one request; a promise when the store was asked. Rejects only when the store fails. */
  begin(req: IdempotentRequest): IdempotencyDecision | Promise<IdempotencyDecision> {
    const o = this.o;
    if (!o.methods.has(req.method)) return PASS;
    const parsed = parseIdempotencyKey(req.headers[o.header], o.maxKeyLength);
    if ('problem' in parsed) {
      if (parsed.problem === 'missing') {
        if (!o.required) return PASS;
        return this.refuse(
          'IDEMPOTENCY_KEY_MISSING',
          `This operation requires the ${o.headerLabel} header.`,
          req,
        );
      }
      const why =
        parsed.problem === 'too-long' ? `is longer than ${o.maxKeyLength} characters` : 'is malformed';
      return this.refuse(
        'IDEMPOTENCY_KEY_INVALID',
        `The ${o.headerLabel} header ${why}: send one string of at most ${o.maxKeyLength} printable ASCII characters.`,
        req,
      );
    }
    const id = recordId(callerOf(req.caller, req.remoteAddress), parsed.key);
    let fp: string;
    try {
      fp = fingerprint(req.method, req.path, req.body);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.lookup(id, fp, req);
  }

  private async lookup(id: string, fp: string, req: IdempotentRequest): Promise<IdempotencyDecision> {
    this.store ??= this.storeOf();
    const store = this.store;
    const found = await store.get(id);
    if (found !== undefined) return this.decide(found, fp, req);
    const claim = randomUUID();
    if (await store.insert(id, { st: 'run', fp, n: claim }, { ttlMs: this.o.claimTtlMs }))
      return this.run(store, id, fp, claim, req);
    // Another request claimed it between the read and the insert: decide on what it wrote.
    const now = await store.get(id);
    return this.decide(now ?? { st: 'run', fp, n: '' }, fp, req);
  }

  private decide(r: IdempotencyRecord, fp: string, req: IdempotentRequest): IdempotencyDecision {
    const label = this.o.headerLabel;
    if (r.fp !== fp)
      return this.refuse(
        'IDEMPOTENCY_KEY_REUSED',
        `This ${label} was already used for a different request (method, path or body).`,
        req,
      );
    if (r.st === 'run')
      return this.refuse(
        'IDEMPOTENCY_IN_PROGRESS',
        `A request with this ${label} is still being processed.`,
        req,
        1000,
      );
    if (r.b === undefined)
      return this.refuse(
        'IDEMPOTENCY_REPLAY_UNAVAILABLE',
        `The request with this ${label} completed with status ${r.status}, but its ${r.big ?? 0}-byte response was larger than the ${this.o.maxBodyBytes} bytes kept for replay.`,
        req,
      );
    const headers: Record<string, string> = {};
    const h = r.h ?? [];
    for (let i = 0; i + 1 < h.length; i += 2) headers[h[i] as string] = h[i + 1] as string;
    const body = Buffer.from(r.b, 'base64');
    headers['content-length'] = String(body.length);
    headers[this.o.replayedHeader] = 'true';
    this.emit('replayed');
    return { action: 'answer', answer: { status: r.status ?? 200, headers, body } };
  }

  private run(
    store: Records<IdempotencyRecord>,
    id: string,
    fp: string,
    claim: string,
    req: IdempotentRequest,
  ): IdempotencyDecision {
    const o = this.o;
    const complete = async (res: CapturedResponse): Promise<void> => {
      try {
        const mine = (await store.get(id))?.n === claim; // expired and claimed again: not ours any more
        if (!mine) return;
        // A 5xx is not an answer to keep: the client may retry, and the retry runs again.
        if (res.status >= 500) {
          await store.delete(id);
          this.emit('released');
          return;
        }
        const h: string[] = [];
        for (const name of o.replayHeaders) {
          const v = res.headers[name];
          if (v !== undefined) h.push(name, Array.isArray(v) ? v.join(', ') : String(v));
        }
        const done: IdempotencyRecord = { st: 'done', fp, n: claim, status: res.status, h };
        if (res.body !== undefined && res.size <= o.maxBodyBytes) done.b = res.body.toString('base64');
        else done.big = res.size;
        await store.put(id, done, { ttlMs: o.ttlMs });
        this.emit('stored');
      } catch (e) {
        const correlationId = getContext()?.correlationId ?? '';
        const { method, path } = req;
        this.host.reporter.report(e, {
          correlationId,
          status: res.status,
          method,
          path,
          routeKey: undefined,
          request: req,
        });
      }
    };
    return { action: 'run', maxBodyBytes: o.maxBodyBytes, complete };
  }

  private emit(outcome: 'replayed' | 'refused' | 'stored' | 'released', code?: string): void {
    const correlationId = getContext()?.correlationId;
    const base = correlationId === undefined ? { policy: POLICY } : { policy: POLICY, correlationId };
    this.host.events.emit({ ...base, type: 'idempotency', outcome, ...(code === undefined ? {} : { code }) });
  }

  private refuse(
    code:
      | 'IDEMPOTENCY_KEY_MISSING'
      | 'IDEMPOTENCY_KEY_INVALID'
      | 'IDEMPOTENCY_KEY_REUSED'
      | 'IDEMPOTENCY_IN_PROGRESS'
      | 'IDEMPOTENCY_REPLAY_UNAVAILABLE',
    message: string,
    req: IdempotentRequest,
    retryAfterMs?: number,
  ): IdempotencyDecision {
    const err = new BulwarkError(code, retryAfterMs === undefined ? { message } : { message, retryAfterMs });
    this.emit('refused', code);
    const out = this.host.toResponse(err, req);
    const body = out.body === undefined ? undefined : Buffer.from(JSON.stringify(out.body));
    return { action: 'answer', answer: { status: out.status, headers: out.headers, body } };
  }
}
