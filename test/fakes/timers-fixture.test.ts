import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { settle, trackTimers } from '../fixtures/timers.js';

t.test('trackTimers counts a timer until it is cleared, and leaves out Node’s Date-header cache', async (t) => {
  const timers = trackTimers();
  t.teardown(() => timers.stop());
  const server = http.createServer((_req, res) => res.end('ok'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  await settle();
  const before = timers.live();

  const ours = setTimeout(() => {}, 60_000).unref();
  t.equal(timers.live(), before + 1, 'an unref’d timer of ours is counted');
  clearTimeout(ours);
  await settle();
  t.equal(timers.live(), before, 'and no longer once cleared');

  // The first response of this process arms Node's Date cache timer (its stack names utcDate).
  const req = http.get({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', agent: false });
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  res.resume();
  await once(res, 'end');
  t.equal(res.statusCode, 200);
  t.match(res.headers.date, /GMT$/, 'the response carried the cached Date header');
  await settle();
  t.equal(timers.live(), before, 'the Date cache timer is not ours to count');
});
