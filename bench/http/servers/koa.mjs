// Koa 3, bare or with Bulwark's middleware (which also answers errors as problem documents).
import { bulwark } from '@bulwark/koa';
import Koa from 'koa';
import { BODY, BULWARK_CONFIG, PATH } from '../config.mjs';

/** Builds the app; `close` releases what Bulwark holds. */
export function create(variant) {
  const app = new Koa();
  const bw = variant === 'bulwark' ? bulwark(BULWARK_CONFIG) : undefined;
  if (bw) app.use(bw.middleware);
  app.use((ctx) => {
    if (ctx.method === 'GET' && ctx.path === PATH) ctx.body = BODY;
  });
  return { listener: app.callback(), close: async () => bw?.core.close() };
}
