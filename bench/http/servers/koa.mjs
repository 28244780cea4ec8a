// Koa 3, bare or with Bulwark's middleware (which also answers errors as problem documents).
import { bulwark } from '@bulwark/koa';
import Koa from 'koa';
import {
  BODY,
  BULWARK_CONFIG,
  PATH,
  PROTECTED_PATH,
  PROTECTED_POLICY,
  ROUTE_RATE_LIMIT,
} from '../config.mjs';

/** Builds the app; `close` releases what Bulwark holds. */
export function create(variant) {
  const app = new Koa();
  const bw = variant === 'bulwark' ? bulwark(BULWARK_CONFIG) : undefined;
  if (bw) app.use(bw.middleware);
  const guarded = bw?.protect({ policy: PROTECTED_POLICY, rateLimit: ROUTE_RATE_LIMIT }, () => BODY);
  app.use((ctx, next) => {
    if (ctx.method !== 'GET') return;
    if (ctx.path === PATH) ctx.body = BODY;
    else if (ctx.path === PROTECTED_PATH) {
      if (guarded) return guarded(ctx, next);
      ctx.body = BODY;
    }
  });
  return { listener: app.callback(), close: async () => bw?.core.close() };
}
