import t from 'tap';
import { parseResponseHead, ResponseHeadParser } from '../../../src/proto/http/response-head.js';
import { chunkings } from '../../fixtures/wire/chunkings.js';
import { decodeChunked, readResponses, summary } from '../../fixtures/wire/http-messages.js';
import { nodeClientReads } from '../../fixtures/wire/node-http-oracle.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

t.test('status lines, with or without a reason phrase', async (t) => {
  const cases: [string, string, number, string][] = [
    ['HTTP/1.1 200 OK', '1.1', 200, 'OK'],
    ['HTTP/1.0 404 Not Found', '1.0', 404, 'Not Found'],
    ['HTTP/1.1 200 ', '1.1', 200, ''],
    ['HTTP/1.1 200', '1.1', 200, ''],
    ['HTTP/1.1 599 Caf\xe9\tau lait', '1.1', 599, 'Caf\xe9\tau lait'],
  ];
  for (const [line, version, status, reason] of cases) {
    const head = parseResponseHead(b(`${line}\r\nContent-Length: 0\r\n\r\n`));
    t.same([head.version, head.status, head.reason], [version, status, reason], line);
    t.same(head.headers, [['Content-Length', '0']]);
    t.equal(head.get('content-length'), '0');
  }
});

t.test('malformed response heads: PRX_ERR_HTTP_BAD_RESPONSE, status 502', async (t) => {
  const bad = [
    'HTTP/1.1 20 OK',
    'HTTP/1.1 2000 OK',
    'HTTP/1.1 099 Low',
    'HTTP/2 200 OK',
    'HTTP/2.0 200 OK',
    'http/1.1 200 OK',
    'HTTP/1.1  200 OK',
    'HTTP/1.1 200 O\x01K',
    'ICY 200 OK',
    'HTTP/1.1 abc OK',
    'HTTP/1.1',
    'HTTP/1.1 200 OK\r\nX : 1',
    'HTTP/1.1 200 OK\r\n X: 1',
    'HTTP/1.1 200 OK\r\nX: a\rb',
    'HTTP/1.1 200 OK\nX: 1',
  ];
  for (const line of bad) {
    t.throws(
      () => new ResponseHeadParser().push(b(`${line}\r\n\r\n`)),
      { code: 'PRX_ERR_HTTP_BAD_RESPONSE', status: 502 },
      JSON.stringify(line),
    );
  }
  const big = b('HTTP/1.1 200 OK\r\nX: ' + 'x'.repeat(100) + '\r\n\r\n');
  t.throws(() => new ResponseHeadParser({ maxHeadBytes: 64 }).push(big), { code: 'PRX_ERR_HTTP_HEAD_TOO_LARGE', status: 502 });
});

