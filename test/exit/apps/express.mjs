/** A real Express app for the drain test: `/slow` answers after SLOW_MS; SIGTERM drains it. */
import { bulwark } from '@bulwark/express';
import express from 'express';
import { config, report, slow } from './shared.mjs';

const bw = bulwark(config);
const app = express();
app.use(bw.middleware);
app.get('/slow', async (req, res) => res.json(await slow(req.query.id)));
app.use(bw.notFound);
app.use(bw.errorHandler);
const server = app.listen(0, '127.0.0.1', () => report.listening(server));
bw.core.lifecycle.attach(server);
report.events(bw.core);
