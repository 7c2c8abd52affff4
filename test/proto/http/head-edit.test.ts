import { createHash } from 'node:crypto';
import t from 'tap';
import { serializeHead, serializeRequestHead } from '../../../src/proto/http/head-edit.js';
import { parseRequestHead } from '../../../src/proto/http/request-head.js';
import { parseResponseHead } from '../../../src/proto/http/response-head.js';
import { NodeHttpOracle } from '../../fixtures/wire/node-http-oracle.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

const HEADS = [
  'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET / HTTP/1.0\r\n\r\n',
  'POST /v1/chat/completions HTTP/1.1\r\nHost: alpha.example\r\nx-forwarded-for: 10.0.0.1\r\nContent-Length: 2\r\nX-Empty:\r\nX-Tab:\ta\t\r\n\r\n',
  'GET http://alpha.example/x HTTP/1.1\r\nHOST:alpha.example\r\nX-Latin: caf\xe9\r\n\r\n',
];

t.test('no edits: exactly the original bytes', async (t) => {
  for (const text of HEADS) {
    const head = parseRequestHead(b(text));
    t.equal(serializeRequestHead(head).toString('latin1'), text);
    t.equal(serializeRequestHead(head, {}).toString('latin1'), text);
    t.equal(serializeRequestHead(head, { set: {}, append: {}, remove: [] }).toString('latin1'), text);
  }
  const response = parseResponseHead(b('HTTP/1.1 200 OK\r\nServer: x\r\n\r\n'));
  t.equal(serializeHead(response), response.raw, 'response heads too');
});

t.test('set, append and remove keep everything else in order and case', async (t) => {
  const head = parseRequestHead(
    b(
      'POST /api/chat HTTP/1.1\r\n' +
        'Host: alpha.proxima.example\r\n' +
        'X-Forwarded-For: 1.1.1.1\r\n' +
        'Accept: */*\r\n' +
        'x-forwarded-for: 2.2.2.2\r\n' +
        'X-Forwarded-Proto: gopher\r\n' +
        'Content-Length: 2\r\n' +
        'Cookie: a=b\r\n' +
        '\r\n',
    ),
  );
  const out = serializeRequestHead(head, {
    remove: ['cookie', 'X-Absent'],
    set: { host: 'localhost:11434', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'alpha.proxima.example' },
    append: { 'X-Forwarded-For': '3.3.3.3', Via: '1.1 proxima' },
  });
  t.equal(
    out.toString('latin1'),
    'POST /api/chat HTTP/1.1\r\n' +
      'Host: localhost:11434\r\n' +
      'X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3\r\n' +
      'Accept: */*\r\n' +
      'X-Forwarded-Proto: https\r\n' +
      'Content-Length: 2\r\n' +
      'X-Forwarded-Host: alpha.proxima.example\r\n' +
      'Via: 1.1 proxima\r\n' +
      '\r\n',
  );
  const reparsed = parseRequestHead(out);
  t.equal(reparsed.hostname, 'localhost');
  t.same(reparsed.framing, { kind: 'length', length: 2 });
});

