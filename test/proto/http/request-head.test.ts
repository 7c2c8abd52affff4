import t from 'tap';
import { HttpError } from '../../../src/proto/http/error.js';
import { DEFAULT_MAX_HEAD_BYTES } from '../../../src/proto/http/head-reader.js';
import { parseRequestHead, RequestHeadParser } from '../../../src/proto/http/request-head.js';
import { chunkings } from '../../fixtures/wire/chunkings.js';
import { readRequests, summary } from '../../fixtures/wire/http-messages.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

const TYPICAL =
  'POST /v1/chat/completions?stream=1 HTTP/1.1\r\n' +
  'Host: Alpha.Proxima.Example:8080\r\n' +
  'User-Agent: OpenAI/JS 6.49.0\r\n' +
  'content-type: application/json\r\n' +
  'X-Trace: a\r\n' +
  'X-TRACE: b\r\n' +
  'Content-Length: 11\r\n' +
  '\r\n';

t.test('a typical head: request line, fields in order and case, lookups', async (t) => {
  const parser = new RequestHeadParser();
  const result = parser.push(b(TYPICAL + '{"a":"b"}\r\nGET'));
  t.ok(result);
  const { head, rest } = result!;
  t.equal(head.method, 'POST');
  t.equal(head.target, '/v1/chat/completions?stream=1');
  t.equal(head.originTarget, '/v1/chat/completions?stream=1');
  t.equal(head.absoluteForm, false);
  t.equal(head.version, '1.1');
  t.same(head.headers, [
    ['Host', 'Alpha.Proxima.Example:8080'],
    ['User-Agent', 'OpenAI/JS 6.49.0'],
    ['content-type', 'application/json'],
    ['X-Trace', 'a'],
    ['X-TRACE', 'b'],
    ['Content-Length', '11'],
  ]);
  t.equal(head.get('CONTENT-TYPE'), 'application/json');
  t.equal(head.get('x-trace'), 'a, b');
  t.same(head.fields.getAll('X-Trace'), ['a', 'b']);
  t.equal(head.get('absent'), undefined);
  t.equal(head.host, 'Alpha.Proxima.Example:8080');
  t.equal(head.hostname, 'alpha.proxima.example');
  t.equal(head.port, 8080);
  t.equal(head.keepAlive, true);
  t.equal(head.expectContinue, false);
  t.equal(head.upgrade, false);
  t.same(head.framing, { kind: 'length', length: 11 });
  t.equal(head.raw.toString('latin1'), TYPICAL, 'raw is the exact head');
  t.equal(rest.toString('latin1'), '{"a":"b"}\r\nGET', 'rest is everything after the head');
  t.equal(parser.bufferedBytes, 0);
});

t.test('connection persistence, Expect and Upgrade', async (t) => {
  const cases: [string, string, boolean][] = [
    ['1.1', '', true],
    ['1.1', 'Connection: close\r\n', false],
    ['1.1', 'Connection: keep-alive, CLOSE\r\n', false],
    ['1.0', '', false],
    ['1.0', 'Connection: Keep-Alive\r\n', true],
    ['1.0', 'Connection: keep-alive\r\nConnection: close\r\n', false],
  ];
  for (const [version, extra, keepAlive] of cases) {
    const head = parseRequestHead(b(`GET / HTTP/${version}\r\nHost: a\r\n${extra}\r\n`));
    t.equal(head.keepAlive, keepAlive, `${version} ${JSON.stringify(extra)}`);
  }
  const ws = parseRequestHead(b('GET /chat HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n'));
  t.equal(ws.upgrade, true);
  t.same(ws.connection, ['keep-alive', 'upgrade']);
  t.equal(
    parseRequestHead(b('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n')).upgrade,
    false,
    'Upgrade without Connection: upgrade',
  );
  t.equal(parseRequestHead(b('GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n')).upgrade, false, 'no Upgrade field');
  t.equal(parseRequestHead(b('GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n')).upgrade, false, 'ignored in HTTP/1.0');
  t.equal(parseRequestHead(b('PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n')).expectContinue, true);
  t.equal(
    parseRequestHead(b('PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n')).expectContinue,
    false,
    'ignored in HTTP/1.0',
  );
  t.equal(parseRequestHead(b('PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n')).expectContinue, false);
});

