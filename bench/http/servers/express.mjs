// Express 5, bare or with Bulwark's middleware and error handler.
import { bulwark } from '@bulwark/express';
import express from 'express';
import { BODY, BULWARK_CONFIG, PATH } from '../config.mjs';

/** Builds the app; `close` releases what Bulwark holds. */
export function create(variant) {
  const app = express();
  app.disable('x-powered-by');
  const bw = variant === 'bulwark' ? bulwark(BULWARK_CONFIG) : undefined;
  if (bw) app.use(bw.middleware);
  app.get(PATH, (_req, res) => {
    res.json(BODY);
  });
  if (bw) app.use(bw.errorHandler);
  return { listener: app, close: async () => bw?.core.close() };
}
