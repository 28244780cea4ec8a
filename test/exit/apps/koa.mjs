/** A real Koa app for the drain test: `/slow` answers after SLOW_MS; SIGTERM drains it. */
import { bulwark } from '@bulwark/koa';
import Koa from 'koa';
import { config, report, slow } from './shared.mjs';

const bw = bulwark(config);
const app = new Koa();
app.use(bw.middleware);
app.use(async (ctx) => {
  if (ctx.path === '/slow') ctx.body = await slow(ctx.query.id);
});
const server = app.listen(0, '127.0.0.1', () => report.listening(server));
bw.core.lifecycle.attach(server);
report.events(bw.core);
