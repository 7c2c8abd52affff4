import { once } from 'node:events';
import t from 'tap';
import type { MuxStream } from '../../src/mux/index.js';
import { settle, trackTimers } from '../fixtures/timers.js';
import { closed, collect, nextStream, patternBytes, readAll, sessionPair } from '../fixtures/wire/mux-pair.js';

/** The error a stream fails with. */
function failure(stream: MuxStream): Promise<{ code?: string; stack?: string }> {
  return once(stream, 'error').then(([err]) => err as { code?: string; stack?: string });
}

t.test('half-close works in each direction', async (t) => {
  const { client, server } = await sessionPair(t);
  const accepted = nextStream(server);
  const stream = client.open();
  stream.end('question');
  const remote = await accepted;
  t.equal((await collect(remote)).toString(), 'question', 'the server reads to the client FIN');
  t.ok(remote.writable, 'and can still write');
  remote.write('ans');
  remote.end('wer');
  t.equal((await collect(stream)).toString(), 'answer', 'the client reads the reply after its own FIN');
  await Promise.all([closed(stream), closed(remote)]);
  t.equal(client.streamCount + server.streamCount, 0, 'both sides forget the stream');
});

t.test('destroying a stream sends RST: the peer sees PRX_ERR_MUX_STREAM_RESET, not a hang', async (t) => {
  const { client, server } = await sessionPair(t);
  for (const side of ['client', 'server'] as const) {
    const accepted = nextStream(server);
    const stream = client.open();
    stream.write('partial body');
    const remote = await accepted;
    const [victim, peer] = side === 'client' ? [stream, remote] : [remote, stream];
    const seen = failure(peer);
    victim.destroy();
    const err = await seen;
    t.equal(err.code, 'PRX_ERR_MUX_STREAM_RESET', `reset by the ${side}`);
    // What the peer did has no stack of ours worth its cost (errors.ts, withoutStack).
    t.equal(err.stack, `MuxError: stream ${peer.id} was reset by the peer`, 'the reset carries no stack frames');
    await closed(peer);
  }
  t.equal(client.streamCount + server.streamCount, 0);
});

t.test('close() sends GoAway: open streams finish, new streams fail with PRX_ERR_MUX_GOAWAY', async (t) => {
  const { client, server } = await sessionPair(t);
  const accepted = nextStream(server);
  const stream = client.open();
  stream.write('still ');
  const remote = await accepted;
  const goaway = once(server, 'goaway');
  const clientClosed = client.close();
  await goaway;
  t.throws(() => client.open(), { code: 'PRX_ERR_MUX_GOAWAY' }, 'the closing side opens nothing');
  t.throws(() => server.open(), { code: 'PRX_ERR_MUX_GOAWAY' }, 'nor does the peer');
  stream.end('working');
  remote.end('done');
  t.equal((await collect(remote)).toString(), 'still working', 'the open stream finished');
  t.equal((await collect(stream)).toString(), 'done');
  const [serverClose] = await Promise.all([once(server, 'close'), clientClosed]);
  t.equal(serverClose[0], undefined, 'the peer saw a clean end');
  t.equal(client.close(), client.close(), 'close() is idempotent');
});

t.test('a peer that vanishes without FIN is detected by keepalive; streams end with a timeout error', async (t) => {
  const options = { keepaliveIntervalMs: 100, keepaliveTimeoutMs: 200 };
  // The vanishing side runs no keepalive of its own, so only the server can notice.
  const { client, server, sockets } = await sessionPair(t, { keepaliveIntervalMs: 0 }, options);
  const accepted = nextStream(server);
  const stream = client.open();
  stream.write('x');
  stream.on('error', () => undefined);
  const remote = await accepted;
  const started = Date.now();
  sockets.client.pause(); // the client stops reading and so stops answering; no FIN is sent
  const [err] = await once(remote, 'error');
  const elapsed = Date.now() - started;
  t.equal((err as { code: string }).code, 'PRX_ERR_MUX_KEEPALIVE_TIMEOUT');
  const [closeErr] = await once(server, 'close');
  t.equal((closeErr as { code: string }).code, 'PRX_ERR_MUX_KEEPALIVE_TIMEOUT', 'the session reports it too');
  t.ok(elapsed < options.keepaliveIntervalMs + options.keepaliveTimeoutMs + 1000, `detected after ${elapsed} ms`);
});

