import { once } from 'node:events';
import t, { type Test } from 'tap';
import { encodeHeader, Flag, FrameType, type MuxStream, type Session } from '../../../src/mux/index.js';
import { ControlListener, type ControlListenerOptions } from '../../../src/server/control/control-listener.js';
import { openRegistry } from '../../../src/server/registry/open-registry.js';
import type { Registry } from '../../../src/server/registry/registry.js';
import { tempDir } from '../../fixtures/stacks/control-plane.js';
import { within } from '../../fixtures/store-helpers.js';
import { collect } from '../../fixtures/wire/mux-pair.js';
import { frame, loginFor, preambleBytes, type RawPeer, rawConnect } from '../../fixtures/wire/raw-control.js';

interface Harness {
  listener: ControlListener;
  registry: Registry;
  token: string;
  port: number;
  /** Sessions handed out, by node name, in order. */
  sessions: [string, Session][];
  nextSession(): Promise<[string, Session]>;
}

async function listen(t: Test, options: Partial<ControlListenerOptions> = {}): Promise<Harness> {
  const registry = await openRegistry({ dataDir: tempDir(t), watch: false, pollIntervalMs: 0 });
  t.teardown(() => registry.close());
  const { token } = await registry.add('alpha');
  const sessions: [string, Session][] = [];
  const waiting: ((entry: [string, Session]) => void)[] = [];
  const listener = await ControlListener.listen({
    host: '127.0.0.1',
    port: 0,
    handshakeTimeoutMs: 5_000,
    heartbeatIntervalMs: 60_000,
    heartbeatTimeoutMs: 10_000,
    closeTimeoutMs: 1_000,
    registry,
    publicUrl: (name) => `http://${name}.example.test`,
    onSession(name, session) {
      t.teardown(() => session.destroy());
      sessions.push([name, session]);
      waiting.shift()?.([name, session]);
    },
    ...options,
  });
  t.teardown(async () => {
    await listener.destroy();
  });
  const nextSession = (): Promise<[string, Session]> => within(new Promise((resolve) => waiting.push(resolve)), 5_000, 'a session');
  return { listener, registry, token, port: listener.address().port, sessions, nextSession };
}

/** Sends our preamble and returns the challenge's nonce. */
async function challenged(t: Test, peer: RawPeer): Promise<string> {
  peer.socket.write(preambleBytes());
  t.equal(await peer.preamble(), 1, 'the server speaks version 1');
  const challenge = await peer.message();
  t.match(challenge, { type: 'challenge', nonce: /^[A-Za-z0-9_-]{43}$/, serverVersion: /^\d+\.\d+\.\d+/ });
  return challenge.nonce as string;
}

/** The error message the server answers with, and that it then closes the connection. */
async function refusedWith(t: Test, peer: RawPeer, code: string): Promise<Record<string, unknown>> {
  const message = await peer.message();
  t.match(message, { type: 'error', code });
  await within(peer.closed, 5_000, 'the server closing the connection');
  t.equal(peer.unread().length, 0, 'nothing after the error');
  return message;
}

t.test('a node logs in; yamux bytes sent right behind the login reach the session', async (t) => {
  let firstStream!: Promise<MuxStream>;
  const h = await listen(t, {
    heartbeatIntervalMs: 0, // this peer answers no pings
    onSession(_name, session) {
      t.teardown(() => session.destroy());
      firstStream = once(session, 'stream').then(([s]) => s as MuxStream);
    },
  });
  const peer = await rawConnect(t, h.port);
  const nonce = await challenged(t, peer);
  // Stream 1 opened, written and half-closed before the welcome: the handshake must not swallow it.
  const yamux = Buffer.concat([
    encodeHeader(FrameType.WindowUpdate, Flag.SYN, 1, 0),
    encodeHeader(FrameType.Data, Flag.FIN, 1, 5),
    Buffer.from('hello'),
  ]);
  peer.socket.write(Buffer.concat([frame(loginFor('alpha', h.token, nonce)), yamux]));
  t.same(await peer.message(), { type: 'welcome', name: 'alpha', publicUrl: 'http://alpha.example.test', heartbeatIntervalMs: 0 });
  const stream = await within(firstStream, 5_000, 'stream 1');
  t.equal(stream.id, 1);
  t.equal((await collect(stream)).toString(), 'hello');
  t.equal(h.listener.handshakes, 0, 'no handshake left in progress');
});

t.test('a peer that does not speak Proxima is closed without an answer', async (t) => {
  const h = await listen(t);
  const peer = await rawConnect(t, h.port);
  peer.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await within(peer.closed, 5_000, 'closed');
  t.equal(peer.unread().length, 0);
  t.same(h.sessions, []);
});

