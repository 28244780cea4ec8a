import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { memoryRecords, type Records } from '../stores/records.js';
import { durableRecords } from '../stores/sqlite-records.js';
import { EventStream } from '../telemetry/events.js';
import { createHttpEngine } from './engine.js';
import type {
  IdempotencyDecision,
  IdempotencyOptions,
  IdempotencyRecord,
  IdempotentRequest,
} from './idempotency.js';
import { type CapturedResponse, captureResponse } from './idempotency-capture.js';
import { canonicalJson, fingerprint, parseIdempotencyKey } from './idempotency-key.js';

const KEY = '"8e03978e-40d5-43e8-bc93-6894a57f9324"';

function guard(options: IdempotencyOptions = {}, records = memoryRecords().records<IdempotencyRecord>('t')) {
  const onError = vi.fn();
  const events = new EventStream();
  const engine = createHttpEngine({ production: true, onError, events, idempotencyRecords: () => records });
  return { g: engine.idempotencyGuard(options), records, onError, events };
}

function req(over: Partial<IdempotentRequest> & { key?: string } = {}): IdempotentRequest {
  const { key = KEY, ...rest } = over;
  return {
    method: 'POST',
    path: '/orders',
    headers: key === '' ? {} : { 'idempotency-key': key },
    remoteAddress: '10.0.0.1',
    body: { item: 'book', qty: 1 },
    ...rest,
  };
}

const answered = (d: IdempotencyDecision) => {
  if (d.action !== 'answer') throw new Error(`expected an answer, got ${d.action}`);
  const a = d.answer;
  return { ...a, json: a.body === undefined ? undefined : JSON.parse(a.body.toString()) };
};
const ran = (d: IdempotencyDecision) => {
  if (d.action !== 'run') throw new Error(`expected run, got ${d.action}`);
  return d;
};
const response = (status: number, body: unknown, headers: Record<string, string> = {}): CapturedResponse => {
  const b = Buffer.from(JSON.stringify(body));
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: b, size: b.length };
};

afterEach(() => {
  vi.useRealTimers();
});

describe('parseIdempotencyKey', () => {
  it('reads the draft sf-string and the bare token clients commonly send', () => {
    expect(parseIdempotencyKey(KEY, 255)).toEqual({ key: '8e03978e-40d5-43e8-bc93-6894a57f9324' });
    expect(parseIdempotencyKey('abc-123', 255)).toEqual({ key: 'abc-123' });
    expect(parseIdempotencyKey('"a \\"quoted\\" \\\\ key"', 255)).toEqual({ key: 'a "quoted" \\ key' });
  });

  it('refuses what is not one bounded printable string', () => {
    expect(parseIdempotencyKey(undefined, 255)).toEqual({ problem: 'missing' });
    expect(parseIdempotencyKey('  ', 255)).toEqual({ problem: 'missing' });
    expect(parseIdempotencyKey('""', 255)).toEqual({ problem: 'missing' });
    expect(parseIdempotencyKey('x'.repeat(256), 255)).toEqual({ problem: 'too-long' });
    expect(parseIdempotencyKey(`"${'x'.repeat(256)}"`, 255)).toEqual({ problem: 'too-long' });
    expect(parseIdempotencyKey('x'.repeat(100_000), 255)).toEqual({ problem: 'too-long' });
    // Two fields joined by Node, an unterminated string, a bad escape, a control byte, a space in a token.
    for (const bad of ['"a", "b"', '"abc', '"a\\nb"', '"a\u0001"', 'a b', 'a,b', 'é'])
      expect(parseIdempotencyKey(bad, 255), bad).toEqual({ problem: 'malformed' });
    expect(parseIdempotencyKey(['a', 'b'], 255)).toEqual({ problem: 'malformed' });
  });
});

describe('fingerprint', () => {
  it('is the same for the same JSON in another key order, and differs by body, method and path', () => {
    expect(canonicalJson({ b: [1, { d: 2, c: null }], a: 'x' })).toBe('{"a":"x","b":[1,{"c":null,"d":2}]}');
    const f = fingerprint('POST', '/o', { a: 1, b: 2 });
    expect(fingerprint('POST', '/o', { b: 2, a: 1 })).toBe(f);
    expect(fingerprint('POST', '/o', { a: 1, b: 3 })).not.toBe(f);
    expect(fingerprint('PATCH', '/o', { a: 1, b: 2 })).not.toBe(f);
    expect(fingerprint('POST', '/p', { a: 1, b: 2 })).not.toBe(f);
    expect(fingerprint('POST', '/o', Buffer.from('raw'))).not.toBe(fingerprint('POST', '/o', 'raw'));
  });
});

