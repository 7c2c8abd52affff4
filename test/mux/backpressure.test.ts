import { once } from 'node:events';
import type { Socket } from 'node:net';
import t from 'tap';
import { FrameDecoder } from '../../src/mux/decoder.js';
import { FrameType, INITIAL_WINDOW_BYTES } from '../../src/mux/frame.js';
import { FLUSH_NOW_BYTES } from '../../src/mux/frame-writer.js';
import type { MuxStream } from '../../src/mux/index.js';
import { until } from '../fixtures/timers.js';
import { closed, nextStream, patternBytes, readAll, sessionPair, writeRepeated } from '../fixtures/wire/mux-pair.js';

/** Writes until write() returns false; returns the bytes accepted. */
function fillUntilFalse(stream: MuxStream, chunk: Buffer): number {
  let accepted = 0;
  for (;;) {
    accepted += chunk.length;
    if (!stream.write(chunk)) return accepted;
  }
}

/**
 * Everything written so far has reached the peer and been handled: the data flush happens on the
 * next tick, and a ping sent after it is answered only after the peer decoded what preceded it.
 */
async function barrier(session: { ping(): Promise<number> }): Promise<void> {
  await new Promise((r) => setImmediate(r));
  await session.ping();
}

t.test('a paused reader stops the writer after one window, holds memory, and loses nothing', async (t) => {
  const { client, server } = await sessionPair(t);
  const accepted = nextStream(server);
  const stream = client.open();
  const remote = await accepted;
  remote.pause(); // the reader never asks for data
  const before = process.memoryUsage().arrayBuffers;
  const chunk = patternBytes(16 * 1024);
  const took = fillUntilFalse(stream, chunk);
  t.ok(took >= INITIAL_WINDOW_BYTES, `write() accepted the window before returning false (${took})`);
  t.ok(took <= INITIAL_WINDOW_BYTES + stream.writableHighWaterMark + chunk.length, 'and not much more');
  await barrier(client);
  t.equal(remote.windows.recv, 0, 'the peer window is spent');
  t.equal(stream.windows.send, 0, 'the sender knows it');
  // Further writes only queue in the writer's Writable buffer, as with a socket.
  for (let i = 0; i < 4; i++) t.notOk(stream.write(chunk));
  await barrier(client);
  t.equal(remote.readableLength + remote.windows.recv, remote.readableLength, 'no byte beyond the window arrived');
  const grown = process.memoryUsage().arrayBuffers - before;
  t.ok(grown < 2 * INITIAL_WINDOW_BYTES + 512 * 1024, `memory grew by ${grown} bytes, about the window`);
  const total = took + 4 * chunk.length;
  stream.end();
  remote.resume();
  const got = await readAll(remote);
  t.equal(got.bytes, total, 'after resuming every byte arrives');
  remote.end();
  stream.resume();
  await closed(stream);
});

t.test('a grown window bounds a paused reader too', async (t) => {
  const maxWindowBytes = 4 * 1024 * 1024;
  const { client, server } = await sessionPair(t, { maxWindowBytes });
  const accepted = nextStream(server);
  const stream = client.open();
  const remote = await accepted;
  let received = 0;
  const phaseOne = 48 * 1024 * 1024;
  const fast = new Promise<void>((resolve) =>
    remote.on('data', (d: Buffer) => {
      received += d.length;
      if (received === phaseOne) resolve();
    }),
  );
  await writeRepeated(stream, patternBytes(256 * 1024), phaseOne, false);
  await fast;
  t.equal(remote.windows.target, maxWindowBytes, 'a fast reader grew the window to its maximum, not beyond');
  remote.removeAllListeners('data');
  remote.pause();
  const before = process.memoryUsage().arrayBuffers;
  const chunk = patternBytes(64 * 1024);
  // Write until the peer's window is spent. 'drain' alone would not do: once the window runs out
  // with a write still queued, the stream never drains, so wait for whichever comes first.
  while (stream.windows.send > 0) {
    fillUntilFalse(stream, chunk);
    await until(() => stream.windows.send === 0 || !stream.writableNeedDrain);
  }
  await barrier(client);
  const buffered = remote.readableLength + remote.heldBytes;
  t.ok(buffered <= maxWindowBytes, `the paused reader holds ${buffered} bytes, at most one window`);
  const grown = process.memoryUsage().arrayBuffers - before;
  t.ok(grown <= 2 * maxWindowBytes, `memory grew by ${grown}, under twice the window`);
  t.equal(remote.windows.target, INITIAL_WINDOW_BYTES, 'the reader fell behind: its window shrank back to the initial one');
  remote.resume();
  await until(() => remote.readableLength + remote.heldBytes === 0);
  await barrier(server);
  await barrier(client);
  // Unshrunk, catching up would grant the window back (the sender could send 4 MiB again).
  t.ok(
    stream.windows.send <= maxWindowBytes / 2,
    `the reader caught up and the sender may send ${stream.windows.send} bytes: no grant while the shrink is paid off`,
  );
  stream.end();
  await once(remote, 'end');
  remote.end();
  stream.resume();
  await closed(stream);
});

