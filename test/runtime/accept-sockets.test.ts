import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import net from 'node:net';
import t from 'tap';
import { type AcceptOptions, acceptWithSharedShapes } from '../../src/runtime/accept-sockets.js';

type Teardown = { teardown(fn: () => unknown): void };

const OPTIONS: AcceptOptions = { allowHalfOpen: true, noDelay: true, highWaterMark: 256 * 1024 };

/** A listening server, the wrapper not yet installed; it and its sockets are closed in teardown. */
async function listening(t: Teardown, extra: net.ServerOpts = {}): Promise<net.Server> {
  const server = net.createServer({ ...OPTIONS, ...extra });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    if (server.listening) await new Promise((resolve) => server.close(resolve));
  });
  return server;
}

function connect(t: Teardown, server: net.Server): net.Socket {
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  socket.on('error', () => {});
  t.teardown(() => socket.destroy());
  return socket;
}

/** Everything `socket` receives until the peer ends. */
async function readAll(socket: net.Socket): Promise<string> {
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (text += chunk));
  await once(socket, 'end');
  return text;
}

t.test('accepted sockets carry the server settings, count as connections and allow half-open', async (t) => {
  const server = await listening(t);
  t.equal(acceptWithSharedShapes(server, OPTIONS), true, 'installed on a listening server');
  const accepted = once(server, 'connection');
  const client = connect(t, server);
  const [socket] = (await accepted) as [net.Socket & { server?: net.Server }];
  t.equal(socket.server, server, 'the socket names its server');
  t.equal(socket.allowHalfOpen, true);
  t.equal(socket.readableHighWaterMark, OPTIONS.highWaterMark);
  t.equal(socket.writableHighWaterMark, OPTIONS.highWaterMark);
  const count = await new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  t.equal(count, 1, 'getConnections counts it');

  const request = readAll(socket);
  client.end('request then FIN');
  t.equal(await request, 'request then FIN', 'the server reads the request and its end');
  const answer = readAll(client);
  socket.end('answer after the client FIN');
  t.equal(await answer, 'answer after the client FIN', 'and still answers: half-open');

  const closed = new Promise((resolve) => server.close(resolve));
  await closed;
  t.pass('server.close() completes once its one connection has closed');
});

t.test('past maxConnections Node drops the connection itself, with its drop event', async (t) => {
  const server = await listening(t);
  server.maxConnections = 1;
  acceptWithSharedShapes(server, OPTIONS);
  server.on('connection', (s: net.Socket) => s.pipe(s));
  const first = connect(t, server);
  await once(server, 'connection');
  const dropped = once(server, 'drop');
  const second = connect(t, server);
  await once(second, 'connect');
  const [info] = (await dropped) as [{ remotePort: number }];
  t.equal(info.remotePort, second.localPort, 'the second connection was the one dropped');
  await once(second, 'close');
  const echo = readAll(first);
  first.end('still here');
  t.equal(await echo, 'still here', 'the first connection is untouched');
});

t.test('the net.server.socket diagnostics channel still hears of each socket', async (t) => {
  const server = await listening(t);
  acceptWithSharedShapes(server, OPTIONS);
  const heard: unknown[] = [];
  const listener = (message: unknown): void => void heard.push((message as { socket: unknown }).socket);
  diagnostics.subscribe('net.server.socket', listener);
  t.teardown(() => diagnostics.unsubscribe('net.server.socket', listener));
  connect(t, server);
  const [socket] = await once(server, 'connection');
  t.same(heard, [socket]);
});

t.test('stands back where it would change what Node does', async (t) => {
  const idle = net.createServer();
  t.equal(acceptWithSharedShapes(idle, OPTIONS), false, 'a server not listening has no handle to wrap');
  const paused = await listening(t, { pauseOnConnect: true });
  t.equal(acceptWithSharedShapes(paused, OPTIONS), false, 'pauseOnConnect is left to Node');
  const keepAlive = await listening(t, { keepAlive: true });
  t.equal(acceptWithSharedShapes(keepAlive, OPTIONS), false, 'keepAlive is left to Node');
});
