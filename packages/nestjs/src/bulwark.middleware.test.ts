/**
 * The middleware's client address honours each platform's trust proxy setting (Express
 * `'trust proxy'`, Fastify `trustProxy`), so per-client rate limits key on the real client behind a
 * trusted proxy and on the socket otherwise. Real Nest apps on both platforms, supertest.
 */
import 'reflect-metadata';
import type { InboundRequest } from '@bulwark/core/adapter';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { BulwarkModule } from './bulwark.module.js';

@Controller()
class PingController {
  @Get('ping')
  ping() {
    return { ok: true };
  }
}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** One request per client address a minute, keyed by the address the middleware saw. */
const rateLimit = { limit: 1, interval: 60_000, key: (req: InboundRequest) => req.remoteAddress ?? 'none' };

async function start(platform: 'express' | 'fastify', trustProxy: boolean) {
  const moduleRef = await Test.createTestingModule({
    imports: [BulwarkModule.forRoot({ http: { rateLimit } })],
    controllers: [PingController],
  }).compile();
  if (platform === 'fastify') {
    const adapter = new FastifyAdapter({ trustProxy });
    app = moduleRef.createNestApplication(adapter, { logger: false });
    await app.init();
    await adapter.getInstance().ready();
  } else {
    const express = moduleRef.createNestApplication<NestExpressApplication>({ logger: false });
    express.set('trust proxy', trustProxy);
    app = express;
    await app.init();
  }
  const http = request(app.getHttpServer());
  return (forwardedFor: string) => http.get('/ping').set('x-forwarded-for', forwardedFor);
}

describe.each(['express', 'fastify'] as const)('client address on platform-%s', (platform) => {
  it('behind a trusted proxy: the forwarded client, one bucket each', async () => {
    const from = await start(platform, true);
    expect((await from('203.0.113.1')).status).toBe(200);
    expect((await from('203.0.113.2')).status).toBe(200);
    expect((await from('203.0.113.1')).status).toBe(429);
  });

  it('without trust proxy: the socket address, whatever X-Forwarded-For says', async () => {
    const from = await start(platform, false);
    expect((await from('203.0.113.1')).status).toBe(200);
    expect((await from('203.0.113.2')).status).toBe(429);
  });
});