t.test('a dropped TCP connection fails every open stream: a cut-off body is never complete', async (t) => {
  const { client, server, sockets } = await sessionPair(t);
  const streams = [client.open(), client.open()];
  const remotes: MuxStream[] = [];
  server.on('stream', (s) => remotes.push(s));
  for (const s of streams) s.write(patternBytes(100_000));
  const reads = streams.map((s) =>
    readAll(s).then(
      () => 'ended',
      (e: { code: string }) => e.code,
    ),
  );
  await new Promise((r) => setImmediate(r));
  await client.ping();
  t.equal(remotes.length, 2);
  const remoteReads = remotes.map((s) =>
    readAll(s).then(
      () => 'ended',
      (e: { code: string }) => e.code,
    ),
  );
  sockets.server.destroy();
  t.same(await Promise.all(reads), ['PRX_ERR_MUX_CONNECTION_LOST', 'PRX_ERR_MUX_CONNECTION_LOST'], 'client streams error');
  t.same(await Promise.all(remoteReads), ['PRX_ERR_MUX_CONNECTION_LOST', 'PRX_ERR_MUX_CONNECTION_LOST'], 'server streams error');
  const [closeErr] = await once(client, 'close');
  t.equal((closeErr as { code: string }).code, 'PRX_ERR_MUX_CONNECTION_LOST');
  t.throws(() => client.open(), { code: 'PRX_ERR_MUX_SESSION_CLOSED' });
});

t.test('stream limits: local opens fail, excess peer streams are reset', async (t) => {
  const { client, server } = await sessionPair(t, { maxStreams: 3 }, { maxStreams: 2 });
  const resets: string[] = [];
  server.on('stream', (s) => s.on('error', (e: { code: string }) => resets.push(e.code)));
  const opened = [client.open(), client.open(), client.open()];
  t.throws(() => client.open(), { code: 'PRX_ERR_MUX_TOO_MANY_STREAMS' });
  for (const s of opened) s.write('hi');
  const refused = failure(opened[2]!);
  t.equal((await refused).code, 'PRX_ERR_MUX_STREAM_RESET', 'the third stream is refused by a peer allowing two');
  t.equal(server.streamCount, 2);
  for (const s of opened.slice(0, 2)) s.destroy();
  await Promise.all(opened.map((s) => closed(s)));
  await new Promise((r) => setImmediate(r));
  await client.ping();
  t.same(resets, ['PRX_ERR_MUX_STREAM_RESET', 'PRX_ERR_MUX_STREAM_RESET'], 'the accepted two saw the resets');
});

t.test('10,000 streams opened and closed leave no stream, listener or timer behind', async (t) => {
  const { client, server, sockets } = await sessionPair(t);
  server.on('stream', (s) => {
    s.on('data', (d: Buffer) => s.end(d));
  });
  const listeners = (): number[] => [sockets.client, sockets.server].flatMap((s) => s.eventNames().map((e) => s.listenerCount(e)));
  const timers = trackTimers();
  t.teardown(() => timers.stop());
  await settle();
  const baseline = { listeners: listeners(), timers: timers.live() };
  for (let batch = 0; batch < 100; batch++) {
    await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const s = client.open();
        s.end(`${batch}:${i}`);
        const echoed = (await collect(s)).toString();
        if (echoed !== `${batch}:${i}`) throw new Error(`stream echoed ${echoed}`);
        await closed(s);
      }),
    );
  }
  t.equal(client.streamCount, 0);
  t.equal(server.streamCount, 0);
  t.same(listeners(), baseline.listeners, 'socket listeners unchanged');
  await settle();
  t.equal(timers.live(), baseline.timers, 'no timers left');
});

t.test('close() and destroy() are idempotent and leave no timer alive', async (t) => {
  const timers = trackTimers();
  t.teardown(() => timers.stop());
  await settle();
  const baseline = timers.live();
  const { client, server } = await sessionPair(t, { keepaliveIntervalMs: 1000 });
  t.ok(timers.live() >= baseline + 2, 'keepalive timers run while open');
  const a = client.close();
  const b = client.destroy();
  const c = server.destroy(new Error('bye'));
  await Promise.all([a, b, c, client.close(), server.destroy()]);
  await settle();
  t.equal(timers.live(), baseline, 'every timer is cleared');
  await t.rejects(client.ping(), { code: 'PRX_ERR_MUX_SESSION_CLOSED' });
});
