/**
 * nginx in front of the real proxima-server, as config/nginx/proxima.conf deploys it: a wildcard
 * server block terminating TLS, proxima-server behind it with http.trustProxy, a real
 * proxima-client serving a real web server. Host routing, unbuffered streaming and
 * X-Forwarded-Proto must all survive both proxies.
 */

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { gatedSeqs } from '../fixtures/fakes/web/gated-events.js';
import { startWebServer } from '../fixtures/fakes/web/web-server.js';
import { logLine, startBin } from '../fixtures/processes/bin-process.js';
import { findNginx, startNginx } from '../fixtures/processes/nginx.js';
import { runNode } from '../fixtures/processes/run-bin.js';
import { openRequest, rawRequest } from '../fixtures/wire/raw-http.js';

const nginxBin = await findNginx();
const skip = nginxBin === undefined ? 'nginx (and openssl) not found, and not installable here (needs root and apt-get)' : false;

t.test('nginx -> proxima-server -> proxima-client -> web server', { skip }, async (t) => {
  const web = await startWebServer();
  t.teardown(() => web.destroy());
  const dir = t.testdir();
  const serverFile = path.join(dir, 'server.yaml');
  fs.writeFileSync(
    serverFile,
    [
      'domain: example.com',
      'dataDir: ./data',
      'control: { listen: "127.0.0.1:0" }',
      'admin: { listen: "127.0.0.1:0" }',
      'http: { listen: "127.0.0.1:0", trustProxy: true, drainTimeoutMs: 5000 }',
      '',
    ].join('\n'),
  );
  const added = await runNode('bin/proxima-server.js', ['nodes', 'add', 'node1', '--json', '-c', serverFile]);
  const { token } = JSON.parse(added.stdout) as { token: string };
  const server = startBin(t, 'proxima-server', ['-c', serverFile], dir);
  const { control, http } = (await logLine(server, 'listening')) as { control: { port: number }; http: { port: number } };
  const clientFile = path.join(dir, 'client.yaml');
  fs.writeFileSync(
    clientFile,
    [
      `server: 127.0.0.1:${control.port}`,
      'name: node1',
      `token: ${token}`,
      'status: { listen: "127.0.0.1:0" }',
      `services: [{ name: web, local: "127.0.0.1:${web.port}" }]`,
      '',
    ].join('\n'),
  );
  startBin(t, 'proxima-client', ['-c', clientFile], dir);
  await logLine(server, 'node online', (line) => line.node === 'node1');
  const nginx = await startNginx({ upstream: `127.0.0.1:${http.port}` });
  t.teardown(() => nginx.destroy());

  // nginx keeps a pool of upstream connections and sends any Host on any of them: behind a trusted
  // proxy a connection carries requests for many tenants and for the API, one after the other.
  t.test('Host routing through both proxies', async (t) => {
    const res = await rawRequest('http://node1.example.com/echo/a?b=1', { socketPath: nginx.httpSocket });
    t.equal(res.status, 200);
    const echo = JSON.parse(res.text);
    t.equal(echo.url, '/echo/a?b=1');
    t.match(echo.headers, { host: 'node1.example.com', 'x-forwarded-host': 'node1.example.com', 'x-forwarded-proto': 'http' });
    t.match(echo.headers['x-forwarded-for'], /^unix:, 127\.0\.0\.1$/, "nginx's client, then nginx itself");
    const unknown = await rawRequest('http://node9.example.com/', { socketPath: nginx.httpSocket });
    t.same([unknown.status, unknown.headers['proxima-error']], [404, 'PRX_ERR_UNKNOWN_HOST'], 'an unknown node is 404 from Proxima');
    const api = await rawRequest('http://example.com/nodes', { socketPath: nginx.httpSocket });
    t.equal(JSON.parse(api.text).error.code, 'PRX_ERR_FORBIDDEN', 'the bare domain reaches the super node API');
  });

  t.test('SSE and NDJSON stream without buffering: each event arrives before the next is released', async (t) => {
    for (const kind of ['sse', 'ndjson'] as const) {
      const gate = `nginx-proxima-${kind}`;
      const deadline = AbortSignal.timeout(20_000); // a held-back event would keep its gate shut forever
      const open = await openRequest(`http://node1.example.com/${kind}?count=5&gate=${gate}`, { socketPath: nginx.httpSocket });
      deadline.addEventListener('abort', () => open.abort());
      t.same(await gatedSeqs(open.res, kind, web.gate(gate)), [0, 1, 2, 3, 4], kind);
    }
  });

  t.test('X-Forwarded-Proto: https set by nginx on TLS passes through proxima-server (trustProxy)', async (t) => {
    const res = await rawRequest('https://node1.example.com/echo', {
      socketPath: nginx.httpsSocket,
      ca: nginx.ca,
      servername: 'node1.example.com',
    });
    t.equal(res.status, 200);
    t.match(JSON.parse(res.text).headers, { 'x-forwarded-proto': 'https', host: 'node1.example.com' });
  });
});
