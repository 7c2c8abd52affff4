import t, { type Test } from 'tap';
import { type BodySink, OllamaCall } from '../../../src/client/ollama/ollama-call.js';
import { OllamaPool } from '../../../src/client/ollama/ollama-pool.js';
import { type RawOllama, startRawOllama, writeSplit } from '../../fixtures/fakes/ollama/raw-ollama.js';
import { freePort } from '../../fixtures/stacks/tunnel.js';

const REQUEST = Buffer.from('POST /api/chat HTTP/1.1\r\nHost: localhost:11434\r\nContent-Length: 2\r\n\r\n{}', 'latin1');

function pool(t: Test, port: number, options: ConstructorParameters<typeof OllamaPool>[1] = {}): OllamaPool {
  const p = new OllamaPool({ local: { host: '127.0.0.1', port }, hostHeader: `localhost:${port}` }, options);
  t.teardown(() => p.destroy());
  return p;
}

/** Relays a call's body into one buffer; `done` must come exactly once, last. */
async function relayed(call: OllamaCall): Promise<Buffer> {
  const parts: Buffer[] = [];
  let doneSeen = 0;
  const sink: BodySink = (bytes, done) => {
    if (doneSeen > 0) throw new Error('a part after the last');
    parts.push(bytes);
    if (done) doneSeen++;
    return true;
  };
  await call.relay(sink);
  if (doneSeen !== 1) throw new Error(`done seen ${doneSeen} times`);
  return Buffer.concat(parts);
}

/** Waits (polling each turn of the event loop, 5 s at most) until `test` holds. */
async function until(test: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!test()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function answer(ollama: RawOllama, bytes: Buffer, at = bytes.length): Promise<void> {
  const exchange = await ollama.next();
  await writeSplit(exchange.socket, bytes, at);
}

t.test('a chunked answer split at every offset passes as it came, on one kept-alive socket', async (t) => {
  const ollama = await startRawOllama(t);
  const p = pool(t, ollama.port);
  const body = Buffer.from('5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n', 'latin1');
  const response = Buffer.concat([
    Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: a/b\r\n\r\n', 'latin1'),
    body,
  ]);
  for (let at = 0; at <= response.length; at++) {
    const [call] = await Promise.all([OllamaCall.start(p, 'POST', REQUEST), answer(ollama, response, at)]);
    t.equal(call.head.status, 200);
    t.equal(call.framing.kind, 'chunked');
    const got = await relayed(call);
    if (!got.equals(body)) t.fail(`split at ${at}: ${JSON.stringify(got.toString('latin1'))}`);
  }
  t.equal(ollama.connections, 1, `${response.length + 1} answers on one connection`);
  const [call] = await Promise.all([OllamaCall.start(p, 'GET', REQUEST), answer(ollama, response, 17)]);
  t.equal((await call.readWhole(100)).toString(), 'hello, world', 'read whole, the body is decoded');
});

t.test('a length-framed answer with Connection: close, an HTTP/1.0 one and a close-delimited one are not kept', async (t) => {
  const ollama = await startRawOllama(t);
  const p = pool(t, ollama.port);
  const cases: [string, string, string][] = [
    ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello', 'length', 'hello'],
    ['HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello', 'length', 'hello'],
    ['HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end', 'close', 'until the end'],
  ];
  for (const [i, [response, framing, body]] of cases.entries()) {
    const started = OllamaCall.start(p, 'GET', REQUEST);
    const exchange = await ollama.next();
    t.equal(exchange.connection, i, 'a new connection for each: the last one was not kept');
    exchange.socket.write(response);
    if (framing === 'close') exchange.socket.end();
    const call = await started;
    t.equal(call.framing.kind, framing);
    t.equal((await relayed(call)).toString(), body);
    await until(() => p.idleSockets === 0);
  }
});

t.test('a socket Ollama closes while idle leaves the pool at once; the next request dials again', async (t) => {
  const ollama = await startRawOllama(t);
  const p = pool(t, ollama.port);
  const ok = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 'latin1');
  const [first] = await Promise.all([OllamaCall.start(p, 'GET', REQUEST), answer(ollama, ok)]);
  t.equal((await relayed(first)).toString(), 'ok');
  t.equal(p.idleSockets, 1, 'kept');
  ollama.sockets[0]!.end(); // Ollama restarting, or closing an idle connection
  await until(() => p.idleSockets === 0);
  const [second] = await Promise.all([OllamaCall.start(p, 'GET', REQUEST), answer(ollama, ok)]);
  t.equal((await relayed(second)).toString(), 'ok', 'answered on a new connection');
  t.equal(ollama.connections, 2);
});

