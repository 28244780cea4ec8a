/**
 * Idempotency keys, the same in every adapter (issue 10 §4): POST /idem of ./spec.ts runs behind
 * each adapter's idempotency middleware (`{ required: true, maxKeyLength: 64 }`).
 */

import { memoryRecords } from '@bulwark/core';
import supertest from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ConformanceApp, loadApps, POLICIES } from './spec.js';

const factories = await loadApps();
const KEY = '"5b7e9c0a-3f2d-4c1b-9e8a-7d6f5e4c3b2a"';

describe.each(factories)('idempotency keys: $name', ({ factory }) => {
  const running: ConformanceApp[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((app) => app.close()));
  });
  async function start() {
    const records = memoryRecords().records('http.idempotency');
    const app = await factory({
      policies: POLICIES,
      http: { production: true, onError: () => {}, idempotency: { records } },
    });
    running.push(app);
    return { http: supertest(app.server), probe: app.probe };
  }

  it('answers 400 problem+json naming the header when the key is missing, without running the handler', async () => {
    const { http, probe } = await start();
    const res = await http.post('/idem').send({ a: 1 });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = JSON.parse(res.text);
    expect(body).toMatchObject({ code: 'IDEMPOTENCY_KEY_MISSING', status: 400 });
    expect(body.detail).toContain('Idempotency-Key');
    expect(body.correlationId).toBe(res.headers['x-request-id']);
    expect(probe.handlerRuns).toBe(0);
  });

  it('answers 400 for a key longer than the limit', async () => {
    const { http, probe } = await start();
    const res = await http.post('/idem').set('idempotency-key', 'k'.repeat(65)).send({ a: 1 });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).code).toBe('IDEMPOTENCY_KEY_INVALID');
    expect(probe.handlerRuns).toBe(0);
  });

  it('runs the first request once and replays it: same status, body and headers, marked, without Set-Cookie', async () => {
    const { http, probe } = await start();
    const first = await http.post('/idem').set('idempotency-key', KEY).send({ item: 'book', qty: 1 });
    expect(first.status).toBe(201);
    expect(first.headers['set-cookie']).toEqual(['sid=1']);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    // The same request, its JSON keys in another order.
    const replay = await http.post('/idem').set('idempotency-key', KEY).send({ qty: 1, item: 'book' });
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual({ run: 1, body: { item: 'book', qty: 1 } });
    expect(replay.text).toBe(first.text);
    expect(replay.headers.location).toBe('/idem/1');
    expect(replay.headers['content-type']).toBe(first.headers['content-type']);
    expect(replay.headers['set-cookie']).toBeUndefined();
    expect(replay.headers['x-request-id']).not.toBe(first.headers['x-request-id']);
    expect(probe.handlerRuns).toBe(1);
  });

  it('answers 422 for the same key with a different body', async () => {
    const { http, probe } = await start();
    expect((await http.post('/idem').set('idempotency-key', KEY).send({ qty: 1 })).status).toBe(201);
    const other = await http.post('/idem').set('idempotency-key', KEY).send({ qty: 2 });
    expect(other.status).toBe(422);
    expect(JSON.parse(other.text).code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(probe.handlerRuns).toBe(1);
  });

  it('answers 409 with Retry-After while the first request with the key still runs', async () => {
    const { http, probe } = await start();
    let release!: () => void;
    probe.hold = new Promise<void>((r) => {
      release = r;
    });
    const first = http
      .post('/idem')
      .set('idempotency-key', KEY)
      .send({ qty: 1 })
      .then((r) => r);
    await vi.waitFor(() => expect(probe.handlerRuns).toBe(1));
    const busy = await http.post('/idem').set('idempotency-key', KEY).send({ qty: 1 });
    expect(busy.status).toBe(409);
    expect(JSON.parse(busy.text).code).toBe('IDEMPOTENCY_IN_PROGRESS');
    expect(busy.headers['retry-after']).toBe('1');
    release();
    expect((await first).status).toBe(201);
    expect(probe.handlerRuns).toBe(1);
  });

  it('scopes keys to the caller: two users with the same key each get their own answer', async () => {
    const { http, probe } = await start();
    const a = await http.post('/idem').set('idempotency-key', KEY).set('x-user', 'ann').send({ qty: 1 });
    const b = await http.post('/idem').set('idempotency-key', KEY).set('x-user', 'bob').send({ qty: 1 });
    expect([a.body.run, b.body.run]).toEqual([1, 2]);
    const again = await http.post('/idem').set('idempotency-key', KEY).set('x-user', 'ann').send({ qty: 1 });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.run).toBe(1);
    expect(probe.handlerRuns).toBe(2);
  });

  it('stores no 5xx: a retry after a server error runs the handler again', async () => {
    const { http, probe } = await start();
    probe.failFlaky = true;
    const failed = await http.post('/idem').set('idempotency-key', KEY).send({ qty: 1 });
    expect(failed.status).toBe(500);
    probe.failFlaky = false;
    const retry = await http.post('/idem').set('idempotency-key', KEY).send({ qty: 1 });
    expect(retry.status).toBe(201);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(probe.handlerRuns).toBe(2);
  });
});
