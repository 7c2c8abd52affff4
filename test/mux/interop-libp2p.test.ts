import crypto from 'node:crypto';
import { once } from 'node:events';
import t from 'tap';
import { type MuxStream, Session } from '../../src/mux/index.js';
import { libp2pMuxer } from '../fixtures/wire/libp2p-yamux.js';
import { closed, collect, nextStream, patternBytes, readAll, tcpPair, writeRepeated } from '../fixtures/wire/mux-pair.js';

type Libp2pStream = Awaited<ReturnType<ReturnType<typeof libp2pMuxer>['muxer']['createStream']>>;

/** Reads a libp2p stream until the peer half-closes; returns the bytes. */
function drainLibp2p(stream: Libp2pStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.addEventListener('message', (evt) => parts.push(Buffer.from(evt.data.subarray())));
    stream.addEventListener('remoteCloseWrite', () => resolve(Buffer.concat(parts)));
    stream.addEventListener('close', (evt) => {
      if (evt.error) reject(evt.error);
    });
  });
}

/** Sends bytes on a libp2p stream honouring its backpressure. */
async function sendLibp2p(stream: Libp2pStream, data: Buffer): Promise<void> {
  for (let off = 0; off < data.length; off += 64 * 1024) {
    if (!stream.send(data.subarray(off, off + 64 * 1024))) await stream.onDrain();
  }
}

async function pair(t: Parameters<typeof tcpPair>[0], oursIsClient: boolean) {
  const sockets = await tcpPair(t);
  const ours = new Session(oursIsClient ? sockets.client : sockets.server, { role: oursIsClient ? 'client' : 'server' });
  const theirs = libp2pMuxer(oursIsClient ? sockets.server : sockets.client, !oursIsClient);
  t.teardown(async () => {
    theirs.muxer.abort(new Error('test over'));
    await ours.destroy();
  });
  return { ours, theirs: theirs.muxer, connection: theirs.connection };
}

t.test('ours opens, @libp2p/yamux echoes: 8 MiB intact, half-close both ways', async (t) => {
  const { ours, theirs } = await pair(t, true);
  theirs.addEventListener('stream', (evt) => {
    const s = evt.detail;
    drainLibp2p(s)
      .then(async (data) => {
        await sendLibp2p(s, data);
        await s.close();
      })
      .catch(() => undefined);
  });
  const stream = ours.open();
  const size = 8 * 1024 * 1024;
  const [sent, echoed] = await Promise.all([writeRepeated(stream, patternBytes(1024 * 1024), size), readAll(stream)]);
  t.same(echoed, { bytes: size, sha256: sent });
  await closed(stream);
  t.equal(ours.streamCount, 0, 'FIN from both sides closed the stream');
});

t.test('@libp2p/yamux opens, ours echoes: 8 MiB intact, half-close both ways', async (t) => {
  const { ours, theirs } = await pair(t, false);
  ours.on('stream', (s) => collect(s).then((data) => s.end(data)));
  const stream = await theirs.createStream();
  const payload = patternBytes(8 * 1024 * 1024, 'libp2p');
  const echoed = drainLibp2p(stream);
  await sendLibp2p(stream, payload);
  await stream.close();
  const back = await echoed;
  t.equal(crypto.createHash('sha256').update(back).digest('hex'), crypto.createHash('sha256').update(payload).digest('hex'));
});

t.test('resets cross both ways', async (t) => {
  const { ours, theirs } = await pair(t, true);
  // We reset: they see the stream reset.
  const acceptedA = nextLibp2pStream(theirs);
  const a = ours.open();
  a.write('hello');
  const theirA = await acceptedA;
  const reset = new Promise<string>((resolve) => theirA.addEventListener('close', (evt) => resolve(evt.error?.name ?? 'clean')));
  a.destroy();
  t.equal(await reset, 'StreamResetError', 'libp2p saw a reset');
  // They reset: we see PRX_ERR_MUX_STREAM_RESET.
  const acceptedB = nextLibp2pStream(theirs);
  const b = ours.open();
  b.write('hello');
  const theirB = await acceptedB;
  const failed = once(b, 'error');
  theirB.abort(new Error('no thanks'));
  t.equal(((await failed)[0] as { code: string }).code, 'PRX_ERR_MUX_STREAM_RESET');
});

t.test('GoAway crosses both ways', async (t) => {
  const { ours, theirs, connection } = await pair(t, true);
  const goaway = once(ours, 'goaway');
  const oursClosed = once(ours, 'close');
  const theirClose = theirs.close();
  await goaway;
  t.throws(() => ours.open(), { code: 'PRX_ERR_MUX_GOAWAY' }, 'no new streams after their GoAway');
  await theirClose;
  await connection.close(); // a libp2p muxer leaves closing the connection to its owner
  const [err] = await oursClosed;
  t.equal(err, undefined, 'a clean end');
  // And ours to theirs, on a fresh pair.
  const fresh = await pair(t, false);
  const stream = await fresh.theirs.createStream();
  const accepted: MuxStream = await nextStream(fresh.ours);
  accepted.on('error', () => undefined);
  // libp2p answers a normal GoAway by closing its side of every stream.
  const theirStreamClosed = new Promise((resolve) => stream.addEventListener('close', resolve));
  void fresh.ours.close();
  await theirStreamClosed;
  await t.rejects(fresh.theirs.createStream(), { name: 'MuxerClosedError' }, 'libp2p refuses new streams after our GoAway');
});

/** The next stream the libp2p muxer accepts. */
function nextLibp2pStream(muxer: ReturnType<typeof libp2pMuxer>['muxer']): Promise<Libp2pStream> {
  return new Promise((resolve) => muxer.addEventListener('stream', (evt) => resolve(evt.detail), { once: true }));
}