t.test('Host: absolute-form authority wins, HTTP/1.0 may omit it', async (t) => {
  const abs = parseRequestHead(b('GET HTTP://Beta.Example/x?y HTTP/1.1\r\nHost: alpha.example\r\n\r\n'));
  t.equal(abs.absoluteForm, true);
  t.equal(abs.host, 'Beta.Example');
  t.equal(abs.hostname, 'beta.example');
  t.equal(abs.port, undefined);
  t.equal(abs.originTarget, '/x?y');
  t.equal(parseRequestHead(b('GET http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n')).originTarget, '/');
  t.equal(parseRequestHead(b('GET http://a.example?q HTTP/1.1\r\nHost: a.example\r\n\r\n')).originTarget, '/?q');
  const v10 = parseRequestHead(b('GET / HTTP/1.0\r\n\r\n'));
  t.equal(v10.host, undefined);
  t.equal(v10.hostname, undefined);
  t.equal(parseRequestHead(b('GET http://[::1]:9/ HTTP/1.0\r\n\r\n')).hostname, '[::1]');
});

t.test('leading empty lines are skipped (RFC 9112 2.2), in any chunking', async (t) => {
  const input = b('\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
  for (const { name, chunks } of chunkings(input)) {
    const read = readRequests(chunks);
    t.equal(read.errorCode, undefined, name);
    t.equal(read.messages[0]?.head.raw.toString('latin1'), 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', name);
  }
});

t.test('every chunking of pipelined requests reads the same heads and bodies', async (t) => {
  const input = b(
    TYPICAL +
      '{"a":"b"}\r\n' +
      'GET /a HTTP/1.1\r\nHost: a\r\n\r\n' +
      'PUT /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n' +
      'GET /c HTTP/1.0\r\n\r\n',
  );
  const whole = readRequests([input]);
  t.equal(whole.errorCode, undefined);
  t.same(
    whole.messages.map((m) => [m.head.method, m.head.target, m.body.toString('latin1')]),
    [
      ['POST', '/v1/chat/completions?stream=1', '{"a":"b"}\r\n'],
      ['GET', '/a', ''],
      ['PUT', '/b', '3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n'],
      ['GET', '/c', ''],
    ],
  );
  const expected = summary(whole);
  let n = 0;
  for (const { name, chunks } of chunkings(input, { randomRuns: 50 })) {
    const read = summary(readRequests(chunks));
    if (JSON.stringify(read) !== JSON.stringify(expected)) t.same(read, expected, name);
    n++;
  }
  t.ok(n > input.length, `${n} chunkings read identically`);
});

t.test('maxHeadBytes: counted before the terminator, 431 as soon as exceeded', async (t) => {
  const head = b('GET / HTTP/1.1\r\nHost: a\r\nX: ' + 'x'.repeat(100) + '\r\n\r\n');
  t.ok(new RequestHeadParser({ maxHeadBytes: head.length }).push(head), 'a head of exactly the limit passes');
  t.throws(() => new RequestHeadParser({ maxHeadBytes: head.length - 1 }).push(head), { code: 'PRX_ERR_HTTP_HEAD_TOO_LARGE', status: 431 });
  // One byte at a time, a head that never ends fails on the byte that reaches the limit.
  const parser = new RequestHeadParser({ maxHeadBytes: 64 });
  const endless = b('GET / HTTP/1.1\r\nHost: a\r\nX: ' + 'y'.repeat(200));
  let failedAt = -1;
  for (let i = 0; i < endless.length && failedAt < 0; i++) {
    try {
      t.equal(parser.push(endless.subarray(i, i + 1)), null);
    } catch (err) {
      t.match(err, { code: 'PRX_ERR_HTTP_HEAD_TOO_LARGE', status: 431 });
      failedAt = i + 1;
    }
  }
  t.equal(failedAt, 64, 'failed after exactly maxHeadBytes bytes');
  t.throws(() => parser.push(b('\r\n\r\n')), { code: 'PRX_ERR_HTTP_HEAD_TOO_LARGE' }, 'the parser stays failed');
  // Leading empty lines count too: they cannot be used to hold a connection for free.
  t.throws(() => new RequestHeadParser({ maxHeadBytes: 64 }).push(b('\r\n'.repeat(40))), { code: 'PRX_ERR_HTTP_HEAD_TOO_LARGE' });
  t.equal(new RequestHeadParser().maxHeadBytes, DEFAULT_MAX_HEAD_BYTES);
  t.throws(() => new RequestHeadParser({ maxHeadBytes: 0 }), RangeError);
});

t.test('a huge head in one chunk is refused without reading past the limit', async (t) => {
  const big = b('GET / HTTP/1.1\r\nHost: a\r\nX: ' + 'z'.repeat(DEFAULT_MAX_HEAD_BYTES) + '\r\n\r\n');
  t.throws(() => new RequestHeadParser().push(big), { code: 'PRX_ERR_HTTP_HEAD_TOO_LARGE', status: 431 });
});

t.test('LF-only line endings fail before the head ends', async (t) => {
  const parser = new RequestHeadParser();
  t.throws(() => parser.push(b('GET / HTTP/1.1\nHost: a\n')), { code: 'PRX_ERR_HTTP_BAD_REQUEST', status: 400 });
  const split = new RequestHeadParser();
  t.equal(split.push(b('GET / HTTP/1.1\r')), null);
  t.equal(split.push(b('\nHost: a\r')), null, 'a CRLF split across chunks is not a bare LF');
  t.throws(() => split.push(b('\n\n')), { code: 'PRX_ERR_HTTP_BAD_REQUEST' });
  t.throws(() => new RequestHeadParser().push(b('\n')), { code: 'PRX_ERR_HTTP_BAD_REQUEST' });
  t.throws(() => new RequestHeadParser().push(b('\r\r\n')), { code: 'PRX_ERR_HTTP_BAD_REQUEST' });
  const cr = new RequestHeadParser();
  t.equal(cr.push(b('\r')), null);
  t.throws(() => cr.push(b('GET')), { code: 'PRX_ERR_HTTP_BAD_REQUEST' }, 'a bare CR before the request line');
});

t.test('malformed heads are refused with 400 PRX_ERR_HTTP_BAD_REQUEST', async (t) => {
  const bad = [
    'GET / HTTP/1.1\r\n\r\n', // missing Host in 1.1
    'GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n',
    'GET / HTTP/1.1\r\nHost:\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a b\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: user@a\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n',
    'GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET a/b HTTP/1.1\r\nHost: a\r\n\r\n',
    'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n',
    'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n',
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    'GET / HTTP/2.0\r\nHost: a\r\n\r\n',
    'GET / HTTP/1.2\r\nHost: a\r\n\r\n',
    'GET / http/1.1\r\nHost: a\r\n\r\n',
    'GET /\r\nHost: a\r\n\r\n', // HTTP/0.9 style
    'GET  / HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET / HTTP/1.1 \r\nHost: a\r\n\r\n',
    ' GET / HTTP/1.1\r\nHost: a\r\n\r\n',
    'G(T / HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nX : 1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nX\t: 1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\n X: 1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\tcontinued\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nX(: 1\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nNo colon\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n',
    'GET / HTTP/1.1\nHost: a\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a\n\r\n',
  ];
  for (const text of bad) {
    for (const { name, chunks } of chunkings(b(text), { everySplit: false, randomRuns: 3 })) {
      const read = readRequests(chunks);
      t.equal(read.errorCode, 'PRX_ERR_HTTP_BAD_REQUEST', `${JSON.stringify(text)} ${name}`);
      t.equal(read.errorStatus, 400);
    }
  }
  const err = t.throws(() => parseRequestHead(b(bad[0]!)));
  t.ok(err instanceof HttpError);
});

t.test('field values: OWS trimmed, HTAB and obs-text kept', async (t) => {
  const head = parseRequestHead(b('GET / HTTP/1.1\r\nHost:a\r\nX: \t a\tb \t\r\nY:\r\nZ: caf\xe9\r\n\r\n'));
  t.same(head.headers, [
    ['Host', 'a'],
    ['X', 'a\tb'],
    ['Y', ''],
    ['Z', 'caf\xe9'],
  ]);
});

t.test('methods: the ones llhttp knows, and no other', async (t) => {
  const http = await import('node:http');
  const { KNOWN_METHODS } = await import('../../../src/proto/http/request-head.js');
  for (const method of KNOWN_METHODS) t.ok(http.METHODS.includes(method), `${method} is known to node:http`);
  for (const method of ['get', 'FOO', 'hello!!GET', 'GETT', 'PRI']) {
    t.throws(() => parseRequestHead(b(`${method} / HTTP/1.1\r\nHost: a\r\n\r\n`)), { code: 'PRX_ERR_HTTP_BAD_REQUEST' }, method);
  }
  t.equal(parseRequestHead(b('M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n')).method, 'M-SEARCH');
});
