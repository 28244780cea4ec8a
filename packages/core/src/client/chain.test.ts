/**
 * Three services over loopback, each a bare node:http server driven by core's engine the way an
 * adapter does: edge → orders → payments. Proves the whole chain: correlation ID and trace id kept,
 * parent id fresh per hop, the deadline shrinking, and a failure at the far end named at the edge.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTraceparent } from '../context/trace.js';
import { BulkheadFullError } from '../errors/bulwark-error.js';
import { writeAdmissionHeaders } from '../http/adapter-request.js';
import type { IncomingHeaders } from '../http/types.js';
import { type Bulwark, createBulwark } from '../registry/bulwark.js';
import { createResilientFetch } from './fetch.js';

interface Service {
  url: string;
  seen: IncomingHeaders[];
  bulwark: Bulwark;
  server: http.Server;
}

async function service(handler: (b: Bulwark) => Promise<unknown>): Promise<Service> {
  const bulwark = createBulwark({
    policies: { orders: { retry: false }, payments: { retry: false } },
    http: { production: true },
  });
  const seen: IncomingHeaders[] = [];
  const server = http.createServer(async (req, res) => {
    seen.push(req.headers);
    const engine = bulwark.http;
    const inbound = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers };
    const admission = await engine.admit(inbound);
    writeAdmissionHeaders(res, admission);
    const write = (status: number, headers: Record<string, string>, body: unknown) => {
      res.writeHead(status, headers);
      res.end(body === undefined ? undefined : JSON.stringify(body));
      admission.release();
    };
    if (admission.rejection) {
      const r = admission.rejection;
      return write(r.status, r.headers, r.body);
    }
    try {
      const body = await engine.run(admission, () => handler(bulwark));
      write(200, { 'content-type': 'application/json' }, body);
    } catch (e) {
      const r = engine.toResponse(e, inbound, admission.context);
      write(r.status, r.headers, r.body);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, bulwark, server };
}

let payments: Service;
let orders: Service;
let edge: Service;
let paymentsFail = false;

beforeAll(async () => {
  payments = await service(async () => {
    if (paymentsFail)
      throw new BulkheadFullError({ retryAfterMs: 2000, suggestion: 'Payments is saturated; retry in 2 s.' });
    return { paid: true };
  });
  orders = await service(async (b) => {
    // Orders keeps a 1 s margin for itself, so a budget under that is spent on arrival.
    const res = await createResilientFetch(b, { margin: '1s', trustDownstreamProblems: true })(
      'payments',
      `${payments.url}/charge`,
    );
    return { order: 1, payment: await res.json() };
  });
  edge = await service(async (b) =>
    (await b.fetch('orders', `${orders.url}/orders/1`, { trustDownstreamProblems: true })).json(),
  );
});
afterAll(async () => {
  for (const s of [edge, orders, payments]) {
    s.server.closeAllConnections();
    s.server.close();
    await s.bulwark.close();
  }
});

describe('edge → orders → payments', () => {
  it('carries one correlation ID and trace, a fresh parent per hop, and a shrinking deadline', async () => {
    paymentsFail = false;
    const incoming = `00-${'4'.repeat(32)}-${'5'.repeat(16)}-01`;
    const res = await fetch(`${edge.url}/checkout`, {
      headers: {
        'x-request-id': 'chain-1',
        traceparent: incoming,
        tracestate: 'v=1',
        'x-deadline-ms': '5000',
      },
    });
    expect(await res.json()).toEqual({ order: 1, payment: { paid: true } });
    const [o, p] = [orders.seen.at(-1), payments.seen.at(-1)];
    expect([o?.['x-request-id'], p?.['x-request-id']]).toEqual(['chain-1', 'chain-1']);
    const [to, tp] = [parseTraceparent(o?.traceparent), parseTraceparent(p?.traceparent)];
    expect(to?.traceId).toBe('4'.repeat(32));
    expect(tp?.traceId).toBe('4'.repeat(32));
    expect(new Set([to?.parentId, tp?.parentId, '5'.repeat(16)]).size).toBe(3);
    expect(p?.tracestate).toBe('v=1');
    const [dOrders, dPayments] = [Number(o?.['x-deadline-ms']), Number(p?.['x-deadline-ms'])];
    expect(dOrders).toBeLessThanOrEqual(5000 - 20);
    expect(dPayments).toBeLessThanOrEqual(dOrders - 1000);
    expect(dPayments).toBeGreaterThan(3000);
  });

  it('names the failing service and its code at the edge', async () => {
    paymentsFail = true;
    const res = await fetch(`${edge.url}/checkout`, { headers: { 'x-request-id': 'chain-2' } });
    const body = (await res.json()) as Record<string, unknown>;
    expect(res.status).toBe(502);
    expect(res.headers.get('retry-after')).toBe('2');
    expect(body).toMatchObject({
      code: 'DOWNSTREAM_ERROR',
      service: 'payments',
      downstreamCode: 'BULKHEAD_FULL',
      hops: ['orders', 'payments'],
      suggestion: 'Payments is saturated; retry in 2 s.',
      correlationId: 'chain-2',
    });
    expect(body.detail).toMatch(/'payments' failed with BULKHEAD_FULL \(reported by orders/);
  });

  it('fails fast at the hop whose budget is spent, without calling the next service', async () => {
    paymentsFail = false;
    const before = payments.seen.length;
    // Orders gets under 500 ms after the edge's 20 ms margin: less than its own 1 s margin.
    const res = await fetch(`${edge.url}/checkout`, { headers: { 'x-deadline-ms': '500' } });
    const body = (await res.json()) as Record<string, unknown>;
    expect(res.status).toBe(504);
    expect(body).toMatchObject({ service: 'orders', downstreamCode: 'DEADLINE_EXCEEDED' });
    expect(payments.seen.length).toBe(before);
  });
});
