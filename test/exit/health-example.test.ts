/**
 * examples/health's graceful shutdown, as its README describes it, against a real `npm start`
 * process talking to the machine's real PostgreSQL and Redis: five slow requests in flight, then
 * SIGTERM. During the delay `/readyz` answers 503 (draining) and `/livez` 200; after it a new
 * connection is refused; every slow request is answered; the process exits by itself with code 0.
 */
import { describe, expect, it } from 'vitest';
import { startExample } from '../docs/examples.js';
import { get } from './http-get.js';

describe('examples/health on SIGTERM', () => {
  it('reports draining at once, answers the requests in flight, refuses new connections, exits 0', async () => {
    const token = 'test-health-token-0123';
    const app = await startExample('health', { HEALTH_TOKEN: token, DRAIN_DELAY: '1s' });
    const port = app.ports.get(3000) as number;
    try {
      expect((await get(port, '/readyz')).status).toBe(200);
      const inFlight = Array.from({ length: 5 }, () => get(port, '/slow'));
      await new Promise((r) => setTimeout(r, 300)); // real wait: the requests must reach the handler
      const exited = app.stop(); // SIGTERM
      await new Promise((r) => setTimeout(r, 200));
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({
        status: 'not-ready',
        reasons: ['the service is draining (shutting down)'],
      });
      expect((await get(port, '/livez')).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1000)); // past the delay
      const late = await get(port, '/orders/1').then(
        (r) => `answered ${r.status}`,
        (e: NodeJS.ErrnoException) => e.code,
      );
      expect(['ECONNREFUSED', 'answered 503']).toContain(late);
      for (const answer of await Promise.all(inFlight))
        expect(answer).toEqual({ status: 200, body: '{"done":true}' });
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(app.output.join('')).toContain('stopped: 5 answered during the drain, 0 cut');
    } finally {
      if (app.child?.exitCode === null) app.child.kill('SIGKILL');
    }
  }, 30_000);
});
