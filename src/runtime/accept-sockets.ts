/**
 * Accepted sockets built from options with no prototype (socket-options.ts says why).
 *
 * Node's net.Server builds each accepted Socket from an options literal, and the constructor's
 * spread of it left about 1.5 KiB of old-space garbage per connection in the super node
 * (docs/performance-notes.md "The public listener's own accept"). This wraps the listening
 * handle's `onconnection` to build the same Socket from prototype-free options, and leaves errors
 * and connections past `maxConnections` (the 'drop' event) to Node's own. It relies on three internals, `_handle.onconnection`, `_connections` and
 * the Socket `handle` option, and stands back (Node's path unchanged) when one is missing or when
 * the server uses a setting it does not copy: pauseOnConnect, keepAlive, a blockList.
 */
import diagnostics from 'node:diagnostics_channel';
import net from 'node:net';
import { socketOptions } from './socket-options.js';

type OnConnection = (this: unknown, err: number, clientHandle: unknown) => void;

interface ServerInternals {
  _handle?: { onconnection?: OnConnection } | null;
  _connections?: number;
  pauseOnConnect?: boolean;
  keepAlive?: boolean;
  blockList?: unknown;
}

/** What Node's onconnection sets on a socket it accepted. */
interface AcceptedSocket {
  server: net.Server;
  _server: net.Server;
}

/** The settings the server was created with, which Node would copy into each socket. */
export interface AcceptOptions {
  allowHalfOpen: boolean;
  noDelay: boolean;
  highWaterMark: number;
}

const serverSocketChannel = diagnostics.channel('net.server.socket');

/** Call once the server listens. Returns whether the wrapper was installed. */
export function acceptWithSharedShapes(server: net.Server, options: AcceptOptions): boolean {
  const internals = server as unknown as ServerInternals;
  const handle = internals._handle;
  const nodes = handle?.onconnection;
  if (handle == null || typeof nodes !== 'function' || typeof internals._connections !== 'number') return false;
  if (internals.pauseOnConnect === true || internals.keepAlive === true || internals.blockList != null) return false;
  const { allowHalfOpen, noDelay, highWaterMark } = options;
  handle.onconnection = function onconnection(this: unknown, err: number, clientHandle: unknown): void {
    if (err || (server.maxConnections > 0 && internals._connections! >= server.maxConnections)) {
      nodes.call(this, err, clientHandle);
      return;
    }
    const socket = new net.Socket(
      socketOptions({
        handle: clientHandle,
        allowHalfOpen,
        readable: true,
        writable: true,
        readableHighWaterMark: highWaterMark,
        writableHighWaterMark: highWaterMark,
      }) as net.SocketConstructorOpts,
    );
    if (noDelay) socket.setNoDelay(true);
    internals._connections!++;
    const accepted = socket as unknown as AcceptedSocket;
    accepted.server = server;
    accepted._server = server;
    server.emit('connection', socket);
    if (serverSocketChannel.hasSubscribers) serverSocketChannel.publish({ socket });
  };
  return true;
}
