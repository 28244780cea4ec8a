// A server under test, in its own process: node server.mjs <express|koa|nestjs> <bare|bulwark>.
// Listens on 127.0.0.1 (a free port), reports { port } over IPC, and exits on SIGTERM, on a
// 'stop' message, or when the parent goes away (IPC disconnect), so no server outlives the bench.
import { createServer } from 'node:http';

const [framework, variant] = process.argv.slice(2);
if (!['express', 'koa', 'nestjs'].includes(framework) || !['bare', 'bulwark'].includes(variant)) {
  console.error('usage: node server.mjs <express|koa|nestjs> <bare|bulwark>');
  process.exit(2);
}

const { create } = await import(`./servers/${framework}.mjs`);
const app = await create(variant);
let server;
if (app.nest) {
  await app.nest.listen(0, '127.0.0.1');
  server = app.nest.getHttpServer();
} else {
  server = createServer(app.listener);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
}

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  // Keep-alive sockets from the load generator would hold close() open.
  server.closeAllConnections?.();
  if (app.nest) await app.close();
  else {
    await new Promise((resolve) => server.close(resolve));
    await app.close();
  }
  // process.exit, not a natural end: --cpu-prof writes its profile here too.
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
process.on('message', (m) => {
  if (m === 'stop') stop();
  // CPU time this process used so far (µs, user + system): the bench divides a run's share by
  // its requests, a figure the neighbours on a shared machine disturb far less than req/s.
  else if (m === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.send?.({ cpu: user + system });
  }
});

process.send?.({ port: server.address().port, pid: process.pid });
