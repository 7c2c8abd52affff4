/**
 * The three transports the mux benchmark compares, behind one small interface: raw TCP (one
 * connection per "stream"), Proxima's src/mux, and @libp2p/yamux.
 */

import { once } from 'node:events';
import net from 'node:net';
import { Session } from '../../src/mux/index.js';
import { libp2pMuxer } from '../../test/fixtures/wire/libp2p-yamux.js';

/** A byte stream as the workloads use it. */
export interface BenchStream {
  /** Resolves when the bytes are accepted (waiting for drain when the transport asks to). */
  write(buf: Buffer): Promise<void> | void;
  onData(listener: (buf: Buffer) => void): void;
}

export type TransportName = 'raw' | 'proxima' | 'libp2p';

/** The dialling side: opens streams. */
export interface Dialer {
  open(): Promise<BenchStream>;
  close(): void;
}

function fromDuplex(s: net.Socket | import('node:stream').Duplex): BenchStream {
  return {
    write: (buf) => (s.write(buf) ? undefined : once(s, 'drain').then(() => undefined)),
    onData: (listener) => s.on('data', listener),
  };
}

type Libp2pStream = Awaited<ReturnType<ReturnType<typeof libp2pMuxer>['muxer']['createStream']>>;

function fromLibp2p(s: Libp2pStream): BenchStream {
  return {
    write: (buf) => (s.send(buf) ? undefined : s.onDrain()),
    onData: (listener) =>
      s.addEventListener('message', (evt) => {
        const data = evt.data;
        const chunks = data instanceof Uint8Array ? [data] : [...data];
        for (const c of chunks) listener(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
      }),
  };
}

const connect = async (port: number): Promise<net.Socket> => {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.setNoDelay(true);
  return socket;
};

/** Dials the receiver at `port`. Raw TCP opens one connection per stream. */
export async function dial(transport: TransportName, port: number): Promise<Dialer> {
  if (transport === 'raw') {
    const sockets: net.Socket[] = [];
    return {
      open: async () => {
        const s = await connect(port);
        sockets.push(s);
        return fromDuplex(s);
      },
      close: () => {
        for (const s of sockets) s.destroy();
      },
    };
  }
  const socket = await connect(port);
  if (transport === 'proxima') {
    const session = new Session(socket, { role: 'client', keepaliveIntervalMs: 0 });
    return { open: async () => fromDuplex(session.open()), close: () => void session.destroy() };
  }
  const { muxer } = libp2pMuxer(socket, true);
  return { open: async () => fromLibp2p(await muxer.createStream()), close: () => muxer.abort(new Error('done')) };
}

/** Accepts connections on port 0 and hands every stream to `onStream`. */
export async function listen(transport: TransportName, onStream: (s: BenchStream) => void): Promise<net.Server> {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    if (transport === 'raw') onStream(fromDuplex(socket));
    else if (transport === 'proxima') {
      new Session(socket, { role: 'server', keepaliveIntervalMs: 0 }).on('stream', (s) => onStream(fromDuplex(s)));
    } else {
      libp2pMuxer(socket, false).muxer.addEventListener('stream', (evt) => onStream(fromLibp2p(evt.detail)));
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}