t.test('response body framing per RFC 9112 6.3', async (t) => {
  const cases: [string, string, string | object][] = [
    ['HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 10', { kind: 'none' }],
    ['HEAD', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked', { kind: 'none' }],
    ['GET', 'HTTP/1.1 204 No Content\r\nContent-Length: 10', { kind: 'none' }],
    ['GET', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10', { kind: 'none' }],
    ['GET', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket', { kind: 'upgrade' }],
    ['CONNECT', 'HTTP/1.1 200 Connection Established', { kind: 'upgrade' }],
    ['CONNECT', 'HTTP/1.1 407 Proxy Auth\r\nContent-Length: 1', { kind: 'length', length: 1 }],
    ['POST', 'HTTP/1.1 100 Continue', { kind: 'interim' }],
    ['GET', 'HTTP/1.1 103 Early Hints\r\nLink: </a>', { kind: 'interim' }],
    ['GET', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked', { kind: 'chunked' }],
    ['GET', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked', { kind: 'chunked' }],
    ['GET', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip', { kind: 'close' }],
    ['GET', 'HTTP/1.1 200 OK\r\nContent-Length: 5', { kind: 'length', length: 5 }],
    ['GET', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5', { kind: 'length', length: 5 }],
    ['GET', 'HTTP/1.1 200 OK\r\nContent-Length: 5, 5', { kind: 'length', length: 5 }],
    ['GET', 'HTTP/1.1 200 OK', { kind: 'close' }],
    ['GET', 'HTTP/1.0 200 OK', { kind: 'close' }],
    ['GET', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked', 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING'],
    ['GET', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6', 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING'],
    ['GET', 'HTTP/1.1 200 OK\r\nContent-Length: 5, 6', 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING'],
    ['GET', 'HTTP/1.1 200 OK\r\nContent-Length: +5', 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING'],
    ['GET', 'HTTP/1.1 200 OK\r\nContent-Length: 5,', 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING'],
    ['GET', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nTransfer-Encoding: chunked', 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING'],
    ['GET', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked', 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING'],
    ['GET', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked', 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING'],
  ];
  for (const [method, head, expected] of cases) {
    const parsed = parseResponseHead(b(`${head}\r\n\r\n`));
    if (typeof expected === 'string') {
      t.throws(() => parsed.framing(method), { code: expected, status: 502 }, `${method} ${JSON.stringify(head)}`);
    } else {
      t.same(parsed.framing(method), expected, `${method} ${JSON.stringify(head)}`);
    }
  }
});

t.test('keep-alive per version and Connection', async (t) => {
  t.equal(parseResponseHead(b('HTTP/1.1 200 OK\r\n\r\n')).keepAlive, true);
  t.equal(parseResponseHead(b('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n')).keepAlive, false);
  t.equal(parseResponseHead(b('HTTP/1.0 200 OK\r\n\r\n')).keepAlive, false);
  t.equal(parseResponseHead(b('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n')).keepAlive, true);
});

t.test('interim heads, bodies of every framing, pipelined: every chunking reads the same', async (t) => {
  const input = b(
    'HTTP/1.1 100 Continue\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello' +
      'HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n' + // answers a HEAD
      'HTTP/1.1 204 No Content\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nworld\r\n0\r\n\r\n' +
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n' +
      '\x81\x05hello',
  );
  const methods = ['POST', 'HEAD', 'GET', 'GET', 'GET'];
  const whole = readResponses([input], methods);
  t.equal(whole.errorCode, undefined);
  t.same(
    whole.messages.map((m) => [m.head.status, m.body.toString('latin1')]),
    [
      [100, ''],
      [200, 'hello'],
      [200, ''],
      [204, ''],
      [200, '5\r\nworld\r\n0\r\n\r\n'],
      [101, ''],
    ],
  );
  t.equal(whole.tail.toString('latin1'), '\x81\x05hello', 'after 101 the bytes are raw');
  const expected = JSON.stringify(summary(whole));
  for (const { name, chunks } of chunkings(input, { randomRuns: 30 })) {
    if (JSON.stringify(summary(readResponses(chunks, methods))) !== expected) t.fail(name);
  }
  const closeDelimited = readResponses([b('HTTP/1.0 200 OK\r\n\r\nHTTP/1.1 200 OK\r\n\r\nmore')], ['GET']);
  t.same(
    closeDelimited.messages.map((m) => [m.body.toString(), m.complete]),
    [['HTTP/1.1 200 OK\r\n\r\nmore', false]],
    'close-delimited: all until EOF',
  );
});

/** Identical repeated Content-Length: llhttp refuses it, RFC 9110 8.6, curl and browsers accept it. */
const LENIENT = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello';

const RESPONSES: [string, string][] = [
  ['GET', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'],
  ['GET', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nT: 1\r\n\r\n'],
  ['GET', LENIENT],
  ['GET', 'HTTP/1.0 200 OK\r\n\r\nuntil the end'],
  ['GET', 'HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok'],
  ['HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'],
  ['GET', 'HTTP/1.1 204 No Content\r\n\r\n'],
  ['GET', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ['GET', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
  ['GET', 'HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello'],
  ['GET', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n'],
  ['GET', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello!\r\n0\r\n\r\n'],
  ['GET', 'HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n'],
  ['GET', 'HTTP/1.1 200 OK\nContent-Length: 0\n\n'],
];

t.test('responses read as a node:http client reads them, or refused where it refuses', async (t) => {
  for (const [method, text] of RESPONSES) {
    const ours = readResponses([b(text)], [method]);
    const node = await nodeClientReads(method, b(text));
    const label = `${method} ${JSON.stringify(text)}`;
    if (text === LENIENT) {
      t.same(
        ours.messages.map((m) => m.body.toString()),
        ['hello'],
        `we read its unambiguous length (llhttp: ${node.error ?? 'accepted'})`,
      );
      continue;
    }
    if (node.error !== undefined) {
      t.not(ours.errorCode, undefined, `${label}: llhttp refuses (${node.error}), so do we`);
      continue;
    }
    if (ours.errorCode !== undefined) {
      t.comment(`${label}: stricter than llhttp (${ours.errorCode})`);
      continue;
    }
    const message = ours.messages[0]!;
    t.equal(message.head.status, node.status, `${label}: status`);
    const framing = message.head.framing(method);
    const body = framing.kind === 'chunked' ? decodeChunked(message.body) : message.body;
    t.equal(body.toString('latin1'), node.body.toString('latin1'), `${label}: body`);
  }
});
