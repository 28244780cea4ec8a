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

/** Builds the Nest app, its Bulwark core and its flaky downstream (failure rate outside outages). */
export async function createApp({
  failureRate = Number(process.env.FLAKY_FAILURE_RATE ?? 0.2),
} = {}): Promise<ExampleApp> {
  const core = createBulwark(config);
  const downstream = createDownstream({ name: 'inventory', failureRate });
  const app = await NestFactory.create(AppModule.with(core, downstream), { logger: ['error', 'warn'] });
  return { app, core, downstream };
}

/** Starts the app on `port` (0 = any free port); `close()` ends connections, the app and the core. */
export async function start({
  port = 3000,
  host = '127.0.0.1',
  failureRate,
}: {
  port?: number;
  host?: string;
  failureRate?: number;
} = {}) {
  const { app, core, downstream } = await createApp(failureRate === undefined ? {} : { failureRate });
  await app.listen(port, host);
  const server = app.getHttpServer() as Server;
  const address = server.address();
  const url = `http://${host}:${typeof address === 'object' && address ? address.port : port}`;
  return {
    url,
    app,
    core,
    downstream,
    async close() {
      server.closeAllConnections();
      await app.close(); // closes the server and, through BulwarkModule, the core
    },
  };
}
