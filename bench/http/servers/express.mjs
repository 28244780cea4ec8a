// Express 5, bare or with Bulwark's middleware and error handler.
import { bulwark } from '@bulwark/express';
import express from 'express';
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
  const app = express();
  app.disable('x-powered-by');
  const bw = variant === 'bulwark' ? bulwark(BULWARK_CONFIG) : undefined;
  if (bw) app.use(bw.middleware);
  app.get(PATH, (_req, res) => {
    res.json(BODY);
  });
  // The same handler work on the protected route: bare answers it directly.
  const route = PROTECTED_PATH.replace(/\/\d+$/, '/:id');
  if (bw)
    app.get(
      route,
      bw.protect({ policy: PROTECTED_POLICY, rateLimit: ROUTE_RATE_LIMIT }, () => BODY),
    );
  else app.get(route, (_req, res) => res.json(BODY));
  if (bw) app.use(bw.errorHandler);
  return { listener: app, close: async () => bw?.core.close() };
}