t.test("the socket's own backpressure reaches every stream's write()", async (t) => {
  const sendBufferBytes = 64 * 1024;
  const { client, server, sockets } = await sessionPair(t, { sendBufferBytes });
  sockets.server.pause(); // the peer stops reading the connection entirely
  const streams = Array.from({ length: 100 }, () => client.open());
  const socket = sockets.client as Socket;
  const chunk = patternBytes(32 * 1024);
  const accepted = streams.map((s) => fillUntilFalse(s, chunk));
  await until(() => socket.writableLength >= sendBufferBytes);
  for (let i = 0; i < 200; i++) await new Promise((r) => setImmediate(r));
  t.ok(
    socket.writableLength <= sendBufferBytes + client.options.maxFrameBytes + 4096,
    `the socket buffer stays bounded (${socket.writableLength} bytes)`,
  );
  t.ok(
    streams.every((s) => s.writableNeedDrain),
    'every stream is waiting for drain',
  );
  // Resume: every byte of every stream arrives.
  const results = new Map<number, Promise<{ bytes: number }>>();
  server.on('stream', (s) => {
    results.set(s.id, readAll(s));
    s.end();
  });
  sockets.server.resume();
  for (const s of streams) s.end();
  await until(() => results.size === streams.length);
  const got = await Promise.all(streams.map((s) => results.get(s.id)!));
  t.same(
    got.map((g) => g.bytes),
    accepted,
    'each stream delivered all it accepted',
  );
  await client.close();
});

t.test("small frames wait for the end of the turn; a read's worth of data goes at once", async (t) => {
  const { client, server, sockets } = await sessionPair(t);
  const socket = sockets.client as Socket;
  const done: Promise<{ bytes: number }>[] = [];
  server.on('stream', (s) => {
    done.push(readAll(s));
    s.end();
  });
  const streams = Array.from({ length: 10 }, () => client.open());
  await new Promise((r) => setImmediate(r)); // whatever opening them wrote is out
  let before = socket.bytesWritten;
  for (const s of streams) s.write(patternBytes(100));
  await new Promise((r) => process.nextTick(r));
  t.equal(socket.bytesWritten, before, 'ten small writes: nothing on the socket on the next tick');
  await new Promise((r) => setImmediate(r));
  t.ok(socket.bytesWritten - before >= 10 * (12 + 100), `all ten at the end of the turn (${socket.bytesWritten - before} bytes)`);
  before = socket.bytesWritten;
  streams[0]!.write(patternBytes(FLUSH_NOW_BYTES));
  await new Promise((r) => process.nextTick(r));
  t.ok(socket.bytesWritten - before >= FLUSH_NOW_BYTES, "a read's worth of data is on the socket on the next tick");
  for (const s of streams) s.end();
  await until(() => done.length === streams.length);
  t.same(
    (await Promise.all(done)).map((d) => d.bytes).sort((a, b) => b - a),
    [FLUSH_NOW_BYTES + 100, ...Array(9).fill(100)],
    'and every byte arrives',
  );
  await client.close();
});

t.test('frames of different streams interleave: a small message is not stuck behind an upload', async (t) => {
  const { client, server, sockets } = await sessionPair(t);
  // Decode what the client really writes to the socket, in order.
  const order: { streamId: number; length: number }[] = [];
  const spy = new FrameDecoder({
    onHeader: (h) => {
      if (h.type === FrameType.Data && h.length > 0) order.push({ streamId: h.streamId, length: h.length });
    },
    onData() {},
    onFrameEnd() {},
  });
  const write = sockets.client.write.bind(sockets.client) as (b: Buffer) => boolean;
  (sockets.client as unknown as { write: (b: Buffer) => boolean }).write = (b: Buffer) => {
    spy.push(b);
    return write(b);
  };
  server.on('stream', (s) => {
    s.on('error', () => undefined); // the upload is reset at the end
    s.on('end', () => s.end());
    s.resume();
  });
  const upload = client.open();
  const chat = client.open();
  const uploading = writeRepeated(upload, patternBytes(1024 * 1024), 64 * 1024 * 1024);
  await new Promise((r) => setImmediate(r));
  const mark = order.length;
  chat.end(Buffer.from('{"role":"user","content":"hi"}'));
  await once(chat, 'finish');
  const chatAt = order.findIndex((f, i) => i >= mark && f.streamId === chat.id);
  const between = order.slice(mark, chatAt).filter((f) => f.streamId === upload.id);
  t.ok(chatAt >= mark, 'the chat frame was written');
  t.ok(between.length <= 1, `at most one upload frame went out before it (saw ${between.length})`);
  t.ok(
    between.every((f) => f.length <= client.options.maxFrameBytes),
    'frames are bounded in size',
  );
  upload.destroy();
  await uploading.catch(() => undefined);
  chat.resume();
  await closed(chat);
});

t.test('window updates never stall a stream whose reader pauses and reads at random', async (t) => {
  const { client, server } = await sessionPair(t, { maxWindowBytes: 1024 * 1024 });
  const accepted = nextStream(server);
  const stream = client.open();
  const total = 24 * 1024 * 1024 + 7;
  const sending = writeRepeated(stream, patternBytes(100_003), total);
  const remote = await accepted;
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const hash = (await import('node:crypto')).createHash('sha256');
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    remote.on('error', reject);
    remote.on('end', resolve);
    // Reads in random sizes and pauses at random. It waits for 'readable' only after read()
    // returned null: Node emits 'readable' again only once the buffer has been drained.
    const step = (): void => {
      for (;;) {
        const want = 1 + rand(300_000);
        const chunk: Buffer | null = remote.read(Math.min(want, remote.readableLength || want));
        if (chunk === null) {
          remote.once('readable', step);
          return;
        }
        hash.update(chunk);
        bytes += chunk.length;
        if (rand(4) === 0) {
          setImmediate(step); // stop reading for a turn of the loop
          return;
        }
      }
    };
    remote.once('readable', step);
  });
  t.equal(bytes, total);
  t.equal(hash.digest('hex'), await sending);
  remote.end();
  stream.resume();
  await closed(stream);
});
