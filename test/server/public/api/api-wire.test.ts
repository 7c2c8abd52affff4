/**
 * The API's answers on the wire, byte for byte the same as node:http's: each handler below answers
 * the same raw request once behind a plain node:http server (what the public connection fed through
 * an in-memory pair before) and once behind the public listener, which now hands the request to the
 * handler with a ServedResponse of its own. Only the Date value may differ.
 */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import t from 'tap';
import { ErrorCodes, ProximaError } from '../../../../src/errors.js';
import type { HttpRequest, HttpResponse } from '../../../../src/http/exchange.js';
import { silentLogger } from '../../../../src/log.js';
import { sendError } from '../../../../src/server/api-host/http-json.js';
import { AnswerWriter } from '../../../../src/server/models/answer/answer-writer.js';
import { sendApiError } from '../../../../src/server/models/api-errors.js';
import { sendListing } from '../../../../src/server/models/catalog-routes.js';
import { startTunnel } from '../../../fixtures/stacks/tunnel.js';

type Handler = (req: HttpRequest, res: HttpResponse) => void;

const HOST = 'proxima.test';
/** Ends every exchange: the connection closes after its answer, or earlier when an answer said close. */
const LAST = `GET /__last HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`;
const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n${extra}\r\n`;

/** Reads the whole body, then answers with `answer`. */
const afterBody =
  (answer: Handler): Handler =>
  (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c)).on('end', () => answer(Object.assign(req, { body: Buffer.concat(parts) }), res));
  };

const cases: { name: string; request: string; handler: Handler }[] = [
  {
    name: 'a 404 of the API (sendError)',
    request: get('/nowhere'),
    handler: (_req, res) => sendError(res, new ProximaError(ErrorCodes.HTTP_NOT_FOUND, 'nothing here: /nowhere'), silentLogger),
  },
  {
    name: 'a 401 of /v1 (sendApiError, OpenAI)',
    request: get('/v1/models'),
    handler: (_req, res) =>
      sendApiError(res, 'openai', new ProximaError(ErrorCodes.UNAUTHORIZED, 'no such key'), {
        headers: { 'x-request-id': 'req_0123456789abcdef0123456789abcdef' },
        logger: silentLogger,
      }),
  },
  {
    name: 'a /v1/models listing',
    request: get('/v1/models'),
    handler: (_req, res) =>
      sendListing(res, { object: 'list', data: [{ id: 'llama3', object: 'model' }] }, { 'x-request-id': 'r1' }, false),
  },
  {
    name: 'the same listing to HEAD',
    request: `HEAD /v1/models HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
    handler: (_req, res) => sendListing(res, { object: 'list', data: [] }, {}, true),
  },
  {
    name: 'a streamed chat (AnswerWriter, SSE, an in-band error)',
    request: `POST /v1/chat/completions HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 2\r\n\r\n{}`,
    handler: afterBody((_req, res) => {
      const writer = new AnswerWriter(res, { surface: 'openai', framing: 'sse', headers: { 'x-request-id': 'r2' }, logger: silentLogger });
      writer.keepAlive();
      writer.head(200, { 'content-type': 'text/event-stream' });
      writer.write(Buffer.from('data: {"choices":[{"delta":{"content":"hé"}}]}\n\n'));
      writer.fail(new ProximaError(ErrorCodes.NODE_OFFLINE, 'gone'));
    }),
  },
  {
    name: 'a whole answer (AnswerWriter)',
    request: get('/api/tags'),
    handler: (_req, res) => {
      const writer = new AnswerWriter(res, { surface: 'ollama', framing: 'whole', headers: {}, logger: silentLogger });
      writer.head(200, { 'content-type': 'application/json', 'content-length': '2' });
      writer.write(Buffer.from('{}'));
      writer.end();
    },
  },
  {
    name: 'chunked: writes without a length, an empty one, then end with data',
    request: get('/chunks'),
    handler: (_req, res) => {
      res.setHeader('Content-Type', 'text/plain');
      res.write('a');
      res.write('');
      res.write(Buffer.from('bcd'));
      res.end('ef');
    },
  },
  {
    name: 'setHeader then writeHead: merged, the later case wins, arrays, numbers',
    request: get('/merge'),
    handler: (_req, res) => {
      res.setHeader('X-One', '1');
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.setHeader('x-num', 7);
      res.writeHead(201, { 'x-one': 'one', 'Content-Type': 'text/plain', Cookie: ['c=1', 'd=2'] });
      res.end('made');
    },
  },
  { name: 'end() with nothing', request: get('/empty'), handler: (_req, res) => res.end() },
  {
    name: '204 and 304 have no body',
    request: get('/204') + get('/304'),
    handler: (req, res) => {
      res.writeHead(req.url === '/204' ? 204 : 304, { etag: '"x"' });
      res.end('ignored');
    },
  },
  { name: 'a reason phrase of its own', request: get('/reason'), handler: (_req, res) => res.writeHead(299, 'Fine Anyway').end('ok') },
  {
    name: 'flushHeaders, then a body',
    request: get('/flush'),
    handler: (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.flushHeaders();
      res.end('late');
    },
  },
  {
    name: 'HTTP/1.0: a length, else close-delimited',
    request: `GET /a HTTP/1.0\r\nHost: ${HOST}\r\n\r\n`,
    handler: (_req, res) => {
      res.write('no chunks in 1.0');
      res.end();
    },
  },
  {
    name: 'HTTP/1.0 keep-alive with a length: kept alive',
    request: `GET /a HTTP/1.0\r\nHost: ${HOST}\r\nConnection: keep-alive\r\n\r\n`,
    handler: (_req, res) => res.end('sized'),
  },
  { name: 'a request with Connection: close', request: get('/bye', 'Connection: close\r\n'), handler: (_req, res) => res.end('bye') },
  {
    name: 'an answer with Connection: close',
    request: get('/bye'),
    handler: (_req, res) => res.writeHead(200, { Connection: 'close' }).end('x'),
  },
  {
    name: 'Expect: 100-continue',
    request: `POST /up HTTP/1.1\r\nHost: ${HOST}\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc`,
    handler: afterBody((req, res) => res.end(`got ${(req as HttpRequest & { body: Buffer }).body}`)),
  },
  { name: 'an Expect other than 100-continue: 417', request: get('/odd', 'Expect: tea\r\n'), handler: (_req, res) => res.end('never') },
  {
    name: 'a chunked request body, pipelined with another request',
    request: `POST /c HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n${get('/after')}`,
    handler: afterBody((req, res) =>
      res.end(`${req.url} ${(req as HttpRequest & { body: Buffer }).body} ${req.headers['transfer-encoding']}`),
    ),
  },
  {
    name: 'repeated request fields as node:http joins them',
    request: get(
      '/h',
      'Accept: a\r\nAccept: b\r\nCookie: x=1\r\nCookie: y=2\r\nUser-Agent: one\r\nUser-Agent: two\r\nX-Mine: 1\r\nx-mine: 2\r\n',
    ),
    handler: (req, res) => res.end(JSON.stringify(req.headers)),
  },
];

