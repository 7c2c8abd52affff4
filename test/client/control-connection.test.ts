import t from 'tap';
import { ControlConnection } from '../../src/client/control-connection.js';
import { encodeHeader, Flag, FrameType, type MuxStream } from '../../src/mux/index.js';
import { blackholeRelay } from '../fixtures/fakes/blackhole-relay.js';
import { closedWithin, nodeOptions, online, register, startServer, tempDir, testServerConfig } from '../fixtures/stacks/control-plane.js';
import { within } from '../fixtures/store-helpers.js';
import { collect } from '../fixtures/wire/mux-pair.js';
import { frame, preambleBytes, rawListen } from '../fixtures/wire/raw-control.js';

const TOKEN = `prx_0123456789abcdef_${'A'.repeat(43)}`;

t.test('yamux bytes right behind the welcome reach the session; the node opens stream 1 and advertises', async (t) => {
  let advertise!: (bytes: Buffer) => void;
  const advertised = new Promise<Buffer>((resolve) => (advertise = resolve));
  const port = await rawListen(t, async (peer) => {
    await peer.preamble();
    peer.socket.write(Buffer.concat([preambleBytes(), frame({ type: 'challenge', nonce: 'n'.repeat(43), serverVersion: 'test' })]));
    await peer.message();
    // The super node opens stream 2, sends "hi" and half-closes, in the same write as the welcome.
    peer.socket.write(
      Buffer.concat([
        frame({ type: 'welcome', name: 'alpha', publicUrl: 'http://alpha.example.test', heartbeatIntervalMs: 0 }),
        encodeHeader(FrameType.WindowUpdate, Flag.SYN, 2, 0),
        encodeHeader(FrameType.Data, Flag.FIN, 2, 2),
        Buffer.from('hi'),
      ]),
    );
    peer.socket.on('data', () => {
      if (peer.unread().includes('"advertise"')) advertise(peer.unread());
    });
  });
  let streamed!: (stream: MuxStream) => void;
  const stream = new Promise<MuxStream>((resolve) => (streamed = resolve));
  const connection = await ControlConnection.open({
    server: { host: '127.0.0.1', port },
    tls: false,
    name: 'alpha',
    token: TOKEN,
    timeoutMs: 5_000,
    services: [{ name: 'web', kind: 'http' }],
    onStream: streamed,
  });
  t.teardown(() => connection.destroy());
  t.equal(connection.welcome.publicUrl, 'http://alpha.example.test');
  const opened = await within(stream, 5_000, 'stream 2');
  t.equal(opened.id, 2);
  t.equal((await collect(opened)).toString(), 'hi');
  const bytes = await within(advertised, 5_000, 'the advertise message');
  // After the handshake the raw peer reads yamux frames (12-byte headers; Data frames carry payload).
  const frames: { type: number; flags: number; streamId: number; payload: Buffer }[] = [];
  for (let at = 0; at + 12 <= bytes.length; ) {
    const type = bytes.readUInt8(at + 1);
    const length = bytes.readUInt32BE(at + 8);
    const size = type === FrameType.Data ? length : 0;
    frames.push({
      type,
      flags: bytes.readUInt16BE(at + 2),
      streamId: bytes.readUInt32BE(at + 4),
      payload: bytes.subarray(at + 12, at + 12 + size),
    });
    at += 12 + size;
  }
  const onStream1 = frames.filter((f) => f.streamId === 1 && f.type !== FrameType.Ping);
  t.ok(onStream1[0]!.flags & Flag.SYN, 'the node opens stream 1, the control stream');
  const payload = Buffer.concat(onStream1.map((f) => f.payload));
  t.same(JSON.parse(payload.subarray(4).toString()), { type: 'advertise', services: [{ name: 'web', kind: 'http' }] });
  t.equal(payload.readUInt32BE(0), payload.length - 4, 'length-prefixed');
});

t.test('a super node that goes silent is noticed by keepalive and the connection ends', async (t) => {
  const dataDir = tempDir(t);
  const server = await startServer(t, {
    dataDir,
    config: testServerConfig(dataDir, { control: { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 5_000 } }),
  });
  const token = await register(server, 'alpha');
  const relay = await blackholeRelay(t, server.controlAddress().port);
  const connection = await ControlConnection.open(
    nodeOptions(server, 'alpha', {
      token,
      server: { host: '127.0.0.1', port: relay.port },
      keepaliveTimeoutMs: 200,
    }),
  );
  t.teardown(() => connection.destroy());
  await online(server, 'alpha');
  relay.freeze();
  t.match(await closedWithin(connection, 5_000), { code: 'PRX_ERR_MUX_KEEPALIVE_TIMEOUT' });
});
