import t from 'tap';
import { serializeRequestHead } from '../../../src/proto/http/head-edit.js';
import { parseRequestHead } from '../../../src/proto/http/request-head.js';
import { forwardedEdits, remotePeer } from '../../../src/server/public/forwarded-headers.js';

const socket = { address: '10.0.0.9', port: 50000 };
const head = (lines: string[]) => parseRequestHead(Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'));
const edited = (h: ReturnType<typeof head>, trustProxy: boolean, hostHeader?: string) =>
  serializeRequestHead(h, forwardedEdits(h, socket, trustProxy, hostHeader))
    .toString('latin1')
    .split('\r\n')
    .filter((l) => l !== '');

const forged = [
  'GET /x HTTP/1.1',
  'Host: alpha.proxima.test',
  'X-Forwarded-For: 1.2.3.4',
  'X-Forwarded-Host: evil.example',
  'X-Forwarded-Proto: https',
  'Accept: */*',
];

t.test('without trustProxy: what the client claims is replaced by what the super node saw', async (t) => {
  t.same(edited(head(forged), false), [
    'GET /x HTTP/1.1',
    'Host: alpha.proxima.test',
    'X-Forwarded-For: 10.0.0.9',
    'X-Forwarded-Host: alpha.proxima.test',
    'X-Forwarded-Proto: http',
    'Accept: */*',
  ]);
  t.same(remotePeer(head(forged), socket, false), { address: '10.0.0.9', port: 50000, tls: false, via: 'public' });
});

t.test("with trustProxy: the front proxy's fields are kept, its address is appended (frp #4168)", async (t) => {
  t.same(edited(head(forged), true), [
    'GET /x HTTP/1.1',
    'Host: alpha.proxima.test',
    'X-Forwarded-For: 1.2.3.4, 10.0.0.9',
    'X-Forwarded-Host: evil.example',
    'X-Forwarded-Proto: https',
    'Accept: */*',
  ]);
  t.same(
    remotePeer(head(forged), socket, true),
    { address: '1.2.3.4', port: 0, tls: true, via: 'public' },
    'the client as the proxy saw it',
  );
  const bare = head(['GET / HTTP/1.1', 'Host: alpha.proxima.test']);
  t.same(
    edited(bare, true),
    [
      'GET / HTTP/1.1',
      'Host: alpha.proxima.test',
      'X-Forwarded-Host: alpha.proxima.test',
      'X-Forwarded-Proto: http',
      'X-Forwarded-For: 10.0.0.9',
    ],
    'none set by a proxy: the super node sets them',
  );
  t.same(
    remotePeer(head(['GET / HTTP/1.1', 'Host: a', 'X-Forwarded-For: junk']), socket, true),
    { address: '10.0.0.9', port: 50000, tls: false, via: 'public' },
    'an address that is not an IP is not believed',
  );
});

t.test('Host rewrite, and origin-form for an absolute-form target', async (t) => {
  t.same(edited(head(['POST /api/chat HTTP/1.1', 'Host: alpha.proxima.test', 'Content-Length: 0']), false, 'localhost:11434'), [
    'POST /api/chat HTTP/1.1',
    'Host: localhost:11434',
    'Content-Length: 0',
    'X-Forwarded-For: 10.0.0.9',
    'X-Forwarded-Host: alpha.proxima.test',
    'X-Forwarded-Proto: http',
  ]);
  t.same(
    edited(head(['GET http://alpha.proxima.test/p?q=1 HTTP/1.1', 'Host: other.example']), false),
    [
      'GET /p?q=1 HTTP/1.1',
      'Host: alpha.proxima.test',
      'X-Forwarded-For: 10.0.0.9',
      'X-Forwarded-Host: alpha.proxima.test',
      'X-Forwarded-Proto: http',
    ],
    'the authority wins and goes in Host',
  );
});
