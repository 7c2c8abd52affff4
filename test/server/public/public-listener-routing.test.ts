import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { startWebServer, type WebServer } from '../../fixtures/fakes/web/web-server.js';
import { parseResponses, rawConnect, startTunnel } from '../../fixtures/stacks/tunnel.js';
import { rawRequest } from '../../fixtures/wire/raw-http.js';

async function web(t: { teardown(fn: () => unknown): void }): Promise<WebServer> {
  const server = await startWebServer();
  t.teardown(() => server.destroy());
  return server;
}

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  connectionId: number;
  connectionRequests: number;
  bodyBytes: number;
}

t.test('Host picks the node and service: default at <node>.<domain>, named at <service>--<node>.<domain>', async (t) => {
  const site = await web(t);
  const docs = await web(t);
  const tunnel = await startTunnel(t, {
    nodes: [
      {
        name: 'alpha',
        services: [
          { name: 'site', port: site.port },
          { name: 'docs', port: docs.port },
        ],
      },
    ],
  });
  const seen = (server: WebServer): Promise<string> => new Promise((resolve) => server.once('request', (req) => resolve(req.url ?? '')));
  for (const [host, server, path] of [
    [tunnel.host('alpha'), site, '/echo/default'],
    [tunnel.host('alpha', 'site'), site, '/echo/site'],
    [tunnel.host('alpha', 'docs'), docs, '/echo/docs'],
    [`${tunnel.host('alpha', 'docs').toUpperCase()}.:${tunnel.port}`, docs, '/echo/docs-upper'],
  ] as const) {
    const got = seen(server);
    const res = await rawRequest(tunnel.url(path), { headers: { Host: host }, agent: false });
    t.equal(res.status, 200, host);
    t.equal((JSON.parse(res.text) as Echo).url, path, `${host} reached its service`);
    t.equal(await got, path);
  }
});

t.test('the bare domain, api.<domain>, an IP and other names reach the API', async (t) => {
  const tunnel = await startTunnel(t, { nodes: [] });
  for (const host of [tunnel.domain, `api.${tunnel.domain}`, `127.0.0.1:${tunnel.port}`, 'example.org', `${tunnel.domain}.evil.example`]) {
    const res = await rawRequest(tunnel.url('/v1/models'), { headers: { Host: host }, agent: false });
    t.equal(res.status, 200, host);
    t.equal(res.text, `api ${host} /v1/models`, `${host}: the API answered`);
  }
});

