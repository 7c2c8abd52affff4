import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import t from 'tap';
import { WebSocket } from 'ws';
import { startWebServer } from '../fixtures/fakes/web/web-server.js';
import { lines, openRequest, rawRequest, sendRequest } from '../fixtures/wire/raw-http.js';

t.test('echo shows method, path, headers and the connection; keep-alive reuses it', async (t) => {
  const web = await startWebServer();
  t.teardown(() => web.destroy());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const first = await rawRequest(web.url + '/echo/a/b?x=1', {
    method: 'PATCH',
    body: 'hello',
    headers: { 'X-Test': 'yes', Host: 'node1.example.com' },
    agent,
  });
  const echo = JSON.parse(first.text);
  t.match(echo, {
    method: 'PATCH',
    path: '/echo/a/b',
    query: { x: '1' },
    headers: { 'x-test': 'yes', host: 'node1.example.com' },
    remoteAddress: '127.0.0.1',
    bodyBytes: 5,
  });
  t.equal(echo.bodySha256, createHash('sha256').update('hello').digest('hex'));
  const second = JSON.parse((await rawRequest(web.url + '/echo', { agent })).text);
  t.equal(second.connectionId, echo.connectionId, 'same connection');
  t.equal(second.connectionRequests, 2);
  await rawRequest(web.url + '/echo', { agent: false });
  t.equal(web.connections.length, 2, 'a request without an agent opened a new connection');
  t.ok(web.connections.every((c) => c.remoteAddress === '127.0.0.1' && c.remotePort > 0));
  t.equal((await rawRequest(web.url + '/status/418')).status, 418);
  t.equal((await rawRequest(web.url + '/nothing')).status, 404);
});

t.test('upload returns the byte count and SHA-256 of the body', async (t) => {
  const web = await startWebServer();
  t.teardown(() => web.destroy());
  const body = randomBytes(5 * 1024 * 1024 + 7);
  const res = JSON.parse((await rawRequest(web.url + '/upload', { method: 'PUT', body })).text);
  t.same(res, { bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
});

t.test('download streams 100 MiB of deterministic bytes with their SHA-256 in a header', async (t) => {
  const web = await startWebServer();
  t.teardown(() => web.destroy());
  const bytes = 100 * 1024 * 1024;
  const open = await openRequest(`${web.url}/download?bytes=${bytes}&seed=a`);
  t.equal(open.headers['content-length'], String(bytes));
  const hash = createHash('sha256');
  let got = 0;
  for await (const chunk of open.res as AsyncIterable<Buffer>) {
    hash.update(chunk);
    got += chunk.length;
  }
  t.equal(got, bytes);
  t.equal(hash.digest('hex'), open.headers['x-content-sha256']);
  const small = await rawRequest(`${web.url}/download?bytes=1000&seed=a`);
  const again = await rawRequest(`${web.url}/download?bytes=1000&seed=a`);
  const other = await rawRequest(`${web.url}/download?bytes=1000&seed=b`);
  t.same(small.body, again.body, 'same seed, same bytes');
  t.not(small.body.toString('hex'), other.body.toString('hex'));
});

t.test('SSE behind a gate: each event arrives before the next is released', async (t) => {
  const web = await startWebServer();
  t.teardown(() => web.destroy());
  const open = await openRequest(`${web.url}/sse?count=3&gate=g`);
  t.equal(open.headers['content-type'], 'text/event-stream');
  const events: { seq: number; sentAt: number }[] = [];
  for await (const line of lines(open.res)) {
    if (!line.startsWith('data: ')) continue;
    events.push(JSON.parse(line.slice(6)));
    web.gate('g').open();
  }
  t.same(
    events.map((e) => e.seq),
    [0, 1, 2],
  );
  t.ok(
    events.every((e) => Math.abs(e.sentAt - Date.now()) < 60_000),
    'server timestamps in epoch ms',
  );
});

t.test('NDJSON at an interval carries server timestamps', async (t) => {
  const web = await startWebServer();
  t.teardown(() => web.destroy());
  const open = await openRequest(`${web.url}/ndjson?count=4&intervalMs=20`);
  const events: { seq: number; sentAt: number }[] = [];
  for await (const line of lines(open.res)) events.push(JSON.parse(line));
  t.same(
    events.map((e) => e.seq),
    [0, 1, 2, 3],
  );
  t.ok(
    events.every((e, i) => i === 0 || e.sentAt >= events[i - 1].sentAt),
    'timestamps in order',
  );
  t.ok(events[3].sentAt - events[0].sentAt >= 3 * 20 - 6, 'three intervals between the first and the last');
});

t.test('WebSocket echo keeps text and binary frames', async (t) => {
  const web = await startWebServer();
  t.teardown(() => web.destroy());
  const ws = new WebSocket(`ws://127.0.0.1:${web.port}/ws?greet=1`, { headers: { 'X-Who': 'test' } });
  t.teardown(() => ws.terminate());
  const messages: { data: Buffer; binary: boolean }[] = [];
  const want = (n: number): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (messages.length >= n) {
          ws.off('message', on);
          resolve();
        }
      };
      const on = (data: Buffer, binary: boolean): void => {
        messages.push({ data, binary });
        check();
      };
      ws.on('message', on);
      check();
    });
  await want(1);
  t.match(JSON.parse(messages[0]!.data.toString()), { headers: { 'x-who': 'test' } });
  ws.send('hello');
  ws.send(Buffer.from([0, 1, 2]));
  await want(3);
  t.same([messages[1]!.data.toString(), messages[1]!.binary], ['hello', false]);
  t.same([[...messages[2]!.data], messages[2]!.binary], [[0, 1, 2], true]);
});

t.test('slow and hanging answers; close() cuts the hanging ones', async (t) => {
  const web = await startWebServer();
  t.teardown(() => web.destroy());
  t.equal((await rawRequest(`${web.url}/delay?ms=30`)).text, 'waited 30 ms');
  const arrived = once(web, 'request');
  const hanging = sendRequest(`${web.url}/hang`);
  await arrived;
  await web.close();
  await t.rejects(hanging.response, { code: 'ECONNRESET' });
  t.equal(web.openConnections, 0);
});