describe('IdempotencyGuard', () => {
  it('passes methods it does not cover, and requests without a key unless one is required', async () => {
    const { g } = guard();
    expect(await g.begin(req({ method: 'GET' }))).toEqual({ action: 'pass' });
    expect(await g.begin(req({ key: '' }))).toEqual({ action: 'pass' });
    const strict = guard({ required: true, header: 'X-Idempotency-Key' }).g;
    const missing = answered(await strict.begin(req({ key: '' })));
    expect(missing.status).toBe(400);
    expect(missing.headers['Content-Type']).toBe('application/problem+json');
    expect(missing.json).toMatchObject({ code: 'IDEMPOTENCY_KEY_MISSING', status: 400 });
    expect(missing.json.detail).toContain('X-Idempotency-Key');
  });

  it('refuses a key that is too long with 400 and never echoes it', async () => {
    const { g } = guard({ maxKeyLength: 8 });
    const a = answered(await g.begin(req({ key: 'secretkey123' })));
    expect(a.status).toBe(400);
    expect(a.json.code).toBe('IDEMPOTENCY_KEY_INVALID');
    expect(a.body?.toString()).not.toContain('secretkey123');
  });

  it('runs the first request, then replays its answer (status, allowed headers, body) marked as a replay', async () => {
    const { g } = guard();
    const first = ran(await g.begin(req()));
    await first.complete(
      response(201, { id: 7 }, { location: '/orders/7', 'set-cookie': 'sid=1', 'x-internal': 'no' }),
    );
    const replay = answered(await g.begin(req({ body: { qty: 1, item: 'book' } })));
    expect(replay.status).toBe(201);
    expect(replay.json).toEqual({ id: 7 });
    expect(replay.headers).toEqual({
      'content-type': 'application/json',
      location: '/orders/7',
      'content-length': String(replay.body?.length),
      'idempotent-replayed': 'true',
    });
  });

  it('answers 422 for the same key with another body, and 409 while the first still runs', async () => {
    const { g } = guard();
    const first = ran(await g.begin(req()));
    const busy = answered(await g.begin(req()));
    expect(busy.status).toBe(409);
    expect(busy.json.code).toBe('IDEMPOTENCY_IN_PROGRESS');
    expect(busy.headers['Retry-After']).toBe('1');
    const other = answered(await g.begin(req({ body: { item: 'pen', qty: 1 } })));
    expect(other.status).toBe(422);
    expect(other.json.code).toBe('IDEMPOTENCY_KEY_REUSED');
    await first.complete(response(200, { ok: true }));
    expect(answered(await g.begin(req({ path: '/other' }))).status).toBe(422);
  });

  it('lets only one of two concurrent first requests run', async () => {
    const { g } = guard();
    const [a, b] = await Promise.all([g.begin(req()), g.begin(req())]);
    expect([a.action, b.action].sort()).toEqual(['answer', 'run']);
  });

  it('scopes keys to the caller: subject when given, else the client address', async () => {
    const { g } = guard();
    ran(await g.begin(req({ caller: 'user-1' })));
    ran(await g.begin(req({ caller: 'user-2' })));
    ran(await g.begin(req({ remoteAddress: '10.0.0.2' })));
    expect(answered(await g.begin(req({ caller: 'user-1', remoteAddress: '10.9.9.9' }))).status).toBe(409);
  });

  it('keeps no 5xx: the key is released and a retry runs again', async () => {
    const { g, records } = guard();
    await ran(await g.begin(req())).complete(response(503, { code: 'X' }));
    expect(await records.count()).toBe(0);
    ran(await g.begin(req()));
  });

  it('does not replay an answer larger than maxBodyBytes, and does not run it again', async () => {
    const { g } = guard({ maxBodyBytes: 16 });
    const r = ran(await g.begin(req()));
    await r.complete({ status: 201, headers: {}, body: undefined, size: 5000 });
    const a = answered(await g.begin(req()));
    expect(a.status).toBe(409);
    expect(a.json.code).toBe('IDEMPOTENCY_REPLAY_UNAVAILABLE');
    expect(a.json.detail).toContain('status 201');
  });

  it('frees a claim after claimTtl (a crashed request), and a late completion does not overwrite the new one', async () => {
    vi.useFakeTimers();
    const { g } = guard({ claimTtl: '1m' });
    const stale = ran(await g.begin(req()));
    vi.advanceTimersByTime(60_001);
    const fresh = ran(await g.begin(req()));
    await stale.complete(response(200, { from: 'stale' }));
    expect(answered(await g.begin(req())).status).toBe(409);
    await fresh.complete(response(200, { from: 'fresh' }));
    expect(answered(await g.begin(req())).json).toEqual({ from: 'fresh' });
    vi.advanceTimersByTime(24 * 3_600_000 + 1);
    ran(await g.begin(req()));
  });

  it('replays from the embedded durable store after a restart (the store reopened from its file)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-idem-'));
    try {
      const path = join(dir, 'records.db');
      const before = durableRecords({ path });
      const first = guard({}, before.records<IdempotencyRecord>('http.idempotency')).g;
      await ran(await first.begin(req())).complete(response(201, { id: 9 }, { location: '/orders/9' }));
      await before.close();
      const after = durableRecords({ path });
      try {
        const again = guard({}, after.records<IdempotencyRecord>('http.idempotency')).g;
        const replay = answered(await again.begin(req()));
        expect(replay.status).toBe(201);
        expect(replay.json).toEqual({ id: 9 });
        expect(replay.headers.location).toBe('/orders/9');
        expect(answered(await again.begin(req({ body: { other: true } }))).status).toBe(422);
      } finally {
        await after.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports each outcome as an idempotency event, without the key', async () => {
    const { g, events } = guard();
    const seen: string[] = [];
    events.on('idempotency', (e) => {
      expect(JSON.stringify(e)).not.toContain('8e03978e');
      seen.push(e.code === undefined ? e.outcome : `${e.outcome}:${e.code}`);
    });
    await ran(await g.begin(req())).complete(response(201, {}));
    await g.begin(req());
    await g.begin(req({ body: {} }));
    await ran(await g.begin(req({ key: 'other' }))).complete(response(500, {}));
    expect(seen).toEqual(['stored', 'replayed', 'refused:IDEMPOTENCY_KEY_REUSED', 'released']);
  });

  it('reports a store failure on completion to onError, and rejects begin when the store fails', async () => {
    let claim: IdempotencyRecord | undefined;
    const broken = {
      get: async () => claim,
      insert: async (_id: string, value: IdempotencyRecord) => {
        claim = value;
        return true;
      },
      put: async () => {
        throw new Error('disk full');
      },
      delete: async () => true,
    } as unknown as Records<IdempotencyRecord>;
    const { g, onError } = guard({ records: broken });
    await ran(await g.begin(req())).complete(response(200, {}));
    expect(onError).toHaveBeenCalledWith(
      expect.objectContaining({ message: 'disk full' }),
      expect.anything(),
    );
    const failing = { ...broken, get: () => Promise.reject(new Error('down')) };
    await expect(guard({ records: failing as typeof broken }).g.begin(req())).rejects.toThrow('down');
  });

  it('refuses bad options at start-up, naming the key and the fix', () => {
    expect(() => guard({ replayHeaders: ['Set-Cookie'] })).toThrow(
      /idempotency\.replayHeaders\[0\].*never stored/s,
    );
    expect(() => guard({ ttl: -1 as never, methods: ['P OST'] })).toThrow(
      /idempotency\.ttl[\s\S]*idempotency\.methods\[0\]/,
    );
    expect(() => createHttpEngine({ idempotency: { maxKeyLength: 0 } })).toThrow(
      /http\.idempotency\.maxKeyLength/,
    );
  });
});