t.test('edits of the same name: remove, then set, then append', async (t) => {
  const head = parseRequestHead(b('GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n'));
  t.equal(
    serializeRequestHead(head, { remove: ['x'], append: { X: '2' } }).toString('latin1'),
    'GET / HTTP/1.1\r\nHost: a\r\nX: 2\r\n\r\n',
  );
  t.equal(
    serializeRequestHead(head, { set: { x: '5' }, append: { X: '6' } }).toString('latin1'),
    'GET / HTTP/1.1\r\nHost: a\r\nX: 5, 6\r\n\r\n',
  );
  t.equal(serializeRequestHead(head, { remove: ['X'] }).toString('latin1'), 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  const empty = parseRequestHead(b('GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For:\r\n\r\n'));
  t.equal(
    serializeRequestHead(empty, { append: { 'X-Forwarded-For': '1.2.3.4' } }).toString('latin1'),
    'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n',
  );
});

t.test('the target: absolute-form rewritten to origin-form', async (t) => {
  const head = parseRequestHead(b('GET http://alpha.example/v1/models?x=1 HTTP/1.1\r\nHost: alpha.example\r\n\r\n'));
  t.equal(
    serializeRequestHead(head, { target: head.originTarget, set: { Host: 'localhost:11434' } }).toString('latin1'),
    'GET /v1/models?x=1 HTTP/1.1\r\nHost: localhost:11434\r\n\r\n',
  );
  t.throws(() => serializeRequestHead(head, { target: '/a b' }), { code: 'PRX_ERR_HTTP_BAD_REQUEST' });
  t.throws(() => serializeRequestHead(head, { target: '' }), { code: 'PRX_ERR_HTTP_BAD_REQUEST' });
});

t.test('an edit can never split a head: CR, LF, NUL and bad names throw', async (t) => {
  const head = parseRequestHead(b('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
  for (const value of ['a\r\nX-Injected: 1', 'a\nb', 'a\rb', 'a\x00b', 'a\x7f', ' lead', 'trail ', '\u0100', '\u20ac5']) {
    t.throws(() => serializeRequestHead(head, { set: { X: value } }), { code: 'PRX_ERR_HTTP_BAD_REQUEST' }, JSON.stringify(value));
    t.throws(() => serializeRequestHead(head, { append: { X: value } }), { code: 'PRX_ERR_HTTP_BAD_REQUEST' }, JSON.stringify(value));
  }
  for (const name of ['', 'X Y', 'X:', 'X\r\n', 'Ü']) {
    t.throws(() => serializeRequestHead(head, { set: { [name]: '1' } }), { code: 'PRX_ERR_HTTP_BAD_REQUEST' }, JSON.stringify(name));
    t.throws(() => serializeRequestHead(head, { remove: [name] }), { code: 'PRX_ERR_HTTP_BAD_REQUEST' }, JSON.stringify(name));
  }
});

t.test('node:http reads an edited head and its body as intended', async (t) => {
  const oracle = new NodeHttpOracle();
  await oracle.listen();
  t.teardown(() => oracle.close());
  const body = Buffer.alloc(100_000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7919) & 0xff;
  const chunked = Buffer.concat([b(body.length.toString(16) + '\r\n'), body, b('\r\n0\r\n\r\n')]);
  const cases: [string, Buffer][] = [
    [
      `PUT /upload?x=1 HTTP/1.1\r\nHost: alpha.example\r\nX-Forwarded-For: 9.9.9.9\r\nContent-Length: ${body.length}\r\nX-Case: KeepMe\r\n\r\n`,
      body,
    ],
    ['POST http://alpha.example/api/chat HTTP/1.1\r\nHost: alpha.example\r\nTransfer-Encoding: chunked\r\n\r\n', chunked],
  ];
  for (const [text, payload] of cases) {
    const head = parseRequestHead(b(text));
    const edited = serializeRequestHead(head, {
      target: head.originTarget,
      set: { Host: 'localhost:11434', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': head.host! },
      append: { 'X-Forwarded-For': '203.0.113.7' },
    });
    const verdict = await oracle.send(Buffer.concat([edited, payload]));
    t.equal(verdict.error, undefined);
    const seen = verdict.requests[0]!;
    t.equal(seen.method, head.method);
    t.equal(seen.url, head.originTarget);
    const headers = new Map<string, string>();
    for (let i = 0; i < seen.rawHeaders.length; i += 2) headers.set(seen.rawHeaders[i]!, seen.rawHeaders[i + 1]!);
    t.equal(headers.get('Host'), 'localhost:11434');
    t.equal(headers.get('X-Forwarded-Host'), 'alpha.example');
    t.equal(headers.get('X-Forwarded-Proto'), 'https');
    t.equal(headers.get('X-Forwarded-For'), text.includes('9.9.9.9') ? '9.9.9.9, 203.0.113.7' : '203.0.113.7');
    if (text.includes('X-Case')) t.equal(headers.get('X-Case'), 'KeepMe', 'untouched fields keep their case');
    const hash = (x: Buffer): string => createHash('sha256').update(x).digest('hex');
    t.equal(hash(seen.body), hash(body), 'the body arrives intact');
  }
});