t.test('another protocol version gets our preamble and an error saying what to upgrade', async (t) => {
  const h = await listen(t);
  for (const [version, upgrade] of [
    [2, /upgrade proxima-server/],
    [0, /upgrade proxima-client/],
  ] as const) {
    const peer = await rawConnect(t, h.port);
    peer.socket.write(preambleBytes(version));
    t.equal(await peer.preamble(), 1);
    const error = await refusedWith(t, peer, 'PRX_ERR_VERSION_MISMATCH');
    t.match(error.message, upgrade, `a version ${version} node`);
  }
});

t.test('every bad login gets PRX_ERR_AUTH_FAILED and the connection closes', async (t) => {
  const h = await listen(t);
  const { token: betaToken } = await h.registry.add('beta');
  await h.registry.revoke('beta');
  const forged = h.token.slice(0, -4) + (h.token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  const cases: [string, (nonce: string) => object][] = [
    ['a wrong token', (nonce) => loginFor('alpha', forged, nonce)],
    ['a revoked node', (nonce) => loginFor('beta', betaToken, nonce)],
    ["another node's name", (nonce) => loginFor('gamma', h.token, nonce)],
    ['a clock 10 minutes off', (nonce) => loginFor('alpha', h.token, nonce, Date.now() - 600_000)],
  ];
  for (const [why, login] of cases) {
    const peer = await rawConnect(t, h.port);
    peer.socket.write(frame(login(await challenged(t, peer))));
    await refusedWith(t, peer, 'PRX_ERR_AUTH_FAILED');
    t.pass(why);
  }
  t.same(h.sessions, []);
});

t.test('a login replayed on another connection fails: the nonce is per connection and single-use', async (t) => {
  const h = await listen(t);
  const first = await rawConnect(t, h.port);
  const login = frame(loginFor('alpha', h.token, await challenged(t, first)));
  first.socket.write(login);
  t.match(await first.message(), { type: 'welcome' });
  const replay = await rawConnect(t, h.port);
  await challenged(t, replay);
  replay.socket.write(login);
  await refusedWith(t, replay, 'PRX_ERR_AUTH_FAILED');
  t.equal(h.sessions.length, 1);
});

t.test('a slow handshake times out', async (t) => {
  const h = await listen(t, { handshakeTimeoutMs: 150 });
  const silent = await rawConnect(t, h.port);
  const slow = await rawConnect(t, h.port);
  await challenged(t, slow);
  await refusedWith(t, slow, 'PRX_ERR_HANDSHAKE_TIMEOUT');
  await within(silent.closed, 5_000, 'the silent connection closed');
  t.equal(silent.unread().length, 0, 'a peer that never spoke is not answered');
});

t.test('an oversized or malformed login is refused as soon as it is seen', async (t) => {
  const h = await listen(t);
  const big = await rawConnect(t, h.port);
  await challenged(t, big);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(64 * 1024 + 1);
  big.socket.write(length); // only the length: the server must not wait for the body
  await refusedWith(t, big, 'PRX_ERR_MESSAGE_TOO_LARGE');
  const garbled = await rawConnect(t, h.port);
  await challenged(t, garbled);
  const json = Buffer.from('{"type":"login",');
  garbled.socket.write(Buffer.concat([Buffer.from([0, 0, 0, json.length]), json]));
  await refusedWith(t, garbled, 'PRX_ERR_MESSAGE_INVALID');
  const wrong = await rawConnect(t, h.port);
  await challenged(t, wrong);
  wrong.socket.write(frame({ type: 'login', name: 'alpha' }));
  await refusedWith(t, wrong, 'PRX_ERR_MESSAGE_INVALID');
});

t.test('handshakes in progress are capped; connections past the cap are closed at once', async (t) => {
  const h = await listen(t, { maxHandshakes: 2 });
  const first = await rawConnect(t, h.port);
  const nonce = await challenged(t, first);
  const second = await rawConnect(t, h.port);
  await challenged(t, second);
  const third = await rawConnect(t, h.port);
  await within(third.closed, 5_000, 'the third connection closed');
  t.equal(h.listener.handshakes, 2);
  // A handshake that completes frees its slot before the welcome is on the wire.
  first.socket.write(frame(loginFor('alpha', h.token, nonce)));
  t.match(await first.message(), { type: 'welcome' });
  t.equal(h.listener.handshakes, 1);
  const fourth = await rawConnect(t, h.port);
  await challenged(t, fourth);
  t.equal(h.listener.handshakes, 2);
});

t.test('close() refuses handshakes in progress with PRX_ERR_SERVER_DRAINING and waits for their sockets', async (t) => {
  const h = await listen(t);
  const peer = await rawConnect(t, h.port);
  await challenged(t, peer);
  await h.listener.close();
  t.equal(h.listener.handshakes, 0);
  await refusedWith(t, peer, 'PRX_ERR_SERVER_DRAINING');
  await within(h.listener.closed, 5_000, 'the port closed');
});
