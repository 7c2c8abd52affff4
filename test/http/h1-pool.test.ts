import { once } from 'node:events';
import net from 'node:net';
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { Cancel } from '../../src/cancel.js';
import type { DispatchResponse } from '../../src/http/dispatcher.js';
import { H1Pool } from '../../src/http/h1-pool.js';

/** One connection the raw server accepted: what it read so far, and its socket. */
interface RawConnection {
  socket: net.Socket;
  received: Buffer[];
  /** Resolves when the peer's bytes contain `text` (from the start of the connection). */
  receivedText(text: string): Promise<string>;
  closed: Promise<{ reset: boolean; ended: boolean }>;
}

/** A TCP server whose answers the test writes byte by byte. */
async function rawServer(t: Test) {
  const connections: RawConnection[] = [];
  const waiting: ((c: RawConnection) => void)[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const received: Buffer[] = [];
    let ended = false;
    const watchers: (() => void)[] = [];
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      for (const w of watchers.splice(0)) w();
    });
    socket.on('end', () => {
      ended = true;
      socket.end();
    });
    const closed = new Promise<{ reset: boolean; ended: boolean }>((resolve) => {
      let reset = false;
      socket.on('error', () => (reset = true));
      socket.on('close', () => resolve({ reset, ended }));
    });
    const receivedText = (text: string): Promise<string> =>
      new Promise((resolve) => {
        const check = (): void => {
          const all = Buffer.concat(received).toString('latin1');
          if (all.includes(text)) resolve(all);
          else watchers.push(check);
        };
        check();
      });
    const c = { socket, received, receivedText, closed };
    connections.push(c);
    waiting.shift()?.(c);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  t.teardown(() => {
    for (const c of connections) c.socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const pool = (keepAliveMs = 4_000): H1Pool => {
    const p = new H1Pool({
      hostHeader: 'localhost:11434',
      keepAliveMs,
      open: () => {
        const stream = net.connect(port, '127.0.0.1');
        return { stream, opened: once(stream, 'connect') };
      },
    });
    t.teardown(() => p.destroy());
    return p;
  };
  const next = (): Promise<RawConnection> => new Promise((resolve) => waiting.push(resolve));
  const address = async (): Promise<{ port: number }> => ({ port });
  return { connections, pool, next, address };
}

async function text(res: DispatchResponse): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of res.body) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

const OK = (body: string, extra = ''): string =>
  `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n${extra}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

t.test('a request goes with its head in one write; keep-alive reuses one stream for the next', async (t) => {
  const raw = await rawServer(t);
  const pool = raw.pool();
  const arriving = raw.next();
  const first = pool.request({ method: 'POST', path: '/api/chat', headers: { 'x-request-id': 'r1' }, body: Buffer.from('{"a":1}') });
  const c = await arriving;
  const head = await c.receivedText('{"a":1}');
  t.equal(head, 'POST /api/chat HTTP/1.1\r\nhost: localhost:11434\r\nx-request-id: r1\r\ncontent-length: 7\r\n\r\n{"a":1}');
  t.equal(c.received.length, 1, 'the head and the body came in one piece');
  c.socket.write(OK('{"ok":1}', 'X-Twice: a\r\nx-twice: b\r\n'));
  const res = await first;
  t.equal(res.statusCode, 200);
  t.same(res.headers['x-twice'], ['a', 'b'], 'a field on two lines is an array, by lower-case name');
  t.equal(res.headers['content-type'], 'application/json');
  t.equal(await text(res), '{"ok":1}');

  const second = pool.request({ method: 'GET', path: '/api/tags' });
  await c.receivedText('GET /api/tags HTTP/1.1\r\nhost: localhost:11434\r\n\r\n');
  c.socket.write(OK('{"models":[]}'));
  t.equal(await text(await second), '{"models":[]}');
  t.equal(raw.connections.length, 1, 'one stream served both');
  t.equal(pool.connections, 1);
});

t.test('1xx heads are skipped; a close-delimited body ends with the stream, which is not reused', async (t) => {
  const raw = await rawServer(t);
  const pool = raw.pool();
  const arriving = raw.next();
  const pending = pool.request({ method: 'POST', path: '/x', body: 'hé' });
  const c = await arriving;
  t.match(await c.receivedText('h\xc3\xa9'), /content-length: 3\r\n/, 'Content-Length counts UTF-8 bytes');
  c.socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\n\r\nall of ');
  const res = await pending;
  t.equal(res.statusCode, 201);
  c.socket.end('it');
  t.equal(await text(res), 'all of it');
  await c.closed;
  const again = raw.next();
  const second = pool.request({ method: 'GET', path: '/y' });
  const c2 = await again;
  await c2.receivedText('\r\n\r\n');
  c2.socket.write(OK('2'));
  t.equal(await text(await second), '2');
  t.equal(raw.connections.length, 2, 'a new stream for the next request');
});

t.test('a chunked body is decoded for the caller, however the node cuts it', async (t) => {
  const raw = await rawServer(t);
  const pool = raw.pool();
  const arriving = raw.next();
  const pending = pool.request({ method: 'GET', path: '/s' });
  const c = await arriving;
  await c.receivedText('\r\n\r\n');
  c.socket.setNoDelay(true);
  const answer = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-T: 1\r\n\r\n';
  // One byte per write, each after the client read the one before: every cut of the answer.
  const res = new Promise<DispatchResponse>((resolve) => void pending.then(resolve));
  for (const byte of Buffer.from(answer, 'latin1')) {
    c.socket.write(Buffer.from([byte]));
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.equal(await text(await res), 'hello world');
  const second = pool.request({ method: 'GET', path: '/again' });
  await c.receivedText('/again');
  c.socket.write(OK('ok'));
  t.equal(await text(await second), 'ok', 'the stream is reused after a chunked answer');
});

t.test("the chunks of one read reach the caller as one piece: a stream's tokens, one 'data' each read", async (t) => {
  const raw = await rawServer(t);
  const pool = raw.pool();
  const arriving = raw.next();
  const pending = pool.request({ method: 'GET', path: '/s' });
  const c = await arriving;
  await c.receivedText('\r\n\r\n');
  const events = ['data: a\n\n', 'data: bb\n\n', 'data: ccc\n\n'];
  const chunks = events.map((e) => `${e.length.toString(16)}\r\n${e}\r\n`).join('');
  c.socket.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`); // one write, one read
  const res = await pending;
  const pieces: string[] = [];
  res.body.on('data', (piece: Buffer) => pieces.push(piece.toString('utf8'))); // flowing: one entry per push
  await once(res.body, 'end');
  t.same(pieces, [events.join('')], 'three chunks, one piece');
});

