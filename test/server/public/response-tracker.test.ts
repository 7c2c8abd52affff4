import t from 'tap';
import { ResponseTracker } from '../../../src/server/public/response-tracker.js';
import { chunkings } from '../../fixtures/wire/chunkings.js';

/** Feeds `chunks` to a tracker expecting `requests`; records what it relayed and reported. */
function track(requests: [method: string, upgrade?: boolean][], chunks: Buffer[]) {
  const events: string[] = [];
  const relayed: Buffer[] = [];
  const tracker = new ResponseTracker({
    relay: (bytes) => relayed.push(bytes),
    complete: (keepAlive) => events.push(`complete ${keepAlive ? 'keep-alive' : 'close'}`),
    upgrade: (rest) => events.push(`upgrade +${rest.toString('latin1')}`),
  });
  for (const [method, upgrade] of requests) tracker.expect(method, upgrade === true);
  let error: string | undefined;
  try {
    for (const chunk of chunks) tracker.push(chunk);
  } catch (err) {
    error = (err as { code: string }).code;
  }
  return { events, relayed: Buffer.concat(relayed).toString('latin1'), error, tracker };
}

const b = (s: string) => Buffer.from(s, 'latin1');

t.test('pipelined responses: each found whole in any chunking, relayed byte for byte', async (t) => {
  const wire =
    'HTTP/1.1 100 Continue\r\n\r\n' +
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello' +
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n0\r\nT: 1\r\n\r\n' +
    'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n' +
    'HTTP/1.1 204 No Content\r\n\r\n';
  for (const { name, chunks } of chunkings(b(wire), { everySplit: false })) {
    const got = track([['POST'], ['GET'], ['HEAD'], ['GET']], chunks);
    t.same([got.error, got.events, got.relayed, got.tracker.outstanding], [undefined, Array(4).fill('complete keep-alive'), wire, 0], name);
  }
});

t.test('Connection: close and HTTP/1.0 say the connection ends after the response', async (t) => {
  t.same(track([['GET']], [b('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')]).events, ['complete close']);
  t.same(track([['GET']], [b('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n')]).events, ['complete close']);
  t.same(track([['GET']], [b('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n')]).events, ['complete keep-alive']);
});

t.test('a body that runs until the end is complete at the end; anything else is truncated', async (t) => {
  const untilEnd = track([['GET']], [b('HTTP/1.1 200 OK\r\n\r\nstreamed')]);
  t.same([untilEnd.events, untilEnd.tracker.midResponse], [[], true]);
  t.equal(untilEnd.tracker.end(), 'complete');
  t.same(untilEnd.events, ['complete close']);

  const cut = track([['GET']], [b('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf')]);
  t.equal(cut.tracker.end(), 'truncated', 'a length body cut short');
  const cutChunked = track([['GET']], [b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab')]);
  t.equal(cutChunked.tracker.end(), 'truncated', 'a chunked body cut short');
  const headOnly = track([['GET'], ['GET']], [b('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200')]);
  t.same(
    [headOnly.tracker.end(), headOnly.tracker.outstanding, headOnly.relayed.includes('HTTP/1.1 200\r')],
    ['between', 1, false],
    'half a head: nothing of it was relayed, the request is still unanswered',
  );
});

t.test('a 101 answers an upgrade request: the rest is raw; a 101 nobody asked for is refused', async (t) => {
  const up = track([['GET', true]], [b('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi')]);
  t.same(up.events, ['upgrade +\x81\x02hi']);
  t.equal(up.relayed, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', 'only the head is relayed by the tracker');
  const refused = track([['GET', true]], [b('HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n')]);
  t.same([refused.events, refused.tracker.outstanding], [['complete keep-alive'], 0], 'a refused upgrade is an ordinary response');
  t.equal(track([['GET']], [b('HTTP/1.1 101 Switching Protocols\r\n\r\n')]).error, 'PRX_ERR_HTTP_BAD_RESPONSE');
});

t.test('malformed or unasked-for responses: an error, and nothing of the bad head relayed', async (t) => {
  const cases: [string, string][] = [
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING'],
    ['HTTP/1.1 2000 OK\r\n\r\n', 'PRX_ERR_HTTP_BAD_RESPONSE'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n', 'PRX_ERR_HTTP_BAD_RESPONSE'],
  ];
  for (const [wire, code] of cases) {
    const got = track([['GET']], [b(wire)]);
    t.equal(got.error, code, JSON.stringify(wire));
  }
  t.equal(track([['GET']], [b('HTTP/1.1 2000 OK\r\n\r\n')]).relayed, '');
  const bad = track([['GET']], [b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')]);
  t.same([bad.error, bad.tracker.midResponse], ['PRX_ERR_HTTP_AMBIGUOUS_FRAMING', true], 'a bad chunk after the head: the head is out');
});