describe('captureResponse', () => {
  it('captures status, headers (also those given to writeHead) and chunks, and ends only once stored', async () => {
    const seen: CapturedResponse[] = [];
    let release!: () => void;
    const stored = new Promise<void>((r) => {
      release = r;
    });
    const server = createServer((_req, res: ServerResponse) => {
      res.setHeader('etag', '"v1"');
      captureResponse(res, 1024, (c) => {
        seen.push(c);
        return stored;
      });
      res.writeHead(201, { 'Content-Type': 'text/plain' });
      res.write('hello ');
      res.end(Buffer.from('world'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      let got = false;
      const done = new Promise<string>((resolve, reject) => {
        request({ port, host: '127.0.0.1', method: 'POST' }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c;
          });
          res.on('end', () => {
            got = true;
            resolve(text);
          });
        })
          .on('error', reject)
          .end();
      });
      await vi.waitFor(() => expect(seen).toHaveLength(1));
      expect(got).toBe(false);
      release();
      expect(await done).toBe('hello world');
      expect(seen[0]).toMatchObject({
        status: 201,
        size: 11,
        headers: { etag: '"v1"', 'content-type': 'text/plain' },
      });
      expect(seen[0]?.body?.toString()).toBe('hello world');
    } finally {
      server.close();
    }
  });
});