t.test('a stream cut mid-body errors the body; an aborted request resets its stream', async (t) => {
  const raw = await rawServer(t);
  const pool = raw.pool();
  let arriving = raw.next();
  const pending = pool.request({ method: 'GET', path: '/cut' });
  let c = await arriving;
  await c.receivedText('\r\n\r\n');
  c.socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten..');
  const res = await pending;
  c.socket.end();
  await t.rejects(text(res), /ended the stream before the answer was complete/);

  arriving = raw.next();
  const controller = new AbortController();
  const waiting = pool.request({ method: 'GET', path: '/slow', signal: controller.signal });
  c = await arriving;
  await c.receivedText('\r\n\r\n');
  controller.abort(new Error('the user left'));
  await t.rejects(waiting, /the user left/);
  t.match(await c.closed, { ended: false }, 'the node sees its request cut, not ended');

  arriving = raw.next();
  // A Cancel (what the API's requests carry) as well as an AbortSignal.
  const mid = new Cancel();
  const streaming = pool.request({ method: 'GET', path: '/stream', signal: mid });
  c = await arriving;
  await c.receivedText('\r\n\r\n');
  c.socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n');
  const body = (await streaming).body;
  await once(body, 'readable');
  mid.abort(new Error('timeout'));
  await t.rejects(text({ statusCode: 200, headers: {}, body }), /timeout/);
  t.match(await c.closed, { ended: false });
});

t.test('a body dropped before its end resets its stream: the next request opens another', async (t) => {
  const raw = await rawServer(t);
  const pool = raw.pool();
  const arriving = raw.next();
  const pending = pool.request({ method: 'GET', path: '/big' });
  const c = await arriving;
  await c.receivedText('\r\n\r\n');
  c.socket.write('HTTP/1.1 503 Busy\r\ncontent-length: 10\r\n\r\n12345');
  const res = await pending;
  t.equal(res.statusCode, 503);
  res.body.on('error', () => undefined);
  res.body.destroy();
  t.match(await c.closed, { ended: false }, 'reset, not kept');
  const again = raw.next();
  const second = pool.request({ method: 'GET', path: '/next' });
  const c2 = await again;
  await c2.receivedText('\r\n\r\n');
  c2.socket.write(OK('fresh'));
  t.equal(await text(await second), 'fresh');
});

t.test('malformed answers are refused', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['an oversize head', `HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(70 * 1024)}\r\n\r\n`, /exceeds 65536 bytes/],
    [
      'both lengths',
      'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n',
      /both Content-Length and Transfer-Encoding/,
    ],
    ['a bad status line', 'HTTP/1.1 2000 OK\r\n\r\n', /malformed status line/],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n', /invalid chunk size/],
    ['a long chunk line', `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1;${'a'.repeat(2000)}`, /chunk size line too long/],
    ['bytes with no request', 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK\r\n', /./],
  ];
  for (const [name, answer, message] of cases) {
    const raw = await rawServer(t);
    const pool = raw.pool();
    const arriving = raw.next();
    const pending = pool.request({ method: 'GET', path: '/' });
    const c = await arriving;
    await c.receivedText('\r\n\r\n');
    c.socket.write(answer);
    const outcome = await pending
      .then((res) => text(res))
      .then(
        () => 'complete',
        (err: Error) => err,
      );
    if (name === 'bytes with no request') {
      t.equal(outcome, 'complete', `${name}: the answer itself is whole`);
    } else {
      t.match(outcome, { message }, name);
      t.notOk(outcome instanceof Error && 'code' in outcome, `${name}: a plain error, as any failure on the way to a node`);
    }
    t.match(await c.closed, { ended: false }, `${name}: the stream is reset`);
    t.equal(pool.connections, 0);
  }
});