t.test('an answer cut mid-body rejects and its socket is not kept; a bad head rejects with PRX_ERR_HTTP_BAD_RESPONSE', async (t) => {
  const ollama = await startRawOllama(t);
  const p = pool(t, ollama.port);
  const started = OllamaCall.start(p, 'GET', REQUEST);
  const exchange = await ollama.next();
  exchange.socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel');
  const call = await started;
  const parts: Buffer[] = [];
  const cut = call.relay((bytes) => parts.push(bytes) > 0);
  await until(() => parts.length > 0);
  exchange.socket.resetAndDestroy();
  await t.rejects(cut);
  t.equal(p.idleSockets, 0);
  const early = OllamaCall.start(p, 'GET', REQUEST);
  const second = await ollama.next();
  second.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort');
  const shortCall = await early;
  await t.rejects(relayed(shortCall), { code: 'PRX_ERR_HTTP_BAD_RESPONSE' }, 'a body shorter than its length is a cut answer');
  const bad = OllamaCall.start(p, 'GET', REQUEST);
  (await ollama.next()).socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n');
  await t.rejects(bad, { code: 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING' });
  const garbage = OllamaCall.start(p, 'GET', REQUEST);
  (await ollama.next()).socket.write('SSH-2.0-OpenSSH\r\n\r\n');
  await t.rejects(garbage, { code: 'PRX_ERR_HTTP_BAD_RESPONSE' });
});

t.test('interim answers are skipped; a listing larger than the bound is refused', async (t) => {
  const ollama = await startRawOllama(t);
  const p = pool(t, ollama.port);
  const [call] = await Promise.all([
    OllamaCall.start(p, 'GET', REQUEST),
    answer(ollama, Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc', 'latin1'), 30),
  ]);
  t.equal(call.head.status, 200);
  t.equal((await relayed(call)).toString(), 'abc');
  const [big] = await Promise.all([
    OllamaCall.start(p, 'GET', REQUEST),
    answer(ollama, Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n${'x'.repeat(100)}`, 'latin1')),
  ]);
  await t.rejects(big.readWhole(50), { code: 'PRX_ERR_HTTP_BAD_RESPONSE', message: /more than 50 bytes/ });
});

t.test('an abort cuts the request at once, before the head too; an Ollama that is down fails with the system error', async (t) => {
  const ollama = await startRawOllama(t);
  const p = pool(t, ollama.port);
  const abort = new AbortController();
  const started = OllamaCall.start(p, 'POST', REQUEST, abort.signal);
  const exchange = await ollama.next();
  t.equal(exchange.body.toString(), '{}', 'head and body arrived');
  const closed = new Promise((resolve) => exchange.socket.once('close', resolve));
  abort.abort();
  await t.rejects(started);
  await closed;
  t.pass("Ollama's connection closed");
  const down = pool(t, await freePort());
  await t.rejects(OllamaCall.start(down, 'GET', REQUEST), { code: 'ECONNREFUSED' });
  const limit = new AbortController();
  const timer = setTimeout(() => limit.abort(new DOMException('too slow', 'TimeoutError')), 50);
  t.teardown(() => clearTimeout(timer));
  const timeout = OllamaCall.start(p, 'GET', REQUEST, limit.signal);
  await t.rejects(timeout, { name: 'TimeoutError' }, "the signal's reason is the error");
});

t.test('close() waits for the requests in flight; a closed pool refuses new ones', async (t) => {
  const ollama = await startRawOllama(t);
  const p = pool(t, ollama.port);
  const started = OllamaCall.start(p, 'GET', REQUEST);
  const exchange = await ollama.next();
  let closed = false;
  const closing = p.close().then(() => (closed = true));
  exchange.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const call = await started;
  t.notOk(closed, 'not while a request is in flight');
  t.equal((await relayed(call)).toString(), 'ok');
  await closing;
  await t.rejects(OllamaCall.start(p, 'GET', REQUEST), { code: 'PRX_ERR_TARGET_UNREACHABLE' });
});

t.test(
  'a pool keeps every socket a load had in flight (more than 16), and a sweep closes those no request took since the last',
  async (t) => {
    const ollama = await startRawOllama(t);
    const p = pool(t, ollama.port, { idleSweepMs: 3_600_000 });
    const ok = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 'latin1');
    const wave = async (n: number): Promise<void> => {
      const started = Array.from({ length: n }, () => OllamaCall.start(p, 'GET', REQUEST));
      for (let i = 0; i < n; i++) (await ollama.next()).socket.write(ok);
      for (const call of await Promise.all(started)) t.equal((await relayed(call)).toString(), 'ok');
    };
    await wave(40);
    t.equal(ollama.connections, 40, '40 at once: 40 connections');
    t.equal(p.idleSockets, 40, 'all 40 kept');
    await wave(40);
    t.equal(ollama.connections, 40, 'a second wave of 40 dials nothing');
    p.sweepIdle();
    t.equal(p.idleSockets, 40, 'every socket was taken since the last sweep: none closed');
    await wave(3);
    p.sweepIdle();
    t.equal(p.idleSockets, 3, 'the 37 no request took since are closed');
    const ended = (): number => ollama.sockets.filter((s) => s.readableEnded || s.destroyed).length;
    await until(() => ended() >= 37);
    t.equal(ended(), 37, 'Ollama saw those 37 close');
    await wave(3);
    t.equal(ollama.connections, 40, 'the 3 kept serve the next requests');
    p.sweepIdle();
    p.sweepIdle();
    t.equal(p.idleSockets, 0, 'two sweeps without a request close the rest');
  },
);

t.test('idle sockets are swept on a timer; the timer keeps no process alive and stops with the pool', async (t) => {
  const ollama = await startRawOllama(t);
  const p = pool(t, ollama.port, { idleSweepMs: 20 });
  const ok = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 'latin1');
  const [call] = await Promise.all([OllamaCall.start(p, 'GET', REQUEST), answer(ollama, ok)]);
  t.equal((await relayed(call)).toString(), 'ok');
  t.equal(p.idleSockets, 1);
  await until(() => p.idleSockets === 0);
  await until(() => ollama.sockets[0]!.readableEnded || ollama.sockets[0]!.destroyed);
  t.pass('closed by the sweep, and Ollama saw it');
});

t.test('a body that came whole before relay() was called is handed on whole, a large one too', async (t) => {
  const ollama = await startRawOllama(t);
  const p = pool(t, ollama.port);
  for (const size of [10, 200 * 1024]) {
    const body = Buffer.alloc(size, 'x');
    const started = OllamaCall.start(p, 'GET', REQUEST);
    const exchange = await ollama.next();
    exchange.socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`, 'latin1'), body]));
    const call = await started;
    // Bytes keep arriving before relay(): past 64 KiB the socket is paused until it is called.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    t.ok((await relayed(call)).equals(body), `${size} bytes`);
  }
  t.equal(ollama.connections, 1, 'and the socket is kept for the next request');
});
