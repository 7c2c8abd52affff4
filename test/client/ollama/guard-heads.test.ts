import t from 'tap';
import { answerEdits, answerHead, requestForOllama, statusLine } from '../../../src/client/ollama/guard-heads.js';
import { serializeHead, serializeRequestHead } from '../../../src/proto/http/head-edit.js';
import { parseRequestHead, type RequestHead } from '../../../src/proto/http/request-head.js';
import { parseResponseHead } from '../../../src/proto/http/response-head.js';

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'content-length',
];
const FRAMING = new Set(['content-length', 'transfer-encoding']);

/** The request as the guard built it with serializeHead's edits before the splice (commit 6103fbf). */
function byEdits(head: RequestHead, hostHeader: string, body: Buffer | undefined, close: boolean): Buffer {
  const remove = [...HOP_BY_HOP, ...head.connection.filter((name) => !FRAMING.has(name))];
  const set: Record<string, string> = { Host: hostHeader };
  if (body !== undefined) set['Content-Length'] = String(body.length);
  if (close) set.Connection = 'close';
  return Buffer.concat([serializeRequestHead(head, { remove, set }), body ?? Buffer.alloc(0)]);
}

const REQUESTS = [
  'POST /v1/chat/completions HTTP/1.1\r\nHost: node.example\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n',
  'POST /api/chat HTTP/1.1\r\ncontent-length: 2\r\nhost: a\r\nX-Request-Id: r1\r\n\r\n',
  'POST /api/chat HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: a\r\nAccept: */*\r\nTE: trailers\r\nTrailer: x\r\n\r\n',
  'POST /api/chat HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret, Content-Length\r\nX-Secret: 1\r\nKeep-Alive: 5\r\nContent-Length: 2\r\nX-Other: 2\r\n\r\n',
  'POST /api/chat HTTP/1.1\r\nConnection: close\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: x-b\r\nX-B: 1\r\nX-b: 2\r\n\r\n',
  'GET /api/tags HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET /api/tags HTTP/1.0\r\nConnection: keep-alive\r\nUser-Agent: u\r\n\r\n',
  'GET / HTTP/1.0\r\n\r\n',
  'GET /v1/models HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: x\r\nHost: a\r\nProxy-Connection: keep-alive\r\n\r\n',
  'POST /api/show HTTP/1.1\r\nX-A: 1\r\nX-B: 2\r\nHost: a\r\nX-C: 3\r\nContent-Length: 2\r\nX-D: 4\r\nConnection: host\r\n\r\n',
];

t.test('the request for Ollama is byte for byte what serializeHead made of the same edits', async (t) => {
  for (const text of REQUESTS) {
    const head = parseRequestHead(Buffer.from(text, 'latin1'));
    for (const body of [undefined, Buffer.from('{}'), Buffer.alloc(0), Buffer.alloc(70 * 1024, 'y')]) {
      for (const close of [false, true]) {
        const got = requestForOllama(head, 'localhost:11434', body, close);
        const bytes = Buffer.isBuffer(got) ? got : Buffer.concat(got);
        const want = byEdits(head, 'localhost:11434', body, close);
        t.equal(
          bytes.toString('latin1'),
          want.toString('latin1'),
          `${JSON.stringify(text.split('\r\n')[0])}, body ${body?.length}, close ${close}`,
        );
        if (body !== undefined && body.length >= 64 * 1024) t.ok(Array.isArray(got) && got[1] === body, 'a large body is not copied');
      }
    }
  }
});

t.test("Ollama's usual answer head passes as received; any other is edited as serializeHead edits it", async (t) => {
  const usual = parseResponseHead(
    Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: x\r\nContent-Length: 2\r\n\r\n', 'latin1'),
  );
  t.equal(answerHead(usual, false, false), usual.raw, 'the same buffer, not a copy');
  const answers = [
    'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n',
    'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\n',
    'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n',
    'HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\nproxy-connection: x\r\nUpgrade: y\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Mon, 07 Dec 2026 21:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\n',
    'HTTP/1.1 200 OK\r\nconnection: Content-Length, X-A\r\nX-A: 1\r\nContent-Length: 2\r\nCONNECTION: date\r\nDate: x\r\n\r\n',
    'HTTP/1.1 204 No Content\r\n\r\n',
  ];
  for (const text of answers) {
    const up = parseResponseHead(Buffer.from(text, 'latin1'));
    for (const closeAfter of [false, true]) {
      for (const reframe of [false, true]) {
        const want = serializeHead(
          up,
          answerEdits(up, closeAfter, reframe ? { append: { 'Transfer-Encoding': 'chunked' } } : {}),
          statusLine(up),
        );
        t.equal(
          answerHead(up, closeAfter, reframe).toString('latin1'),
          want.toString('latin1'),
          `${JSON.stringify(text.slice(0, 40))} ${closeAfter} ${reframe}`,
        );
      }
    }
  }
});
