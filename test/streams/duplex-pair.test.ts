import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import t from 'tap';
import { duplexPair } from '../../src/streams/duplex-pair.js';
import { closedCleanly } from '../../src/streams/stream-relay.js';
import { patternBytes } from '../fixtures/wire/mux-pair.js';

const closed = (s: NodeJS.EventEmitter & { closed: boolean }) => (s.closed ? Promise.resolve() : once(s, 'close'));

t.test('bytes cross both ways, the same Buffers (no copy), never inside write()', async (t) => {
  const [a, b] = duplexPair();
  const sent = Buffer.from('hello');
  const got: Buffer[] = [];
  b.on('data', (chunk: Buffer) => got.push(chunk));
  a.write(sent);
  t.same(got, [], 'nothing arrives before write() returns');
  await once(b, 'data');
  t.equal(got[0], sent, 'the very Buffer that was written');
  const back = once(a, 'data');
  b.write('world');
  t.equal(String((await back)[0]), 'world');
});

t.test('what was written while corked crosses in one tick, in order, the same Buffers', async (t) => {
  const [a, b] = duplexPair();
  const sent = ['head', 'size', 'bytes', 'crlf'].map((s) => Buffer.from(s));
  const got: Buffer[] = [];
  let inFirstTick: number | undefined;
  b.on('data', (chunk: Buffer) => {
    if (got.push(chunk) === 1) process.nextTick(() => (inFirstTick = got.length));
  });
  a.cork();
  for (const chunk of sent) a.write(chunk);
  process.nextTick(() => a.uncork());
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(inFirstTick, sent.length, 'all four were read before the next tick');
  t.same(got.map(String), ['head', 'size', 'bytes', 'crlf']);
  t.ok(
    got.every((chunk, i) => chunk === sent[i]),
    'the very Buffers that were written',
  );
});

t.test('an end crosses as an end: half-close both ways, and both close cleanly', async (t) => {
  const [a, b] = duplexPair();
  const fromA: Buffer[] = [];
  const fromB: Buffer[] = [];
  a.on('data', (c: Buffer) => fromB.push(c));
  b.on('data', (c: Buffer) => fromA.push(c));
  a.end('request');
  await once(b, 'end');
  t.equal(Buffer.concat(fromA).toString(), 'request');
  t.notOk(a.destroyed, 'a still reads after its end');
  b.end('answer after the end');
  await Promise.all([closed(a), closed(b)]);
  t.equal(Buffer.concat(fromB).toString(), 'answer after the end');
  t.same([closedCleanly(a), closedCleanly(b)], [true, true]);
});

t.test('backpressure: a reader that does not read stops the writer; reading lets it go on; nothing lost', async (t) => {
  const [a, b] = duplexPair();
  const data = patternBytes(4 * 1024 * 1024);
  const piece = 64 * 1024;
  let offset = 0;
  let full = false;
  while (offset < data.length && !full) {
    full = !a.write(data.subarray(offset, offset + piece));
    offset += piece;
  }
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(full, 'write() said stop');
  t.ok(offset < data.length, `stopped after ${offset} of ${data.length} bytes with no reader`);
  t.ok(b.readableLength <= b.readableHighWaterMark + piece, 'the reader holds at most a buffer');
  const hash = createHash('sha256');
  b.on('data', (c: Buffer) => hash.update(c));
  const writing = (async () => {
    while (offset < data.length) {
      if (!a.write(data.subarray(offset, offset + piece))) await once(a, 'drain');
      offset += piece;
    }
    a.end();
  })();
  await Promise.all([writing, once(b, 'end')]);
  t.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
});

t.test('a destroy before both ends crosses as an abrupt close, like a reset', async (t) => {
  const [a, b] = duplexPair();
  b.resume();
  a.write('part of a message');
  await once(b, 'data');
  a.destroy();
  await closed(b);
  t.same([b.destroyed, b.readableEnded, closedCleanly(b)], [true, false, false], 'b closed without an end: not clean');

  const [c, d] = duplexPair();
  d.resume();
  d.end();
  await once(c.resume(), 'end');
  c.destroy();
  await closed(d);
  t.notOk(d.readableEnded, 'a destroy after one direction ended is abrupt too');
});

t.test('node:http serves one end: keep-alive requests, a streamed answer chunk by chunk, the peer address', async (t) => {
  let release = (): void => undefined;
  const server = http.createServer((req, res) => {
    if (req.url === '/stream') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('data: 1\n\n');
      release = () => res.end('data: 2\n\n');
      return;
    }
    res.end(`${req.url} from ${req.socket.remoteAddress}:${req.socket.remotePort}`);
  });
  t.teardown(() => server.close());
  const [client, end] = duplexPair();
  end.remoteAddress = '192.0.2.7';
  end.remotePort = 4321;
  server.emit('connection', end);
  let received = '';
  client.on('data', (c: Buffer) => (received += c.toString()));
  const until = async (text: string): Promise<void> => {
    while (!received.includes(text)) await once(client, 'data');
  };
  client.write('GET /one HTTP/1.1\r\nHost: x\r\n\r\n');
  await until('/one from 192.0.2.7:4321');
  client.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n');
  await until('data: 1');
  t.notOk(received.includes('data: 2'), 'the first event arrived while the second was not yet written');
  release();
  await until('data: 2');
  client.end('GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await Promise.all([closed(client), closed(end)]);
  t.match(received, /\/last from 192\.0\.2\.7/);
  t.same([closedCleanly(client), closedCleanly(end)], [true, true], 'both ends closed cleanly');
});
