import crypto from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import t from 'tap';
import { Forwarder, type ForwarderOptions } from '../../src/client/forwarder.js';
import { encodeMessage, MessageDecoder } from '../../src/proto/control/codec.js';
import { openNodeStream } from '../../src/server/control/node-stream.js';
import { freePort } from '../fixtures/stacks/tunnel.js';
import { collect, patternBytes, sessionPair, writeRepeated } from '../fixtures/wire/mux-pair.js';

type Teardown = { teardown(fn: () => unknown): void };
const remote = { address: '198.51.100.1', port: 40000, tls: false };

/** A local service: on each connection, runs `serve` with a half-open socket. */
async function localService(t: Teardown, serve: (socket: net.Socket) => void): Promise<{ port: number; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    serve(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as net.AddressInfo).port, sockets };
}

/** Resolves once the stream has closed, with the code of the error it closed with. */
function closed(stream: Duplex): Promise<string | undefined> {
  stream.on('error', () => undefined);
  const code = (): string | undefined => (stream.errored as { code?: string } | null)?.code;
  return stream.closed ? Promise.resolve(code()) : new Promise((resolve) => stream.once('close', () => resolve(code())));
}

/** A node: a session pair whose node end is served by a Forwarder. */
async function node(t: Teardown, options: ForwarderOptions) {
  const { client, server } = await sessionPair(t);
  const forwarder = new Forwarder(options);
  client.on('stream', (stream) => forwarder.handle(stream));
  t.teardown(() => forwarder.destroy());
  return {
    forwarder,
    server,
    open: (service: string, via: 'public' | 'api' = 'public') => openNodeStream(server, service, { ...remote, via }),
  };
}

t.test('8 MiB each way with half-close: the service reads to the end, then answers', async (t) => {
  const size = 8 * 1024 * 1024;
  let downloadSha = Promise.resolve('');
  // Hashes what arrives until the end, then sends that hash, a newline and 8 MiB back, and ends.
  const local = await localService(t, (socket) => {
    const hash = crypto.createHash('sha256');
    socket.on('data', (chunk: Buffer) => hash.update(chunk));
    socket.once('end', () => {
      socket.write(hash.digest('hex') + '\n');
      downloadSha = writeRepeated(socket, patternBytes(65_536, 'down'), size);
    });
  });
  const { open } = await node(t, { services: [{ name: 'web', local: { host: '127.0.0.1', port: local.port } }] });
  const { stream, opened } = open('web');
  const uploading = writeRepeated(stream, patternBytes(65_536, 'up'), size);
  await opened; // reading starts after the node's answer; the upload is already on its way
  const received = collect(stream);
  const uploadSha = await uploading;
  const bytes = await received;
  t.equal(bytes.subarray(0, 64).toString(), uploadSha, 'the service read the whole upload, then its end');
  t.equal(bytes.length, 65 + size, 'the whole download came back after the half-close');
  t.equal(crypto.createHash('sha256').update(bytes.subarray(65)).digest('hex'), await downloadSha);
  await closed(stream);
  t.equal(local.sockets[0]!.destroyed, true, 'the local connection closed cleanly after both ends');
});

t.test('resets cross over: a local reset resets the stream, a stream reset resets the local connection', async (t) => {
  const local = await localService(t, (socket) => socket.write('partial'));
  const { open } = await node(t, { services: [{ name: 'web', local: { host: '127.0.0.1', port: local.port } }] });

  const first = open('web');
  await first.opened;
  await once(first.stream, 'data');
  local.sockets[0]!.resetAndDestroy();
  t.equal(await closed(first.stream), 'PRX_ERR_MUX_STREAM_RESET', 'the super node sees a reset, not an end');

  const second = open('web');
  await second.opened;
  await once(second.stream, 'data');
  const seen = new Promise<string | undefined>((resolve) => {
    local.sockets[1]!.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
    local.sockets[1]!.once('close', () => resolve(undefined));
  });
  second.stream.destroy();
  t.equal(await seen, 'ECONNRESET', 'the local service sees a reset, not an end');
});

t.test('an unknown service, a refused target: the node answers with the code, never a hang', async (t) => {
  const port = await freePort();
  const { open, forwarder } = await node(t, { services: [{ name: 'web', local: { host: '127.0.0.1', port } }] });
  const unknown = open('docs');
  await t.rejects(unknown.opened, { code: 'PRX_ERR_SERVICE_UNKNOWN' });
  const refused = open('web');
  await t.rejects(refused.opened, { code: 'PRX_ERR_TARGET_UNREACHABLE', message: /service web: .*ECONNREFUSED/ });
  await closed(refused.stream);
  await forwarder.close();
  t.equal(forwarder.activeStreams, 0, 'nothing left in flight');
});

t.test('a network service refuses a stream from a tenant host (defence in depth); the API reaches it', async (t) => {
  const { port } = await localService(t, (socket) => socket.end('HTTP/1.1 204 No Content\r\n\r\n'));
  const local = { host: '127.0.0.1', port };
  const { open } = await node(t, {
    services: [
      { name: 'web', local, expose: 'network' },
      { name: 'site', local },
    ],
  });
  await t.rejects(open('web').opened, { code: 'PRX_ERR_SERVICE_NOT_PUBLIC' }, 'via public');
  for (const [service, via, what] of [
    ['web', 'api', 'via the API'],
    ['site', 'public', 'a public service, via public'],
  ] as const) {
    const { stream, opened } = open(service, via);
    const done = closed(stream);
    await t.resolves(opened, what);
    stream.destroy();
    await done;
  }
});

t.test('a missing header is reset after the header timeout; a malformed one is refused', async (t) => {
  const { server } = await node(t, { services: [], headerTimeoutMs: 50 });
  const silent = server.open();
  silent.resume();
  t.equal(await closed(silent), 'PRX_ERR_MUX_STREAM_RESET', 'a stream without a header is reset');

  const garbled = server.open();
  garbled.end(encodeMessage({ type: 'open', service: 'web' }));
  const [reply] = new MessageDecoder().push(await collect(garbled), 1);
  t.match(reply, { type: 'error', code: 'PRX_ERR_MESSAGE_INVALID' });
});

t.test('close() refuses new streams and waits for those in flight; destroy() resets them', async (t) => {
  const local = await localService(t, () => undefined);
  const { open, forwarder } = await node(t, { services: [{ name: 'web', local: { host: '127.0.0.1', port: local.port } }] });
  const busy = open('web');
  const busyClosed = closed(busy.stream);
  await busy.opened;
  let closedDone = false;
  const closing = forwarder.close().then(() => (closedDone = true));
  const late = open('web');
  await t.rejects(late.opened, { code: 'PRX_ERR_SERVER_DRAINING' });
  t.equal(closedDone, false, 'close() waits for the stream in flight');
  await forwarder.destroy();
  await closing;
  t.equal(await busyClosed, 'PRX_ERR_MUX_STREAM_RESET');
  t.equal(forwarder.activeStreams, 0);
});
