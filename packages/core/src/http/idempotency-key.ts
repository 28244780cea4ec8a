/**
 * The untrusted inputs of an idempotent request, made safe before anything is looked up: the
 * `Idempotency-Key` header (an RFC 8941 sf-string, bounded), the caller it is scoped to, and the
 * request's fingerprint (method, route, a digest of the parsed body).
 */
import { createHash } from 'node:crypto';
import { clientKey } from './client-key.js';

/** Why a key header was refused. */
export type KeyProblem = 'missing' | 'too-long' | 'malformed';

/**
 * The key of an `Idempotency-Key` value, or why it is refused. The draft makes the field an sf-string
 * (`"8e03978e-40d5-43e8-bc93-6894a57f9324"`: printable ASCII in quotes, `\"` and `\\` escaped); the
 * unquoted form many clients send (Stripe's) is accepted as a token of visible ASCII. A repeated
 * header (Node joins it with `, `) is malformed: the draft allows one.
 * @example
 * parseIdempotencyKey('"abc"', 255); // { key: 'abc' }
 */
export function parseIdempotencyKey(
  value: string | string[] | undefined,
  maxLength: number,
): { key: string } | { problem: KeyProblem } {
  if (Array.isArray(value)) return value.length === 0 ? { problem: 'missing' } : { problem: 'malformed' };
  if (value === undefined) return { problem: 'missing' };
  const v = value.trim();
  if (v === '') return { problem: 'missing' };
  // Escapes double at most the length: anything longer cannot hold an acceptable key.
  if (v.length > maxLength * 2 + 2) return { problem: 'too-long' };
  let key: string;
  if (v.charCodeAt(0) === 0x22) {
    let out = '';
    let i = 1;
    for (; i < v.length; i++) {
      const c = v.charCodeAt(i);
      if (c === 0x22) break;
      if (c === 0x5c) {
        const n = v.charCodeAt(++i);
        if (n !== 0x22 && n !== 0x5c) return { problem: 'malformed' };
        out += v[i];
      } else if (c < 0x20 || c > 0x7e) return { problem: 'malformed' };
      else out += v[i];
    }
    if (i !== v.length - 1) return { problem: 'malformed' }; // unterminated, or more after the string
    key = out;
  } else {
    if (!/^[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]+$/.test(v)) return { problem: 'malformed' };
    key = v;
  }
  if (key.length === 0) return { problem: 'missing' };
  if (key.length > maxLength) return { problem: 'too-long' };
  return { key };
}

/** The record id of a key for a caller: a hash, so neither the key nor the caller is stored as sent. */
export function recordId(caller: string, key: string): string {
  return createHash('sha256').update(caller).update('\n').update(key).digest('base64url');
}

/** Longest caller identity taken as given (longer ones are hashed into the id anyway, but bounded first). */
const MAX_CALLER = 512;

/** Who the key belongs to: the authenticated subject when the adapter found one, else the client address. */
export function callerOf(subject: string | undefined, remoteAddress: string | undefined): string {
  if (subject !== undefined && subject !== '') return `sub:${subject.slice(0, MAX_CALLER)}`;
  return clientKey(remoteAddress);
}

/**
 * A request's fingerprint: method, route and a digest of the parsed body. The parsed body is hashed
 * as canonical JSON (keys sorted), so a retry whose JSON differs only in key order or whitespace is
 * the same request, whichever body parser produced it; a Buffer (a raw parser) is hashed as bytes.
 */
export function fingerprint(method: string, route: string, body: unknown): string {
  const h = createHash('sha256').update(method).update('\n').update(route).update('\n');
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) h.update('b').update(body);
  else if (typeof body === 'string') h.update('s').update(body);
  else if (body !== undefined) h.update('j').update(canonicalJson(body));
  return h.digest('base64url');
}

/** JSON with object keys sorted at every level (what `JSON.stringify` would write, order aside). */
export function canonicalJson(value: unknown): string {
  const seen = new Set<object>();
  const walk = (v: unknown): string => {
    if (v === null || typeof v !== 'object') {
      const s = JSON.stringify(v);
      return s === undefined ? 'null' : s;
    }
    if (seen.has(v)) throw new TypeError('The request body is circular; it cannot be fingerprinted.');
    seen.add(v);
    const toJson = (v as { toJSON?: () => unknown }).toJSON;
    let out: string;
    if (typeof toJson === 'function') out = walk(toJson.call(v));
    else if (Array.isArray(v)) out = `[${v.map(walk).join(',')}]`;
    else {
      const o = v as Record<string, unknown>;
      const parts: string[] = [];
      for (const k of Object.keys(o).sort()) {
        const x = o[k];
        if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
        parts.push(`${JSON.stringify(k)}:${walk(x)}`);
      }
      out = `{${parts.join(',')}}`;
    }
    seen.delete(v);
    return out;
  };
  return walk(value);
}

/**
 * The authenticated subject of the common convention (Passport's `req.user`, koa-jwt's and
 * koa-passport's `ctx.state.user`): a string user, or the user's `id` or `sub` (a JWT's subject).
 */
export function subjectOf(user: unknown): string | undefined {
  if (typeof user === 'string') return user === '' ? undefined : user;
  if (typeof user !== 'object' || user === null) return undefined;
  const u = user as { id?: unknown; sub?: unknown };
  const id = u.id ?? u.sub;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : undefined;
}
