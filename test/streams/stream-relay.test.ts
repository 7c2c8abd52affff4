import { once } from 'node:events';
import net from 'node:net';
import t from 'tap';
import { abortStream, relay } from '../../src/streams/stream-relay.js';
import { collect, patternBytes, readAll, tcpPair, writeRepeated } from '../fixtures/wire/mux-pair.js';

type Teardown = { teardown(fn: () => unknown): void };

/** A connected pair of half-open TCP sockets on 127.0.0.1. */
async function halfOpenPair(t: Teardown): Promise<{ near: net.Socket; far: net.Socket }> {
  const { client, server } = await tcpPair(t, true);
  return { near: client, far: server };
}

/** user ⇄ [a | relay | b] ⇄ service: two TCP connections joined by a relay in the middle. */
async function relayed(t: Teardown) {
  const left = await halfOpenPair(t);
  const right = await halfOpenPair(t);
  const done = relay(left.far, right.near);
  return { user: left.near, service: right.far, done };
}

function resetSeen(socket: net.Socket): Promise<string | undefined> {
  return new Promise((resolve) => {
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
    socket.once('close', () => resolve(undefined));
  });
}

t.test('bytes both ways with backpressure, then FIN each way on its own: a clean relay', async (t) => {
  const { user, service, done } = await relayed(t);
  const size = 8 * 1024 * 1024;
  const up = readAll(service);
  const sentUp = await writeRepeated(user, patternBytes(64 * 1024, 'up'), size);
  const gotUp = await up;
  t.same(gotUp, { bytes: size, sha256: sentUp }, 'upload intact, and its end arrived');
  // The user has half-closed; the service can still answer.
  const down = readAll(user);
  const sentDown = await writeRepeated(service, patternBytes(64 * 1024, 'down'), size);
  t.same(await down, { bytes: size, sha256: sentDown }, 'download intact after the half-close');
  t.same(await done, { clean: true });
});

t.test('a reset on one side resets the other: the far end reads ECONNRESET, not an end', async (t) => {
  for (const side of ['user', 'service'] as const) {
    const { user, service, done } = await relayed(t);
    const [resetter, other] = side === 'user' ? [user, service] : [service, user];
    other.write('partial body');
    await once(resetter, 'data');
    const seen = resetSeen(other);
    resetter.resetAndDestroy();
    t.equal(await seen, 'ECONNRESET', `a reset by the ${side} reaches the other end as a reset`);
    t.same(await done, { clean: false });
  }
});

t.test('a side that already ended or closed before the relay started', async (t) => {
  const left = await halfOpenPair(t);
  const right = await halfOpenPair(t);
  left.near.end('early');
  const early = await collect(left.far);
  t.equal(early.toString(), 'early');
  const got = collect(right.far);
  const done = relay(left.far, right.near);
  t.equal((await got).length, 0, 'the end is passed on at once');
  right.far.end();
  t.same(await done, { clean: true });

  const a = await halfOpenPair(t);
  const b = await halfOpenPair(t);
  a.far.destroy();
  await once(a.far, 'close');
  const seen = resetSeen(b.far);
  const result = await relay(a.far, b.near);
  t.same(result, { clean: false });
  t.equal(await seen, 'ECONNRESET', 'a side closed before the relay resets the other');
});

t.test('abortStream: a reset for a socket, a destroy for anything else, idempotent', async (t) => {
  const { near, far } = await halfOpenPair(t);
  const seen = resetSeen(far);
  abortStream(near);
  abortStream(near);
  t.equal(await seen, 'ECONNRESET');
  const pending = net.connect({ port: 9, host: '127.0.0.1' });
  pending.on('error', () => undefined);
  abortStream(pending);
  t.ok(pending.destroyed, 'a socket still connecting is destroyed');
});

t.test('abortStream resets a TCP connection even right after a write (Node 20 would send a FIN)', async (t) => {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  for (let i = 0; i < 10; i++) {
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await once(client, 'connect');
    const [socket] = await accepted;
    socket.on('error', () => undefined);
    let seen = '';
    let reset = false;
    client.on('data', (d: Buffer) => (seen += d.toString()));
    client.on('error', (err: NodeJS.ErrnoException) => (reset = err.code === 'ECONNRESET'));
    const closed = new Promise((resolve) => client.once('close', resolve));
    socket.write('partial answer');
    abortStream(socket);
    socket.write(' and more');
    socket.end(' and the end');
    await closed;
    t.ok(reset, `round ${i}: the peer saw a reset, not an end`);
    t.notMatch(seen, /more|end/, 'nothing written after the abort left');
  }
});
