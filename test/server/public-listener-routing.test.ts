import t from 'tap';
import { rawRequest } from '../fixtures/raw-http.js';
import { startWebServer, type WebServer } from '../fixtures/web-server.js';
import { parseResponses, rawConnect, startTunnel } from '../fixtures/tunnel.js';

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
    nodes: [{ name: 'alpha', services: [{ name: 'site', port: site.port }, { name: 'docs', port: docs.port }] }],
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
  t.same(bodies.map((b) => b.url), ['/echo/1', '/echo/2', '/echo/3'], 'pipelined answers in order');
  t.equal(bodies[2]!.connectionRequests, 3, 'the third request on the same local connection');
  t.equal(new Set(bodies.map((b) => b.connectionId)).size, 1, 'one local connection');
  t.equal(site.connections.length, 1);
});
