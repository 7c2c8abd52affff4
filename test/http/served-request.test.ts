/**
 * ServedRequest: headers shaped as node:http shapes them (compared with a real node:http server
 * reading the same head), and a chunked body decoded the same however it is cut.
 */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import t from 'tap';
import { nodeHeaders, ServedRequest } from '../../src/http/served-request.js';
import { parseRequestHead } from '../../src/proto/http/request-head.js';

const HEAD = [
  'GET /x HTTP/1.1',
  'Host: proxima.test',
  'Accept: a',
  'accept: b',
  'Cookie: x=1',
  'Cookie: y=2',
  'Set-Cookie: s=1',
  'set-cookie: s=2',
  'User-Agent: one',
  'User-Agent: two',
  'Content-Type: text/plain',
  'Content-Type: text/html',
  'Authorization: Bearer a',
  'Authorization: Bearer b',
  'X-Forwarded-For: 1.1.1.1',
  'X-Forwarded-For: 2.2.2.2',
  'X-Mine: 1',
  'x-mine: 2',
  'Referer: r1',
  'Referer: r2',
  'Expect: nothing-here',
  'Vary: a',
  'Vary: b',
  'Empty:',
  '',
  '',
].join('\r\n');

t.test("the headers are node:http's, repeated fields included", async (t) => {
  let seen!: (headers: http.IncomingHttpHeaders) => void;
  const got = new Promise<http.IncomingHttpHeaders>((resolve) => (seen = resolve));
  // checkExpectation: node:http would answer the odd Expect with 417 before the handler saw the headers.
  const server = http.createServer();
  server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) => {
    seen(req.headers);
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  socket.write(HEAD);
  const expected = await got;
  const mine = nodeHeaders(parseRequestHead(Buffer.from(HEAD, 'latin1')).headers);
  t.same(mine, expected);
  t.same(Object.keys(mine), Object.keys(expected), 'in the same order');
});

t.test('a chunked body decodes the same at every cut, extensions and trailers dropped', async (t) => {
  const wire = Buffer.from('5;a=b\r\nhello\r\n1\r\n,\r\na\r\n 012345678\r\n0;end\r\nX-T: 1\r\nY: 2\r\n\r\n');
  const want = 'hello, 012345678';
  for (let a = 0; a <= wire.length; a++) {
    for (const b of [a, Math.min(wire.length, a + 1), Math.min(wire.length, a + 7)]) {
      const req = new ServedRequest({ method: 'POST', url: '/', headers: {}, remoteAddress: '::1', body: { kind: 'chunked' } });
      const out: Buffer[] = [];
      req.on('data', (c: Buffer) => out.push(c));
      const ended = once(req, 'end');
      for (const part of [wire.subarray(0, a), wire.subarray(a, b), wire.subarray(b)]) req.add(part);
      if (req.complete) await ended;
      if (Buffer.concat(out).toString() !== want || !req.complete) {
        t.fail(`cut at ${a} and ${b}: ${JSON.stringify(Buffer.concat(out).toString())}`);
        return;
      }
    }
  }
  t.pass(`every cut of ${wire.length} bytes gives the same data and ends`);
});

t.test('a sized body ends at its length; none ends at once', async (t) => {
  const sized = new ServedRequest({ method: 'POST', url: '/', headers: {}, remoteAddress: '::1', body: { kind: 'length', length: 6 } });
  const parts: string[] = [];
  sized.on('data', (c: Buffer) => parts.push(c.toString()));
  const ended = once(sized, 'end');
  sized.add(Buffer.from('abc'));
  t.notOk(sized.complete);
  sized.add(Buffer.from('def'));
  t.ok(sized.complete);
  await ended;
  t.same(parts, ['abc', 'def']);
  const none = new ServedRequest({ method: 'GET', url: '/', headers: {}, remoteAddress: '::1', body: { kind: 'none' } });
  none.resume();
  await once(none, 'end');
  t.equal(none.socket.remoteAddress, '::1');
});
