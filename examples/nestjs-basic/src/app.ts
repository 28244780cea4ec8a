/**
 * Bulwark on NestJS 12. `createApp()` builds the Nest application without listening (for tests
 * and scripts); `start({ port })` listens and returns a `close()`.
 */
import 'reflect-metadata';
import type { Server } from 'node:http';
import { type Bulwark, createBulwark } from '@bulwark/core';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule, config } from './app.module.js';
import { createDownstream, type Downstream } from './downstream.js';

export { config } from './app.module.js';

/** What {@link createApp} returns. */
export interface ExampleApp {
  app: INestApplication;
  core: Bulwark;
  downstream: Downstream;
}

/**
 * Builds the Nest app, its Bulwark core and its flaky downstream (failure rate outside outages;
 * the chaos switch's token, `CHAOS_TOKEN`, without which the switch is off).
 */
export async function createApp({
  failureRate = Number(process.env.FLAKY_FAILURE_RATE ?? 0.2),
  chaosToken = process.env.CHAOS_TOKEN,
}: {
  failureRate?: number;
  chaosToken?: string | undefined;
} = {}): Promise<ExampleApp> {
  const core = createBulwark(config);
  const downstream = createDownstream({ name: 'inventory', failureRate });
  const app = await NestFactory.create(AppModule.with(core, downstream, chaosToken), {
    logger: ['error', 'warn'],
  });
  return { app, core, downstream };
}

/**
 * Starts the app on `port` (0 = any free port); `close()` drains: it stops accepting connections,
 * lets in-flight requests finish (at most `graceMs`), then closes the Nest app and the core.
 */
export async function start({
  port = 3000,
  host = '127.0.0.1',
  failureRate,
  chaosToken,
}: {
  port?: number;
  host?: string;
  failureRate?: number;
  chaosToken?: string;
} = {}) {
  const { app, core, downstream } = await createApp({
    ...(failureRate === undefined ? {} : { failureRate }),
    ...(chaosToken === undefined ? {} : { chaosToken }),
  });
  await app.listen(port, host);
  const server = app.getHttpServer() as Server;
  const address = server.address();
  const url = `http://${host}:${typeof address === 'object' && address ? address.port : port}`;
  return {
    url,
    app,
    core,
    downstream,
    async close({ graceMs = 10_000 } = {}) {
      // Drain first: stop accepting; idle keep-alive sockets close now, busy ones once answered.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // A request still running after the grace period is cut, so shutdown always ends.
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
      await app.close(); // then Nest's shutdown, which closes the core through BulwarkModule
    },
  };
}
