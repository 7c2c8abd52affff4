import t from 'tap';
import { httpErrorResponse, REASON_PHRASES } from '../../../src/proto/http/error.js';
import { readResponses } from '../../fixtures/wire/http-messages.js';
import { nodeClientReads } from '../../fixtures/wire/node-http-oracle.js';

t.test('the exact bytes of an error response', async (t) => {
  t.equal(
    httpErrorResponse(421).toString('latin1'),
    'HTTP/1.1 421 Misdirected Request\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      'Content-Length: 20\r\n' +
      'Connection: close\r\n' +
      '\r\n' +
      'Misdirected Request\n',
  );
  const custom = httpErrorResponse(502, { body: 'node “alpha” is offline\n' });
  t.match(custom.toString('latin1'), /^HTTP\/1\.1 502 Bad Gateway\r\n[\s\S]*Content-Length: 28\r\n/, 'Content-Length counts UTF-8 bytes');
  t.equal(
    httpErrorResponse(404, { headRequest: true }).toString('latin1').endsWith('Content-Length: 10\r\nConnection: close\r\n\r\n'),
    true,
  );
  t.match(httpErrorResponse(418).toString('latin1'), /^HTTP\/1\.1 418 Client Error\r\n/);
  t.match(
    httpErrorResponse(502, { errorCode: 'PRX_ERR_NODE_OFFLINE' }).toString('latin1'),
    /\r\nConnection: close\r\nProxima-Error: PRX_ERR_NODE_OFFLINE\r\n\r\nBad Gateway\n$/,
    'the error code in its own field',
  );
  t.throws(() => httpErrorResponse(502, { errorCode: 'PRX_ERR_X\r\nSet-Cookie: a=b' }), RangeError, 'a code cannot split the head');
  t.throws(() => httpErrorResponse(200), RangeError);
  t.throws(() => httpErrorResponse(600), RangeError);
  t.match(
    httpErrorResponse(401, { errorCode: 'PRX_ERR_UNAUTHORIZED', fields: { 'WWW-Authenticate': 'Basic realm="a.test"' } }).toString(
      'latin1',
    ),
    /\r\nProxima-Error: PRX_ERR_UNAUTHORIZED\r\nWWW-Authenticate: Basic realm="a.test"\r\n\r\n/,
    'more fields after the code',
  );
  t.throws(
    () => httpErrorResponse(429, { fields: { 'Retry-After': '1\r\nSet-Cookie: a=b' } }),
    RangeError,
    'a value cannot split the head',
  );
  t.throws(() => httpErrorResponse(429, { fields: { 'Retry After': '1' } }), RangeError, 'nor a name');
});

t.test('our parser and a node:http client read every error response the proxy sends', async (t) => {
  for (const status of [400, 404, 408, 421, 431, 502, 504]) {
    const bytes = httpErrorResponse(status, { body: `error ${status}\n` });
    const ours = readResponses([bytes], ['GET']);
    t.equal(ours.errorCode, undefined);
    const message = ours.messages[0]!;
    t.same(
      [message.head.status, message.head.reason, message.head.keepAlive, message.body.toString(), message.complete],
      [status, REASON_PHRASES[status], false, `error ${status}\n`, true],
    );
    const node = await nodeClientReads('GET', bytes);
    t.same([node.status, node.body.toString(), node.error], [status, `error ${status}\n`, undefined], `node:http reads ${status}`);
  }
  const head = await nodeClientReads('HEAD', httpErrorResponse(404, { headRequest: true }));
  t.same([head.status, head.body.length, head.error], [404, 0, undefined], 'HEAD: no body');
});