t.test('streamed request bodies: with the caller Content-Length, or chunked', async (t) => {
  const raw = await rawServer(t);
  const pool = raw.pool();
  const arriving = raw.next();
  const sized = pool.request({
    method: 'POST',
    path: '/a',
    headers: { 'content-length': '6' },
    body: Readable.from([Buffer.from('abc'), Buffer.from('def')]),
  });
  const c = await arriving;
  t.match(await c.receivedText('abcdef'), /content-length: 6\r\n\r\nabcdef$/);
  c.socket.write(OK('1'));
  t.equal(await text(await sized), '1');
  const chunked = pool.request({ method: 'POST', path: '/b', body: Readable.from([Buffer.from('xy'), Buffer.from('z')]) });
  t.match(await c.receivedText('0\r\n\r\n'), /transfer-encoding: chunked\r\n\r\n2\r\nxy\r\n1\r\nz\r\n0\r\n\r\n$/);
  c.socket.write(OK('2'));
  t.equal(await text(await chunked), '2');
  t.equal(raw.connections.length, 1);
  await t.rejects(pool.request({ method: 'GET', path: '/', headers: { 'x-evil': 'a\r\nx-injected: 1' } }), TypeError);
  await t.rejects(pool.request({ method: 'GET', path: 'http://x/ y' }), TypeError);
});

t.test('idle streams end after keepAliveMs; close() ends idle ones now and busy ones after their answer', async (t) => {
  const raw = await rawServer(t);
  const short = raw.pool(50);
  let arriving = raw.next();
  const one = short.request({ method: 'GET', path: '/' });
  let c = await arriving;
  await c.receivedText('\r\n\r\n');
  c.socket.write(OK('k'));
  await text(await one);
  const disconnected = once(short, 'disconnect');
  t.match(await c.closed, { ended: true, reset: false }, 'the idle stream ended after its keep-alive');
  await disconnected;

  const pool = raw.pool();
  arriving = raw.next();
  const idleOne = pool.request({ method: 'GET', path: '/' });
  const idle = await arriving;
  await idle.receivedText('\r\n\r\n');
  idle.socket.write(OK('i'));
  await text(await idleOne);
  arriving = raw.next();
  const first = pool.request({ method: 'GET', path: '/' }); // reuses the idle one
  const busyOne = pool.request({ method: 'GET', path: '/' });
  c = await arriving;
  await c.receivedText('\r\n\r\n');
  await idle.receivedText('GET / HTTP/1.1\r\nhost: localhost:11434\r\n\r\nGET /');
  idle.socket.write(OK('f'));
  await text(await first);
  let closedDone = false;
  const closing = pool.close().then(() => (closedDone = true));
  t.match(await idle.closed, { ended: true }, 'the idle stream ended at once');
  t.notOk(closedDone, 'close() waits for the busy stream');
  await t.rejects(pool.request({ method: 'GET', path: '/' }), { name: 'ClientClosedError' });
  c.socket.write(OK('b'));
  t.equal(await text(await busyOne), 'b', 'the busy one got its answer');
  await closing;
  t.match(await c.closed, { ended: true }, 'then ended');

  const cut = raw.pool();
  arriving = raw.next();
  const hanging = cut.request({ method: 'GET', path: '/' });
  c = await arriving;
  await c.receivedText('\r\n\r\n');
  await cut.destroy();
  await t.rejects(hanging, { name: 'ClientDestroyedError' });
  t.match(await c.closed, { ended: false }, 'destroy() cuts busy streams');
});

t.test('a request waits for its stream to open; a stream that ends before the answer rejects it', async (t) => {
  const raw = await rawServer(t);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const { port } = await raw.address();
  let opened: net.Socket | undefined;
  const pool = new H1Pool({
    hostHeader: 'h',
    keepAliveMs: 4_000,
    open: () => {
      const socket = net.connect(port, '127.0.0.1');
      opened = socket;
      return { stream: socket, opened: once(socket, 'connect').then(() => gate) };
    },
  });
  t.teardown(() => pool.destroy());
  const arriving = raw.next();
  const pending = pool.request({ method: 'POST', path: '/wait', body: 'x' });
  const c = await arriving;
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  t.equal(opened!.bytesWritten + opened!.writableLength, 0, 'connected, but nothing written before opened');
  release();
  await c.receivedText('\r\n\r\nx');
  c.socket.end();
  await t.rejects(pending, /ended the stream before the answer was complete/);
  t.equal(pool.connections, 0);
});
