/** `npm start`: serves the example on PORT (default 3000) until Ctrl-C. */
import { start } from './app.js';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const app = await start({ port, host });
console.log(`Bulwark NestJS example on ${app.url} (downstream failure rate ${app.downstream.failureRate})`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    console.log(`${signal}: draining (in-flight requests finish, new connections are refused)`);
    await app.close();
    console.log('closed');
  });
}
