import { once } from 'node:events';
import t from 'tap';
import { FrameDecoder } from '../../src/mux/decoder.js';
import { encodeHeader, Flag, type FrameHeader, FrameType, INITIAL_WINDOW_BYTES } from '../../src/mux/frame.js';
import { MuxError, Session } from '../../src/mux/index.js';
import { collect, tcpPair } from '../fixtures/wire/mux-pair.js';

/** A server session facing a raw socket the test writes bytes to by hand. */
async function rawPeer(t: Parameters<typeof tcpPair>[0]) {
  const { client: raw, server: socket } = await tcpPair(t);
  const session = new Session(socket, { role: 'server', keepaliveIntervalMs: 0 });
  t.teardown(() => session.destroy());
  const received: FrameHeader[] = [];
  const decoder = new FrameDecoder({ onHeader: (h) => received.push(h), onData() {}, onFrameEnd() {} });
  raw.on('data', (d: Buffer) => decoder.push(d));
  const rawEnded = once(raw, 'close');
  const closed = once(session, 'close').then(([err]) => err as MuxError | undefined);
  return { raw, session, received, closed, rawEnded };
}

/** A ping from the raw side, answered: everything the session sent before the answer has arrived. */
async function pingFrom(raw: import('node:net').Socket, received: FrameHeader[]): Promise<void> {
  const opaque = 4242;
  raw.write(encodeHeader(FrameType.Ping, Flag.SYN, 0, opaque));
  while (!received.some((h) => h.type === FrameType.Ping && h.flags & Flag.ACK && h.length === opaque)) await once(raw, 'data');
}

const frame = (type: FrameType, flags: number, id: number, length: number): Buffer => encodeHeader(type, flags, id, length);

const violations: [string, () => Buffer, string][] = [
  [
    'a bad version',
    () => {
      const b = frame(FrameType.Ping, Flag.SYN, 0, 1);
      b[0] = 2;
      return b;
    },
    'PRX_ERR_MUX_BAD_VERSION',
  ],
  [
    'an unknown type',
    () => {
      const b = frame(FrameType.Ping, Flag.SYN, 0, 1);
      b[1] = 9;
      return b;
    },
    'PRX_ERR_MUX_UNKNOWN_TYPE',
  ],
  ['an HTTP request on the mux port', () => Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'PRX_ERR_MUX_BAD_VERSION'],
  [
    'a Data frame longer than the window (header only, no payload sent)',
    () => Buffer.concat([frame(FrameType.WindowUpdate, Flag.SYN, 1, 0), frame(FrameType.Data, 0, 1, INITIAL_WINDOW_BYTES + 1)]),
    'PRX_ERR_MUX_WINDOW_EXCEEDED',
  ],
  [
    'a stream id reused while open',
    () => Buffer.concat([frame(FrameType.WindowUpdate, Flag.SYN, 1, 0), frame(FrameType.WindowUpdate, Flag.SYN, 1, 0)]),
    'PRX_ERR_MUX_STREAM_ID',
  ],
  [
    'a stream id reused after it closed',
    () =>
      Buffer.concat([
        frame(FrameType.WindowUpdate, Flag.SYN, 3, 0),
        frame(FrameType.WindowUpdate, Flag.RST, 3, 0),
        frame(FrameType.WindowUpdate, Flag.SYN, 3, 0),
      ]),
    'PRX_ERR_MUX_STREAM_ID',
  ],
  [
    'an id lower than one already used',
    () => Buffer.concat([frame(FrameType.WindowUpdate, Flag.SYN, 7, 0), frame(FrameType.WindowUpdate, Flag.SYN, 5, 0)]),
    'PRX_ERR_MUX_STREAM_ID',
  ],
  ['an id of the wrong parity', () => frame(FrameType.WindowUpdate, Flag.SYN, 2, 0), 'PRX_ERR_MUX_STREAM_ID'],
  ['a stream frame on id 0', () => frame(FrameType.Data, Flag.SYN, 0, 0), 'PRX_ERR_MUX_STREAM_ID'],
  ['a Ping on a stream', () => frame(FrameType.Ping, Flag.SYN, 1, 0), 'PRX_ERR_MUX_PROTOCOL'],
  ['a GoAway on a stream', () => frame(FrameType.GoAway, 0, 1, 0), 'PRX_ERR_MUX_PROTOCOL'],
];

