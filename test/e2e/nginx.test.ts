import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { WebSocket } from 'ws';
import { gatedSeqs } from '../fixtures/fakes/web/gated-events.js';
import { startWebServer, type WebServer } from '../fixtures/fakes/web/web-server.js';
import { findNginx, type NginxProcess, startNginx } from '../fixtures/processes/nginx.js';
import {
  checkableShippedConfig,
  deriveTestConfig,
  makeTestCertificate,
  SHIPPED_CONF,
  testPaths,
} from '../fixtures/processes/nginx-config.js';
import { openRequest, rawRequest } from '../fixtures/wire/raw-http.js';

const nginxBin = await findNginx();
const skip = nginxBin === undefined ? 'nginx (and openssl) not found, and not installable here (needs root and apt-get)' : false;

async function proxied(t: Test): Promise<{ web: WebServer; nginx: NginxProcess }> {
  const web = await startWebServer();
  t.teardown(() => web.destroy());
  const nginx = await startNginx({ upstream: web.address });
  t.teardown(() => nginx.destroy());
  return { web, nginx };
}

t.test('the shipped config passes nginx -t and keeps the streaming directives', { skip }, async (t) => {
  const shipped = fs.readFileSync(SHIPPED_CONF, 'utf8');
  const p = testPaths(fs.mkdtempSync(path.join(os.tmpdir(), 'prx-nginx-t-')));
  t.teardown(() => fs.rmSync(p.dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(p.dir, 'tmp'));
  await makeTestCertificate(p);
  const conf = path.join(p.dir, 'nginx.conf');
  fs.writeFileSync(conf, checkableShippedConfig(shipped, p));
  const check = await promisify(execFile)(nginxBin!, ['-t', '-p', p.dir, '-c', conf, '-e', path.join(p.dir, 'error.log')]);
  t.match(check.stderr, /test is successful/);
  // nginx 1.22 forwards small chunked events promptly even with buffering on, so the streaming test
  // below cannot notice a missing `proxy_buffering off`: the config the tests run must carry it.
  const running = deriveTestConfig(shipped, p, '127.0.0.1:9');
  for (const directive of [
    'proxy_buffering off;',
    'proxy_request_buffering off;',
    'proxy_http_version 1.1;',
    'proxy_set_header X-Forwarded-Proto $scheme;',
    'proxy_read_timeout 3600s;',
  ]) {
    t.ok(running.includes(directive), `the tested config has ${directive}`);
  }
  t.match(shipped, /server_name example\.com \*\.example\.com;/);
  t.match(shipped, /ssl_certificate\s+\/etc\/letsencrypt\/live\/example\.com\/fullchain\.pem;/);
});

t.test("Host routing: the user's Host and the forwarded headers reach the upstream", { skip }, async (t) => {
  const { nginx } = await proxied(t);
  const get = async (host: string, headers: Record<string, string> = {}): Promise<Record<string, any>> => {
    const res = await rawRequest(`http://${host}/echo/a/b?q=1`, { socketPath: nginx.httpSocket, headers });
    t.equal(res.status, 200, host);
    return JSON.parse(res.text);
  };
  const echo = await get('node1.example.com', { 'X-Forwarded-For': '203.0.113.7' });
  t.equal(echo.url, '/echo/a/b?q=1');
  t.match(echo.headers, {
    host: 'node1.example.com',
    'x-forwarded-host': 'node1.example.com',
    'x-forwarded-for': '203.0.113.7, unix:',
    'x-real-ip': 'unix:',
    'x-forwarded-proto': 'http',
  });
  t.notOk('connection' in echo.headers, 'no Connection header upstream, so the upstream connection is kept');
  const other = await get('chat--node2.example.com');
  t.equal(other.headers.host, 'chat--node2.example.com');
  t.equal(other.connectionId, echo.connectionId, 'nginx reused its upstream keep-alive connection');
});

t.test('SSE and NDJSON pass through unbuffered: each event arrives before the next is released', { skip }, async (t) => {
  const { web, nginx } = await proxied(t);
  for (const kind of ['sse', 'ndjson'] as const) {
    const gate = `g-${kind}`;
    // Were an event held back, the gate would never open and this deadline would fail the test.
    const deadline = AbortSignal.timeout(20_000);
    const open = await openRequest(`http://node1.example.com/${kind}?count=4&gate=${gate}`, { socketPath: nginx.httpSocket });
    deadline.addEventListener('abort', () => open.abort());
    t.equal(open.headers['content-type'], kind === 'sse' ? 'text/event-stream' : 'application/x-ndjson');
    t.same(await gatedSeqs(open.res, kind, web.gate(gate)), [0, 1, 2, 3], `${kind}: every event arrived on its own`);
  }
});

t.test('X-Forwarded-Proto: https from TLS termination reaches the upstream; a forged one does not', { skip }, async (t) => {
  const { nginx } = await proxied(t);
  const tls = await rawRequest('https://node1.example.com/echo', {
    socketPath: nginx.httpsSocket,
    ca: nginx.ca,
    servername: 'node1.example.com',
    headers: { 'X-Forwarded-Proto': 'https' },
  });
  t.equal(tls.status, 200);
  const echo = JSON.parse(tls.text);
  t.equal(echo.headers['x-forwarded-proto'], 'https');
  t.equal(echo.headers.host, 'node1.example.com');
  const forged = await rawRequest('http://node1.example.com/echo', {
    socketPath: nginx.httpSocket,
    headers: { 'X-Forwarded-Proto': 'https' },
  });
  t.equal(JSON.parse(forged.text).headers['x-forwarded-proto'], 'http', 'nginx replaces a client-sent value with its own scheme');
});

t.test('WebSocket upgrade and streamed bodies go through', { skip }, async (t) => {
  const { nginx } = await proxied(t);
  const ws = new WebSocket(`ws+unix:${nginx.httpSocket}:/ws?greet=1`, { headers: { Host: 'node1.example.com' } });
  t.teardown(() => ws.terminate());
  const greeting = await new Promise<Buffer>((resolve) => ws.once('message', resolve));
  t.match(JSON.parse(greeting.toString()).headers, { host: 'node1.example.com', upgrade: 'websocket', connection: 'upgrade' });
  ws.send('ping');
  t.equal((await new Promise<Buffer>((resolve) => ws.once('message', resolve))).toString(), 'ping');
  const body = randomBytes(3 * 1024 * 1024);
  const up = await rawRequest('http://node1.example.com/upload', { method: 'POST', body, socketPath: nginx.httpSocket });
  t.same(JSON.parse(up.text), { bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  const down = await rawRequest('http://node1.example.com/download?bytes=10485760', { socketPath: nginx.httpSocket });
  t.equal(createHash('sha256').update(down.body).digest('hex'), down.headers['x-content-sha256']);
});
