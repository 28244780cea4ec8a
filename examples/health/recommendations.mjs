/**
 * The recommendations service this example depends on (stretch): a tiny HTTP service of its own,
 * on its own port, answering `GET /recommendations` and `GET /healthz`. `stop()` / `start()` take
 * it off the network and back, so its health check really fails.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';

export async function startRecommendations({ port = 0, host = '127.0.0.1' } = {}) {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/healthz') return res.end('{"ok":true}');
    if (req.url?.startsWith('/recommendations')) return res.end(JSON.stringify({ items: ['tea', 'cups'] }));
    res.statusCode = 404;
    res.end('{"error":"not found"}');
  });
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address();
  const url = `http://${host}:${address.port}`;
  return {
    url,
    /** Closes it (every connection too): the next health check fails. */
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
