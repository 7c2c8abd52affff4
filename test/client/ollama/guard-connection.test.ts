import { once } from 'node:events';
import { Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import { Cancel } from '../../../src/cancel.js';
import { GuardRequest } from '../../../src/client/ollama/guard-connection.js';
import { OllamaGuard } from '../../../src/client/ollama/ollama-guard.js';
import { parseRequestHead } from '../../../src/proto/http/request-head.js';
import { duplexPair } from '../../../src/streams/duplex-pair.js';
import { startRawOllama } from '../../fixtures/fakes/ollama/raw-ollama.js';

/**
 * The guard on one stream, as the super node sees it: `stream` is the super node's end (raw bytes
 * in and out), Ollama is a bare TCP server answering what each test says.
 */
async function guardedStream(t: Test, options: { idleTimeoutMs?: number } = {}) {
  const ollama = await startRawOllama(t);
  const guard = new OllamaGuard({
    service: { name: 'ollama', local: { host: '127.0.0.1', port: ollama.port }, hostHeader: `localhost:${ollama.port}`, share: '*' },
    ...options,
  });
  const [stream, nodeEnd] = duplexPair();
  const served = guard.serve(nodeEnd);
  const parts: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => parts.push(chunk));
  stream.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => stream.once('end', resolve));
  t.teardown(async () => {
    await guard.destroy();
    stream.destroy();
    await served;
  });
  return {
    ollama,
    stream,
    nodeEnd,
    ended,
    received: () => Buffer.concat(parts).toString('latin1'),
    /** Resolves once what the stream received contains `text` `times` times. */
    waitFor: async (text: string, times = 1): Promise<string> => {
      for (;;) {
        const all = Buffer.concat(parts).toString('latin1');
        if (all.split(text).length - 1 >= times) return all;
        await once(stream, 'data');
      }
    },
  };
}

const chat = (body = '{"model":"llama3.2","stream":true}') =>
  `POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

t.test("Ollama's chunked answer reaches the stream byte for byte; only its connection fields go", async (t) => {
  const { ollama, stream, waitFor } = await guardedStream(t);
  stream.write(chat());
  const exchange = await ollama.next();
  t.match(exchange.head, /^POST \/api\/chat HTTP\/1\.1\r\nHost: localhost:\d+\r\nContent-Length: 34\r\n\r\n$/, 'the edited head');
  const body = '3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n';
  exchange.socket.write(
    `HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
  );
  const all = await waitFor('X-T: 1\r\n\r\n');
  t.equal(all, `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
});

t.test('a close-delimited answer is re-framed as chunked, and the stream serves the next request', async (t) => {
  const { ollama, stream, waitFor } = await guardedStream(t);
  stream.write(chat());
  const first = await ollama.next();
  first.socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ');
  await waitFor('hello ');
  first.socket.end('world');
  const all = await waitFor('0\r\n\r\n');
  t.equal(all, 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n');
  stream.write('GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n');
  const second = await ollama.next();
  t.equal(second.connection, 1, 'a new connection: the close-delimited one ended');
  second.socket.write('HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
  const again = await waitFor('ok');
  t.match(
    again.slice(all.length),
    /^HTTP\/1\.1 200 OK\r\nContent-Length: 2\r\n\r\nok$/,
    'an HTTP/1.0 answer as 1.1, Connection: close dropped',
  );
  stream.write('GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n');
  t.equal((await ollama.next()).connection, 2, 'and its connection was not kept either');
});

t.test('pipelined requests are answered in order, on one kept Ollama connection', async (t) => {
  const { ollama, stream, waitFor } = await guardedStream(t);
  stream.write(chat() + chat('{"model":"llama3.2"}') + 'GET /api/tags HTTP/1.1\r\nHost: x\r\n\r\n');
  for (const body of ['one', 'two', 'three']) {
    const exchange = await ollama.next();
    t.equal(exchange.connection, 0);
    exchange.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  }
  const all = await waitFor('three');
  t.equal(all.match(/HTTP\/1\.1 200 OK/g)?.length, 3);
  t.ok(all.indexOf('one') < all.indexOf('two') && all.indexOf('two') < all.indexOf('three'));
});

t.test('bodies reach Ollama byte for byte: whole behind their heads, pipelined, and in pieces', async (t) => {
  const { ollama, stream, waitFor } = await guardedStream(t);
  const bodies = ['{"model":"llama3.2","n":1}', '{"model":"llama3.2","n":22}', '{"model":"llama3.2","n":333}'];
  stream.write(chat(bodies[0]) + chat(bodies[1]));
  const pieces = chat(bodies[2]);
  stream.write(pieces.slice(0, pieces.length - 10));
  for (const [i, body] of bodies.entries()) {
    const exchange = await ollama.next();
    t.equal(exchange.body.toString(), body, `body ${i}`);
    if (i === 1) stream.write(pieces.slice(pieces.length - 10)); // the third body's last bytes come later
    exchange.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nok-${i}`);
  }
  await waitFor('ok-2');
  t.equal(ollama.connections, 1);
});

