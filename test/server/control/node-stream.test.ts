import t from 'tap';
import type { MuxStream } from '../../../src/mux/index.js';
import { encodeMessage, MessageDecoder } from '../../../src/proto/control/codec.js';
import { openNodeStream } from '../../../src/server/control/node-stream.js';
import { settle, trackTimers } from '../../fixtures/timers.js';
import { closed, collect, nextStream, sessionPair } from '../../fixtures/wire/mux-pair.js';

const remote = { address: '203.0.113.7', port: 51234, tls: true };

/** Reads the node's side of a new stream: the `open` header, then `extraBytes` of what follows it. */
function acceptOpen(stream: MuxStream, extraBytes = 0): Promise<{ open: Record<string, unknown>; after: Buffer }> {
  return new Promise((resolve, reject) => {
    const decoder = new MessageDecoder();
    let open: Record<string, unknown> | undefined;
    let after: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      if (open === undefined) {
        [open] = decoder.push(chunk, 1);
        if (open !== undefined) after = decoder.takeRest();
      } else after = Buffer.concat([after, chunk]);
      if (open !== undefined && after.length >= extraBytes) {
        stream.off('data', onData).pause();
        resolve({ open, after });
      }
    };
    stream.on('data', onData).once('error', reject);
  });
}

t.test('open goes first, the request right behind it; the reply is stripped from what the caller reads', async (t) => {
  const { client, server } = await sessionPair(t);
  const accepted = nextStream(client);
  const { stream, opened } = openNodeStream(server, 'web', remote);
  stream.write('GET / HTTP/1.1\r\n\r\n'); // pipelined: before the node has answered
  const node = await accepted;
  const { open, after } = await acceptOpen(node, 18);
  t.same(open, { type: 'open', service: 'web', remoteAddress: '203.0.113.7', remotePort: 51234, tls: true, via: 'public' });
  t.equal(after.toString(), 'GET / HTTP/1.1\r\n\r\n', 'the request followed the header in the same round trip');
  // The reply and the first response bytes in one write: the caller must see only the latter.
  node.end(Buffer.concat([encodeMessage({ type: 'opened' }), Buffer.from('HTTP/1.1 200 OK\r\n\r\n')]));
  await opened;
  stream.end();
  t.equal((await collect(stream)).toString(), 'HTTP/1.1 200 OK\r\n\r\n');
});

t.test("a refusal rejects with the node's code and the stream is gone", async (t) => {
  const { client, server } = await sessionPair(t);
  for (const code of ['PRX_ERR_TARGET_UNREACHABLE', 'PRX_ERR_SERVICE_UNKNOWN']) {
    const accepted = nextStream(client);
    const { stream, opened } = openNodeStream(server, 'web', remote);
    const node = await accepted;
    await acceptOpen(node);
    node.on('error', () => undefined);
    node.end(encodeMessage({ type: 'error', code, message: 'no' }));
    await t.rejects(opened, { code });
    await closed(stream);
    t.ok(stream.destroyed, `${code}: the stream was destroyed`);
  }
});

t.test('no answer in time: PRX_ERR_NODE_TIMEOUT; a reset before the answer: the reset', async (t) => {
  const timers = trackTimers();
  t.teardown(() => timers.stop());
  const { client, server } = await sessionPair(t);
  const before = timers.live();
  const slow = openNodeStream(server, 'web', remote, { openTimeoutMs: 30 });
  const silent = await nextStream(client);
  silent.on('error', () => undefined);
  await t.rejects(slow.opened, { code: 'PRX_ERR_NODE_TIMEOUT' });
  await closed(slow.stream);

  const accepted = nextStream(client);
  const cut = openNodeStream(server, 'web', remote);
  const node = await accepted;
  node.destroy();
  await t.rejects(cut.opened, { code: 'PRX_ERR_MUX_STREAM_RESET' });
  await settle();
  t.ok(timers.live() <= before, 'no timer left behind');
});

t.test('a session that takes no new streams throws its coded error at once', async (t) => {
  const { server } = await sessionPair(t);
  await server.destroy();
  t.throws(() => openNodeStream(server, 'web', remote), { code: 'PRX_ERR_MUX_SESSION_CLOSED' });
});