/** The handler for `/__last` and otherwise `handler`. */
function withLast(handler: Handler): Handler {
  return (req, res) => (req.url === '/__last' ? res.end('last') : handler(req, res));
}

/** Sends `request` then LAST on one connection; resolves with every byte until the server closed, and whether it reset. */
async function exchange(port: number, request: string): Promise<{ bytes: string; reset: boolean }> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await once(socket, 'connect');
  const parts: Buffer[] = [];
  let reset = false;
  socket.on('data', (c: Buffer) => parts.push(c));
  socket.on('end', () => socket.end());
  socket.on('error', () => {
    reset = true;
  });
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.write(request + LAST);
  await closed;
  return {
    bytes: Buffer.concat(parts)
      .toString('latin1')
      .replace(/\r\nDate: [^\r]*\r\n/g, '\r\nDate: -\r\n'),
    reset,
  };
}

for (const { name, request, handler } of cases) {
  t.test(name, async (t) => {
    const server = http.createServer(withLast(handler) as http.RequestListener);
    server.keepAliveTimeout = 60_000; // what the listener advertises by default (http.idleTimeoutMs)
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.teardown(() => server.close());
    const tunnel = await startTunnel(t, { api: withLast(handler) });
    const viaNode = await exchange((server.address() as net.AddressInfo).port, request);
    const viaListener = await exchange(tunnel.port, request);
    t.equal(viaListener.bytes, viaNode.bytes, 'the same bytes');
    t.equal(viaListener.reset, viaNode.reset, 'closed the same way');
    t.match(viaListener.bytes, /^HTTP\/1\.1 \d{3} /, 'an answer');
  });
}

t.test('a whole answer cut after its head: a reset, as node:http with abortStream on its socket', async (t) => {
  const handler: Handler = (_req, res) => {
    const writer = new AnswerWriter(res, { surface: 'openai', framing: 'whole', headers: {}, logger: silentLogger });
    writer.head(200, { 'content-type': 'application/json', 'content-length': '100' });
    writer.write(Buffer.from('{"partial":'));
    setImmediate(() => writer.fail(new ProximaError(ErrorCodes.NODE_OFFLINE, 'gone')));
  };
  const tunnel = await startTunnel(t, { api: handler });
  const got = await exchange(tunnel.port, get('/cut'));
  t.ok(got.reset, 'the user sees a reset');
  t.match(got.bytes, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\{"partial":$/, 'after the head and the bytes written');
});
