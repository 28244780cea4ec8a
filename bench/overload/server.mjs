// A server under test for bench/overload.bench.mjs, in its own process:
// node server.mjs <express|koa|nestjs> <unprotected|protected>. Two routes: GET /hello (plain JSON)
// and GET /work (5 ms of CPU plus 20 ms of waiting, the route that gets flooded), bulkheaded in
// both variants (20 slots, a queue of 500). `protected` adds http.overload and marks /work
// sheddable. Reports { port } over IPC; exits on SIGTERM or when the parent goes away.
import 'reflect-metadata';
import { createServer } from 'node:http';

const [framework, variant] = process.argv.slice(2);
const BODY = { hello: 'world' };

const http = {
  production: true,
  // The flooded route's compartment (a key class); everything else one big compartment.
  bulkhead: {
    key: (req) => (req.path === '/work' ? 'work' : 'rest'),
    maxConcurrent: 100_000,
    queueTimeout: '10s',
    limits: { work: { maxConcurrent: 20, maxQueue: 500 } },
  },
  ...(variant === 'protected'
    ? {
        criticality: (req) => (req.path === '/work' ? 'sheddable' : 'default'),
        overload: { maxConcurrent: 64, maxEventLoopDelay: '200ms', sampleInterval: '50ms' },
      }
    : {}),
};
const config = { http };

/** The flooded route's work: CPU (rendering, JSON) then a wait (a database). */
async function work() {
  const until = performance.now() + 5;
  while (performance.now() < until) {}
  await new Promise((r) => setTimeout(r, 20));
  return BODY;
}

async function build() {
  if (framework === 'express') {
    const { bulwark } = await import('@bulwark/express');
    const { default: express } = await import('express');
    const bw = bulwark(config);
    const app = express();
    app.use(bw.middleware);
    app.get('/hello', (_req, res) => res.json(BODY));
    app.get('/work', async (_req, res) => res.json(await work()));
    app.use(bw.errorHandler);
    return { listener: app, close: () => bw.core.close() };
  }
  if (framework === 'koa') {
    const { bulwark } = await import('@bulwark/koa');
    const { default: Koa } = await import('koa');
    const bw = bulwark(config);
    const app = new Koa();
    app.use(bw.middleware);
    app.use(async (ctx) => {
      if (ctx.path === '/hello') ctx.body = BODY;
      else if (ctx.path === '/work') ctx.body = await work();
    });
    return { listener: app.callback(), close: () => bw.core.close() };
  }
  const { BulwarkModule } = await import('@bulwark/nestjs');
  const { Controller, Get, Module } = await import('@nestjs/common');
  const { NestFactory } = await import('@nestjs/core');
  class C {
    hello() {
      return BODY;
    }
    work() {
      return work();
    }
  }
  Controller()(C);
  for (const m of ['hello', 'work'])
    Reflect.decorate([Get(m)], C.prototype, m, Object.getOwnPropertyDescriptor(C.prototype, m));
  class AppModule {}
  Module({ imports: [BulwarkModule.forRoot(config)], controllers: [C] })(AppModule);
  const nest = await NestFactory.create(AppModule, { logger: false });
  return { nest, close: () => nest.close() };
}

const app = await build();
let server;
if (app.nest) {
  await app.nest.listen(0, '127.0.0.1');
  server = app.nest.getHttpServer();
} else {
  server = createServer(app.listener);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
}
const stop = async () => {
  server.closeAllConnections?.();
  await app.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
process.send?.({ port: server.address().port });