t.test('keep-alive: requests on one connection share one tunnel stream to one local connection', async (t) => {
  const site = await web(t);
  const tunnel = await startTunnel(t, { nodes: [{ name: 'alpha', services: [{ name: 'site', port: site.port }] }] });
  const conn = await rawConnect(t, tunnel.port);
  const host = tunnel.host('alpha');
  conn.socket.write(`GET /echo/1 HTTP/1.1\r\nHost: ${host}\r\n\r\nGET /echo/2 HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  await conn.waitFor('/echo/2');
  conn.socket.write(`GET /echo/3 HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  const { bytes } = await conn.closed;
  const bodies = parseResponses(bytes).map((r) => JSON.parse(r.text) as Echo);
  t.same(
    bodies.map((b) => b.url),
    ['/echo/1', '/echo/2', '/echo/3'],
    'pipelined answers in order',
  );
  t.equal(bodies[2]!.connectionRequests, 3, 'the third request on the same local connection');
  t.equal(new Set(bodies.map((b) => b.connectionId)).size, 1, 'one local connection');
  t.equal(site.connections.length, 1);
});

t.test('Host is rewritten on every request of a keep-alive connection (Ollama answers 403 to any other)', async (t) => {
  const fake = await startFakeOllama();
  t.teardown(() => fake.destroy());
  const hostHeader = `localhost:${fake.port}`;
  const tunnel = await startTunnel(t, {
    nodes: [
      {
        name: 'alpha',
        services: [
          { name: 'ollama', port: fake.port, hostHeader },
          { name: 'raw', port: fake.port },
        ],
      },
    ],
  });
  const conn = await rawConnect(t, tunnel.port);
  const host = tunnel.host('alpha');
  conn.socket.write(`GET /api/version HTTP/1.1\r\nHost: ${host}\r\n\r\n`.repeat(2));
  await conn.waitFor('"version"');
  conn.socket.write(
    `GET /api/tags HTTP/1.1\r\nHost: ${host}\r\n\r\nGET /api/version HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
  );
  const responses = parseResponses((await conn.closed).bytes);
  t.same(
    responses.map((r) => r.status),
    [200, 200, 200, 200],
    'every request on the connection was let in',
  );
  t.same(
    fake.requests.map((r) => r.host),
    Array(4).fill(hostHeader),
    'each one carried the rewritten Host',
  );
  t.equal(fake.requests[0]!.headers['x-forwarded-host'], host, 'the original Host travels as X-Forwarded-Host');

  const without = await rawRequest(tunnel.url('/api/version'), { headers: { Host: tunnel.host('alpha', 'raw') }, agent: false });
  t.equal(without.status, 403, 'without the rewrite the fake refuses: the check is real');
});

t.test('X-Forwarded-*: replaced without trustProxy, kept and appended with it', async (t) => {
  const site = await web(t);
  const forged = { 'X-Forwarded-For': '203.0.113.9', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'front.example' };
  for (const trustProxy of [false, true]) {
    const tunnel = await startTunnel(t, {
      nodes: [{ name: 'alpha', services: [{ name: 'web', port: site.port }] }],
      listener: { trustProxy },
    });
    const res = await rawRequest(tunnel.url('/echo'), { headers: { Host: tunnel.host('alpha'), ...forged }, agent: false });
    const { headers } = JSON.parse(res.text) as Echo;
    const seen = [headers['x-forwarded-for'], headers['x-forwarded-proto'], headers['x-forwarded-host'], headers.host];
    if (trustProxy)
      t.same(seen, ['203.0.113.9, 127.0.0.1', 'https', 'front.example', tunnel.host('alpha')], "trustProxy: the front proxy's values stay");
    else t.same(seen, ['127.0.0.1', 'http', tunnel.host('alpha'), tunnel.host('alpha')], 'no trustProxy: what the super node saw');
  }
});

t.test('an API connection: later requests go to the API server too; node:http parses them', async (t) => {
  const tunnel = await startTunnel(t);
  const conn = await rawConnect(t, tunnel.port);
  conn.socket.write(
    `GET /a HTTP/1.1\r\nHost: ${tunnel.domain}\r\n\r\nGET /b HTTP/1.1\r\nHost: api.${tunnel.domain}\r\nConnection: close\r\n\r\n`,
  );
  const responses = parseResponses((await conn.closed).bytes);
  t.same(
    responses.map((r) => r.text),
    [`api ${tunnel.domain} /a`, `api api.${tunnel.domain} /b`],
  );
  t.equal(tunnel.listener.stats().accepted, 1);
});

t.test('pipelining: 100 requests in one write get 100 answers in order; HEAD and 100-continue keep the count', async (t) => {
  const site = await web(t);
  const tunnel = await startTunnel(t, { nodes: [{ name: 'alpha', services: [{ name: 'site', port: site.port }] }] });
  const host = tunnel.host('alpha');
  const conn = await rawConnect(t, tunnel.port);
  const burst = Array.from({ length: 100 }, (_, i) => `GET /echo/${i} HTTP/1.1\r\nHost: ${host}\r\n\r\n`).join('');
  conn.socket.write(burst + `HEAD /download?bytes=10 HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  await conn.waitFor('X-Content-SHA256');
  conn.socket.write(`POST /upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n`);
  await conn.waitFor('100 Continue');
  conn.socket.write(`hello`);
  conn.socket.write(`GET /echo/last HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  const { bytes } = await conn.closed;
  const responses = parseResponses(bytes, [...Array<string>(100).fill('GET'), 'HEAD', 'POST', 'POST']);
  const echoes = responses.slice(0, 100).map((r) => (JSON.parse(r.text) as Echo).url);
  t.same(
    echoes,
    Array.from({ length: 100 }, (_, i) => `/echo/${i}`),
    'in order',
  );
  const [head, interim, upload, last] = responses.slice(100);
  t.same([head!.status, head!.header('content-length'), head!.body.length], [200, '10', 0], 'HEAD: a length, no body');
  t.equal(interim!.status, 100, 'the interim answer passed through');
  t.same(JSON.parse(upload!.text), { bytes: 5, sha256: createHash('sha256').update('hello').digest('hex') });
  t.equal((JSON.parse(last!.text) as Echo).url, '/echo/last');
  t.equal(site.connections.length, 1);
});

t.test('an upgrade the service declines is an ordinary answer: requests after it go on', async (t) => {
  const local = http.createServer((req, res) => res.end(`plain ${req.url} ${req.headers.upgrade ?? '-'}`));
  local.listen(0, '127.0.0.1');
  await once(local, 'listening');
  t.teardown(() => {
    local.closeAllConnections();
    local.close();
  });
  const tunnel = await startTunnel(t, {
    nodes: [{ name: 'alpha', services: [{ name: 'web', port: (local.address() as AddressInfo).port }] }],
  });
  const host = tunnel.host('alpha');
  const conn = await rawConnect(t, tunnel.port);
  conn.socket.write(
    `GET /ws HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n` +
      `GET /next HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
  );
  const { bytes } = await conn.closed;
  t.same(
    parseResponses(bytes).map((r) => r.text),
    ['plain /ws websocket', 'plain /next -'],
    'the bytes after the upgrade request were held, then read as HTTP',
  );
});

t.test('each request on a keep-alive connection is checked against the advert of now: a door closed since is closed', async (t) => {
  const site = await web(t);
  const tunnel = await startTunnel(t, { nodes: [{ name: 'alpha', services: [{ name: 'web', port: site.port }] }] });
  const get = `GET /echo HTTP/1.1\r\nHost: ${tunnel.host('alpha')}\r\n\r\n`;
  const user = await rawConnect(t, tunnel.port);
  user.socket.write(get);
  await user.waitFor('"connectionRequests"');
  // The node advertises its service anew: now only the network's API may reach it.
  const live = tunnel.directory.nodes.get('alpha')!.live as unknown as { services: unknown[] };
  live.services = [{ name: 'web', kind: 'http', expose: 'network' }];
  user.socket.write(get);
  const { bytes } = await user.closed;
  t.same(
    parseResponses(bytes).map((r) => [r.status, r.header('proxima-error') ?? null]),
    [
      [200, null],
      [403, 'PRX_ERR_SERVICE_NOT_PUBLIC'],
    ],
    'the second request is refused on the same connection',
  );
  t.equal(site.connections.length, 1);
  t.equal(JSON.parse(parseResponses(bytes)[0]!.text).connectionRequests, 1, 'the node saw only the first request');
});
