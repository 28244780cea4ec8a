/**
 * Loaded with `--import` into every process that runs a doc block (test/docs/run-ts.ts):
 * - `server.listen(port)` listens on a free port on 127.0.0.1 instead, and reports the real port
 *   to the harness over IPC, so `app.listen(3000)` in a doc never clashes with anything;
 * - an outgoing connection to anything but loopback is refused (a doc block never sends traffic
 *   out; the harness maps a block's hosts to local servers with `downstream=`).
 */
import net from 'node:net';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    // listen(port, [host], [backlog], [cb]): keep only the callback.
    const cb = args.find((a) => typeof a === 'function');
    args = cb ? [0, '127.0.0.1', cb] : [0, '127.0.0.1'];
  } else if (first && typeof first === 'object' && !Array.isArray(first) && 'port' in first) {
    args = [{ ...first, port: 0, host: '127.0.0.1' }, ...args.slice(1)];
  } else if (first === undefined || typeof first === 'function') {
    args = [0, '127.0.0.1', ...args.filter((a) => typeof a === 'function')];
  }
  this.once('listening', () => {
    const address = this.address();
    if (address && typeof address === 'object') process.send?.({ type: 'listening', port: address.port });
  });
  return listen.apply(this, args);
};

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|::1|\[::1\])$/i;
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  let options = args[0];
  if (Array.isArray(options)) options = options[0];
  const host =
    typeof options === 'object' && options !== null
      ? options.path === undefined
        ? (options.host ?? 'localhost')
        : 'localhost'
      : typeof args[1] === 'string'
        ? args[1]
        : 'localhost';
  if (!LOOPBACK.test(String(host))) {
    const error = new Error(
      `doc-test: outgoing connection to ${host} refused (not loopback); map it to a local server with downstream=`,
    );
    process.stderr.write(`${error.message}\n`);
    process.nextTick(() => this.destroy(error));
    return this;
  }
  return connect.apply(this, args);
};
