import { type Bulwark, memoryRecords, type Records } from '@bulwark/core';
import express, { type Request } from 'express';
import supertest from 'supertest';
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { bulwark, type ExpressIdempotencyOptions } from './index.js';

const cores: Bulwark[] = [];
afterEach(async () => {
  await Promise.all(cores.splice(0).map((c) => c.close()));
});

describe('idempotency()', () => {
  it('types its options, the caller function getting the Express request', () => {
    const bw = bulwark({ records: memoryRecords() });
    cores.push(bw.core);
    expectTypeOf(bw.idempotency).parameter(0).toEqualTypeOf<ExpressIdempotencyOptions | undefined>();
    expectTypeOf<NonNullable<ExpressIdempotencyOptions['caller']>>().parameter(0).toEqualTypeOf<Request>();
  });

  it('scopes keys with caller(req), and answers 500 through onError when the store fails', async () => {
    const onError = vi.fn();
    const bw = bulwark({ records: memoryRecords(), http: { production: true, onError } });
    cores.push(bw.core);
    const app = express();
    app.use(bw.middleware);
    app.use(express.json());
    let runs = 0;
    const tenant = (req: Request) => req.get('x-tenant');
    app.post('/t', bw.idempotency({ caller: tenant }), (_req, res) => {
      runs++;
      res.json({ runs });
    });
    const fail = () => Promise.reject(new Error('store down'));
    const down = { get: fail, insert: fail, put: fail, delete: fail } as unknown as Records<never>;
    app.post('/down', bw.idempotency({ records: down as never }), (_req, res) => res.json({}));
    app.use(bw.errorHandler);
    const send = (t: string) =>
      supertest(app).post('/t').set('idempotency-key', 'k1').set('x-tenant', t).send({});
    expect((await send('a')).body).toEqual({ runs: 1 });
    expect((await send('b')).body).toEqual({ runs: 2 });
    expect((await send('a')).headers['idempotent-replayed']).toBe('true');
    const failed = await supertest(app).post('/down').set('idempotency-key', 'k1').send({});
    expect(failed.status).toBe(500);
    expect(onError).toHaveBeenCalledWith(
      expect.objectContaining({ message: 'store down' }),
      expect.anything(),
    );
  });

  it('refuses a bad option when the middleware is made, naming it', () => {
    const bw = bulwark({ records: memoryRecords() });
    cores.push(bw.core);
    expect(() => bw.idempotency({ maxBodyBytes: -1 })).toThrow(/idempotency\.maxBodyBytes/);
  });
});
