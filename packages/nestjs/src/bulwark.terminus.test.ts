/**
 * BulwarkHealthIndicator inside a real @nestjs/terminus health check: a Nest app with
 * TerminusModule, Bulwark's dependencies and a breaker, through supertest.
 */
import 'reflect-metadata';
import { type Bulwark, createBulwark } from '@bulwark/core';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { afterEach, expect, it } from 'vitest';
import { BulwarkModule } from './bulwark.module.js';
import { BulwarkHealthIndicator } from './bulwark.terminus.js';

@Controller()
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly bulwark: BulwarkHealthIndicator,
  ) {}

  @Get('terminus')
  @HealthCheck()
  check() {
    return this.health.check([
      () => this.bulwark.dependencies(),
      () => this.bulwark.dependency('cache'),
      () => this.bulwark.breaker('payments'),
    ]);
  }
}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start(core: Bulwark) {
  const moduleRef = await Test.createTestingModule({
    imports: [BulwarkModule.forRoot(core), TerminusModule],
    controllers: [HealthController],
    providers: [BulwarkHealthIndicator],
  }).compile();
  app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return request(app.getHttpServer());
}

it('reports Bulwark dependencies and breakers as terminus indicators: up, degraded, down', async () => {
  const core = createBulwark({
    policies: { payments: { circuitBreaker: true } },
    http: { production: true },
  });
  const state = { db: true, cache: true };
  core.health.register('db', { check: () => state.db });
  core.health.register('cache', { criticality: 'optional', check: () => state.cache });
  const refresh = () => Promise.all([core.health.checkNow('db'), core.health.checkNow('cache')]);
  await refresh();
  const http = await start(core);

  const up = await http.get('/terminus');
  expect(up.status).toBe(200);
  expect(up.body).toMatchObject({
    status: 'ok',
    info: {
      bulwark: { status: 'up', db: 'up', cache: 'up' },
      cache: { status: 'up' },
      payments: { status: 'up', state: 'closed' },
    },
  });

  state.cache = false;
  await refresh();
  const degraded = await http.get('/terminus');
  expect(degraded.status).toBe(200);
  expect(degraded.body.status).toBe('degraded');
  expect(degraded.body.details.cache).toMatchObject({ status: 'degraded', code: 'DEPENDENCY_DOWN' });

  core.breaker('payments').forceOpen();
  state.db = false;
  await refresh();
  const down = await http.get('/terminus');
  // Terminus throws a 503 ServiceUnavailableException; Bulwark's exception filter answers it as a
  // problem document (its per-indicator body is terminus' own, not shown in production).
  expect(down.status).toBe(503);
  expect(down.body).toMatchObject({ status: 503, code: 'HTTP_ERROR' });
  expect(core.health.status()).toBe('down');
});