for (const [what, bytes, code] of violations) {
  t.test(`${what} closes the session with GoAway(protocol error) and ${code}`, async (t) => {
    const { raw, session, received, closed, rawEnded } = await rawPeer(t);
    const streamErrors: string[] = [];
    session.on('stream', (s) => s.on('error', (e: MuxError) => streamErrors.push(e.code)));
    raw.write(bytes());
    const err = await closed;
    t.ok(err instanceof MuxError, 'a coded MuxError');
    t.equal(err?.code, code);
    await rawEnded;
    const goAway = received.find((h) => h.type === FrameType.GoAway);
    t.same(goAway && { id: goAway.streamId, code: goAway.length }, { id: 0, code: 1 }, 'the peer got GoAway(protocol error)');
    t.ok(
      streamErrors.every((c) => c === code || c === 'PRX_ERR_MUX_STREAM_RESET'),
      'open streams failed with the same code',
    );
  });
}

t.test('flags are a bitmask on every frame type: SYN, data and FIN in one frame', async (t) => {
  const { raw, session, received } = await rawPeer(t);
  const accepted = once(session, 'stream');
  const body = Buffer.from('one frame opens, carries and half-closes');
  raw.write(Buffer.concat([frame(FrameType.Data, Flag.SYN | Flag.FIN, 1, body.length), body]));
  const [stream] = await accepted;
  t.equal((await collect(stream)).toString(), body.toString());
  await pingFrom(raw, received);
  const ack = received.find((h) => h.streamId === 1 && h.flags & Flag.ACK);
  t.ok(ack, 'the stream was acknowledged');
  // FIN riding on a window update, with a delta, closes the other direction.
  stream.end('reply');
  raw.write(frame(FrameType.WindowUpdate, Flag.ACK, 1, 1024));
  await once(stream, 'close');
  t.equal(session.streamCount, 0);
  t.ok(session.isOpen, 'the session is fine');
});

t.test('a GoAway with an error code from the peer ends the session with PRX_ERR_MUX_REMOTE_GOAWAY', async (t) => {
  const { raw, session, closed } = await rawPeer(t);
  const accepted = once(session, 'stream');
  raw.write(frame(FrameType.WindowUpdate, Flag.SYN, 1, 0));
  const [stream] = await accepted;
  const streamErr = once(stream, 'error');
  raw.write(frame(FrameType.GoAway, 0, 0, 2));
  t.equal((await closed)?.code, 'PRX_ERR_MUX_REMOTE_GOAWAY');
  t.equal(((await streamErr)[0] as MuxError).code, 'PRX_ERR_MUX_REMOTE_GOAWAY');
});

t.test('frames for streams already closed are ignored, their payload dropped', async (t) => {
  const { raw, session, received } = await rawPeer(t);
  const resets: string[] = [];
  session.on('stream', (s) => s.on('error', (e: MuxError) => resets.push(e.code)));
  raw.write(
    Buffer.concat([
      frame(FrameType.WindowUpdate, Flag.SYN, 1, 0),
      frame(FrameType.WindowUpdate, Flag.RST, 1, 0),
      frame(FrameType.Data, 0, 1, 5),
      Buffer.from('stale'),
      frame(FrameType.WindowUpdate, 0, 1, 99),
    ]),
  );
  await pingFrom(raw, received);
  t.same(resets, ['PRX_ERR_MUX_STREAM_RESET'], 'the stream was reset once');
  t.ok(session.isOpen, 'the session answers pings and stays open');
  t.equal(session.streamCount, 0);
});