t.test('bad heads get 400 or 431 and the stream ends; Ollama sees nothing', async (t) => {
  const cases: [string, RegExp][] = [
    [
      'GET /api/tags HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
      /^HTTP\/1\.1 400 .*PRX_ERR_HTTP_AMBIGUOUS_FRAMING/s,
    ],
    ['GET /api/tags HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['GET /api/tags HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n', /^HTTP\/1\.1 400 /],
    ['GET /api/tags HTTP/1.1\r\nHost : x\r\n\r\n', /^HTTP\/1\.1 400 .*PRX_ERR_HTTP_BAD_REQUEST/s],
    ['BREW /api/tags HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400 /],
    [`GET /api/tags HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(1024 * 1024)}\r\n\r\n`, /^HTTP\/1\.1 431 .*PRX_ERR_HTTP_HEAD_TOO_LARGE/s],
    [
      'POST /api/chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      /^HTTP\/1\.1 400 .*"error":"the request body could not be read"/s,
    ],
  ];
  for (const [request, expected] of cases) {
    const { ollama, stream, ended, received } = await guardedStream(t);
    stream.write(request);
    await ended;
    t.match(received(), expected, JSON.stringify(request.slice(0, 60)));
    t.equal(ollama.connections, 0);
  }
});

t.test('a stream ended while Ollama answers cuts the request to Ollama; one idle too long is ended', async (t) => {
  const { ollama, stream } = await guardedStream(t);
  stream.write(chat());
  const exchange = await ollama.next();
  exchange.socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
  const closed = new Promise((resolve) => exchange.socket.once('close', resolve)); // after a reset too
  stream.end();
  await closed;
  t.pass("Ollama's connection closed when the user left");
  const idle = await guardedStream(t, { idleTimeoutMs: 50 });
  idle.stream.write('GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n');
  (await idle.ollama.next()).socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  await idle.ended;
  t.match(idle.received(), /^HTTP\/1\.1 200 OK\r\nContent-Length: 2\r\n\r\nok$/, 'answered, then ended once idle');
});

t.test('backpressure: Ollama is not read further while the stream cannot take more', async (t) => {
  const { ollama, stream, nodeEnd, waitFor } = await guardedStream(t);
  stream.pause();
  stream.write(chat());
  const exchange = await ollama.next();
  const chunk = Buffer.concat([Buffer.from('40000\r\n'), Buffer.alloc(0x40000, 97), Buffer.from('\r\n')]);
  exchange.socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
  for (let i = 0; i < 32; i++) exchange.socket.write(chunk); // 8 MiB
  exchange.socket.write('0\r\n\r\n');
  // 500 turns of the event loop: plenty for 8 MiB over loopback, were the guard reading it all.
  for (let turn = 0; turn < 500 && exchange.socket.writableLength > 0; turn++) await new Promise((resolve) => setImmediate(resolve));
  t.ok(exchange.socket.writableLength > 0, `Ollama still holds ${exchange.socket.writableLength} bytes it could not send`);
  t.ok(nodeEnd.writableLength < 2 * 1024 * 1024, `the guard holds ${nodeEnd.writableLength} bytes for the stream`);
  stream.resume();
  await waitFor('\r\n0\r\n\r\n');
  t.pass('all of it arrives once read');
});

t.test('an answer that came with its head goes out behind it as it came, not copied into one buffer', async (t) => {
  const writes: Buffer[] = [];
  // Each write completes on the next turn, and 4 bytes fill the stream: sendHead must report "wait".
  const stream = new Duplex({
    highWaterMark: 4,
    read: () => undefined,
    write: (chunk: Buffer, _enc, done) => {
      writes.push(chunk);
      setImmediate(done);
    },
  });
  t.teardown(() => void stream.destroy());
  const head = parseRequestHead(Buffer.from('POST /api/chat HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1'));
  const cancel = new Cancel();
  const request = new GuardRequest(head, stream, cancel, async () => Buffer.alloc(0));
  const answerHead = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', 'latin1');
  const first = Buffer.from('hello');
  t.equal(request.sendHead(200, answerHead, first), false, 'the backpressure is reported');
  t.equal(stream.writableLength, answerHead.length + first.length, 'both written in this turn of the event loop');
  t.equal(request.status, 200);
  t.ok(request.headSent);
  await once(stream, 'drain');
  t.equal(writes.length, 2);
  t.equal(writes[0], answerHead, 'the head as serialised');
  t.equal(writes[1], first, 'the body bytes themselves: no copy');
  writes.length = 0;
  const alone = new GuardRequest(head, stream, cancel, async () => Buffer.alloc(0));
  alone.sendHead(200, answerHead, Buffer.alloc(0));
  await once(stream, 'drain');
  t.same(writes, [answerHead], 'without body bytes, the head alone');
});
