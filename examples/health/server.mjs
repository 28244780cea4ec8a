/** `npm start`: serves the example on PORT (default 3000) until SIGTERM or Ctrl-C, which drain it. */
import { start } from './app.mjs';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const app = await start({ port, host });
const { startup } = app;
console.log(
  `Bulwark health example on ${app.url} (start-up ${startup.ok ? 'ok' : 'failed'}` +
    `${startup.degraded.length > 0 ? `, without ${startup.degraded.join(', ')}` : ''})`,
);
app.core.events.on('lifecycle.draining', (e) =>
  console.log(`${e.reason}: draining, ${e.inFlight} in flight`),
);
app.core.events.on('lifecycle.stopped', ({ report }) =>
  console.log(`stopped: ${report.inFlightAtStart} answered during the drain, ${report.cutCount} cut`),
);
