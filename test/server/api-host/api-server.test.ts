/**
 * The API leg: requests for the API host are read by the public connection and handed to the API
 * with a response that writes to the user's socket, streaming included.
 */

import t from 'tap';
import type { HttpRequest, HttpResponse } from '../../../src/http/exchange.js';
import { parseResponses, rawConnect, startTunnel } from '../../fixtures/stacks/tunnel.js';

const get = (host: string, path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;

/** An API whose answers write one event at a time, each only once the test calls `next()`. */
function steppedApi() {
  let step: (() => void) | undefined;
  let closed!: (finished: boolean) => void;
  const api = (req: HttpRequest, res: HttpResponse): void => {
    const kind = req.url!.slice(1);
    res.writeHead(200, { 'Content-Type': kind === 'sse' ? 'text/event-stream' : 'application/x-ndjson' });
    res.once('close', () => closed(res.writableFinished));
    let seq = 0;
    const write = (): void => {
      const event = `{"${kind}":${seq}}`;
      res.write(kind === 'sse' ? `data: ${event}\n\n` : `${event}\n`);
      if (++seq === 4) res.end();
      else step = write;
    };
    write();
  };
  const closing = () => new Promise<boolean>((resolve) => (closed = resolve));
  return { api, next: () => step?.(), closing };
}

for (const trustProxy of [false, true]) {
  t.test(`SSE and NDJSON from the API arrive chunk by chunk${trustProxy ? ' (trustProxy)' : ''}`, async (t) => {
    const stepped = steppedApi();
    const tunnel = await startTunnel(t, { api: stepped.api, listener: { trustProxy } });
    const conn = await rawConnect(t, tunnel.port);
    for (const kind of ['sse', 'ndjson']) {
      const done = stepped.closing();
      conn.socket.write(get(tunnel.domain, `/${kind}`));
      for (let seq = 0; seq < 4; seq++) {
        const text = (await conn.waitFor(`{"${kind}":${seq}}`)).toString();
        t.notOk(text.includes(`{"${kind}":${seq + 1}}`), `${kind} ${seq}: arrived before the next was written`);
        stepped.next(); // a chunk held back anywhere would keep this loop waiting
      }
      t.ok(await done, `${kind}: the answer finished`);
    }
    conn.socket.end();
    const responses = parseResponses((await conn.closed).bytes);
    t.same(
      responses.map((r) => [r.status, r.header('content-type'), r.complete]),
      [
        [200, 'text/event-stream', true],
        [200, 'application/x-ndjson', true],
      ],
      'two complete answers on one keep-alive connection',
    );
  });
}

t.test('a client that leaves mid-answer cancels the API request', async (t) => {
  const stepped = steppedApi();
  const tunnel = await startTunnel(t, { api: stepped.api });
  const conn = await rawConnect(t, tunnel.port);
  const done = stepped.closing();
  conn.socket.write(get(tunnel.domain, '/sse'));
  await conn.waitFor('{"sse":0}');
  conn.socket.resetAndDestroy(); // a FIN alone could be a half-close: the answer would still be wanted
  t.equal(await done, false, "the API's response closed before it finished");
});

t.test("a client's end (FIN) cancels the API's work in flight, as node:http always did", async (t) => {
  let arrived!: (res: HttpResponse) => void;
  const waiting = new Promise<HttpResponse>((resolve) => (arrived = resolve));
  const tunnel = await startTunnel(t, { api: (_req, res) => arrived(res) }); // answers nothing
  const conn = await rawConnect(t, tunnel.port);
  conn.socket.end(get(tunnel.domain, '/slow'));
  const res = await waiting;
  if (!res.closed) await new Promise((resolve) => res.once('close', resolve));
  t.notOk(res.writableFinished, "the API's response was closed unanswered");
  const { bytes, reset } = await conn.closed;
  t.same([bytes.length, reset], [0, false], 'the connection closed, nothing said');
});

t.test("the API sees the client's address; a body reaches it untouched; its Connection: close closes the connection", async (t) => {
  const tunnel = await startTunnel(t, {
    api: (req, res) => {
      const parts: Buffer[] = [];
      req
        .on('data', (c: Buffer) => parts.push(c))
        .on('end', () => {
          if (req.url === '/bye') res.setHeader('Connection', 'close');
          res.end(`${req.method} ${req.url} from ${req.socket.remoteAddress} body ${Buffer.concat(parts).toString()}`);
        });
    },
  });
  const conn = await rawConnect(t, tunnel.port);
  conn.socket.write(`POST /nodes HTTP/1.1\r\nHost: ${tunnel.domain}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`);
  await conn.waitFor('body abc');
  conn.socket.write(get(tunnel.domain, '/bye') + get(tunnel.domain, '/never'));
  const { bytes, reset } = await conn.closed;
  t.same(
    parseResponses(bytes).map((r) => r.text),
    ['POST /nodes from 127.0.0.1 body abc', 'GET /bye from 127.0.0.1 body '],
    'nothing after the close',
  );
  t.notOk(reset);
});

t.test('Keep-Alive: timeout= is the idle timeout the listener applies (whole seconds, rounded down)', async (t) => {
  for (const [idleTimeoutMs, advertised] of [
    [1500, 'timeout=1'],
    [700, undefined], // under a second there is no whole second to promise
  ] as const) {
    const tunnel = await startTunnel(t, { listener: { idleTimeoutMs } });
    const conn = await rawConnect(t, tunnel.port);
    conn.socket.write(get(tunnel.domain, '/one'));
    await conn.waitFor('/one');
    const answeredMs = performance.now();
    const { bytes, reset } = await conn.closed;
    const idleMs = performance.now() - answeredMs;
    const [answer] = parseResponses(bytes);
    t.equal(answer!.header('connection'), 'keep-alive', `${idleTimeoutMs} ms: a keep-alive answer`);
    t.equal(answer!.header('keep-alive'), advertised, `${idleTimeoutMs} ms: Keep-Alive ${advertised ?? 'absent'}`);
    // The listener's timer starts when the answer is complete, before the client reads it: the
    // client can see at most idleTimeoutMs of idleness, never less than it was promised.
    t.ok(idleMs >= (advertised === undefined ? 0 : 1000), `${idleTimeoutMs} ms: closed ${Math.round(idleMs)} ms after the answer`);
    t.ok(idleMs <= idleTimeoutMs + 1000, `${idleTimeoutMs} ms: the listener closed it, quietly`);
    t.notOk(reset);
  }
});

t.test('the default advertises the default idle timeout (60 s), not node:http 5 s', async (t) => {
  const tunnel = await startTunnel(t);
  const conn = await rawConnect(t, tunnel.port);
  conn.socket.write(get(tunnel.domain, '/one'));
  const [answer] = parseResponses(await conn.waitFor('/one'));
  t.equal(answer!.header('keep-alive'), 'timeout=60');
});
