/**
 * Exposure and auth, with the real programs: `proxima-server` and `proxima-client` from bin/, a fake
 * Ollama and the fake web server behind the node, requests from real sockets. The super node
 * refuses before a byte reaches the node, and the node never sees the credential.
 */
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t, { type Test } from 'tap';
import { WebSocket } from 'ws';
import { hashPassword, hashToken } from '../../../src/proto/service-access.js';
import { startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { startWebServer } from '../../fixtures/fakes/web/web-server.js';
import { logLine, startBin } from '../../fixtures/processes/bin-process.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { rawRequest } from '../../fixtures/wire/raw-http.js';

const KEY = 'user-key-0123456789abcdef';
const PASSWORD = 'correct horse battery staple';
const TOKEN = 'bearer-token-0123456789abcdef0123';

/** Writes server.yaml, registers alpha, starts proxima-server, then proxima-client with `services`. */
async function startStack(t: Test, http: string, services: string[]) {
  const dir = t.testdir();
  const serverFile = path.join(dir, 'server.yaml');
  fs.writeFileSync(
    serverFile,
    [
      'domain: proxima.test',
      'dataDir: ./data',
      'control: { listen: "127.0.0.1:0" }',
      'admin: { listen: "127.0.0.1:0" }',
      `http: ${http}`,
      `api: { keys: [{ id: user, key: ${KEY} }] }`,
      '',
    ].join('\n'),
  );
  const added = await runNode('bin/proxima-server.js', ['nodes', 'add', 'alpha', '--json', '-c', serverFile]);
  const { token } = JSON.parse(added.stdout) as { token: string };
  const server = startBin(t, 'proxima-server', ['-c', serverFile], dir);
  const { control, http: bound } = (await logLine(server, 'listening')) as { control: { port: number }; http: { port: number } };
  const clientFile = path.join(dir, 'client.yaml');
  fs.writeFileSync(
    clientFile,
    [
      `server: 127.0.0.1:${control.port}`,
      'name: alpha',
      `token: ${token}`,
      'status: { listen: "127.0.0.1:0" }',
      'services:',
      ...services,
      '',
    ].join('\n'),
  );
  startBin(t, 'proxima-client', ['-c', clientFile], dir);
  await logLine(server, 'node online', (line) => line.node === 'alpha');
  return { port: bound.port, server };
}

const CHAT = JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: false });

t.test("an ollama service without expose is the network's: refused on the tenant host, served through the API", async (t) => {
  const ollama = await startFakeOllama();
  t.teardown(() => ollama.destroy());
  const { port } = await startStack(t, '{ listen: "127.0.0.1:0" }', [
    `  - { name: ollama, kind: ollama, local: "127.0.0.1:${ollama.port}" }`,
  ]);
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  const post = (host: string, headers: Record<string, string> = {}) =>
    rawRequest(url, { method: 'POST', body: CHAT, headers: { Host: host, 'Content-Type': 'application/json', ...headers }, agent: false });

  for (const host of ['alpha.proxima.test', 'ollama--alpha.proxima.test']) {
    const res = await post(host);
    t.same([res.status, res.headers['proxima-error']], [403, 'PRX_ERR_SERVICE_NOT_PUBLIC'], host);
    t.match(res.text, /reachable through the network's API/);
  }
  t.same(
    ollama.requests.filter((r) => r.path !== '/api/tags'),
    [],
    "the fake Ollama saw no request but the node's own model discovery",
  );
  const api = await post('proxima.test', { Authorization: `Bearer ${KEY}` });
  t.equal(api.status, 200, 'the model API, with a key, still reaches it');
  t.equal((JSON.parse(api.text) as { model: string }).model, 'llama3.2');
  t.same(
    ollama.requests.filter((r) => r.path === '/v1/chat/completions').map((r) => r.status),
    [200],
    'exactly the API request reached Ollama',
  );
});

t.test('protected services: Basic, bearer, allow and deny, WebSocket upgrades, X-Forwarded-For only from a trusted proxy', async (t) => {
  const web = await startWebServer();
  t.teardown(() => web.destroy());
  const passwordHash = await hashPassword(PASSWORD);
  const local = `local: "127.0.0.1:${web.port}"`;
  // Listening on both stacks: a request from ::1 comes from the trusted proxy, one from 127.0.0.1 does not.
  const { port } = await startStack(t, '{ listen: "[::]:0", trustProxy: ["::1/128"] }', [
    `  - { name: web, ${local}, auth: { basic: [{ user: alice, passwordHash: "${passwordHash}" }], bearer: ["${hashToken(TOKEN)}"] } }`,
    `  - { name: lan, ${local}, expose: protected, auth: { allow: [203.0.113.0/24] } }`,
    `  - { name: denied, ${local}, auth: { deny: ["127.0.0.1", "::1"] } }`,
    `  - { name: open, ${local}, expose: public }`,
  ]);
  const get = (host: string, headers: Record<string, string> = {}, from = '127.0.0.1') =>
    rawRequest(`http://${from === '::1' ? '[::1]' : from}:${port}/echo/x`, { headers: { Host: host, ...headers }, agent: false });
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const requestsBefore = web.connections.length;

  const none = await get('alpha.proxima.test');
  t.same([none.status, none.headers['proxima-error']], [401, 'PRX_ERR_UNAUTHORIZED'], 'no credential: 401');
  t.equal(none.headers['www-authenticate'], 'Basic realm="alpha.proxima.test", charset="UTF-8"');
  const wrong = await get('alpha.proxima.test', { Authorization: basic('alice', 'wrong') });
  t.equal(wrong.status, 401, 'a wrong password: 401');
  t.equal((await get('alpha.proxima.test', { Authorization: basic('bob', PASSWORD) })).status, 401, 'an unknown user: 401');
  t.equal((await get('alpha.proxima.test', { Authorization: 'Bearer not-the-token-at-all' })).status, 401, 'a wrong token: 401');
  t.equal(web.connections.length, requestsBefore, 'no refused request reached the web server');

  for (const [what, authorization] of [
    ['the right password', basic('alice', PASSWORD)],
    ['the right bearer token', `Bearer ${TOKEN}`],
  ] as const) {
    const ok = await get('alpha.proxima.test', { Authorization: authorization });
    t.equal(ok.status, 200, what);
    const seen = JSON.parse(ok.text) as { headers: Record<string, string> };
    t.equal(seen.headers.authorization, undefined, `${what}: the service saw no Authorization header`);
  }

  // One keep-alive connection, two pipelined requests: each head is checked on its own.
  const socket = net.connect(port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  const request = (authorization?: string) =>
    `GET /echo/keep HTTP/1.1\r\nHost: alpha.proxima.test\r\n${authorization === undefined ? '' : `Authorization: ${authorization}\r\n`}\r\n`;
  socket.write(request(basic('alice', PASSWORD)) + request());
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  await once(socket, 'end');
  const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3}) [A-Z]/g)].map((m) => Number(m[1]));
  t.same(statuses, [200, 401], 'on one keep-alive connection: the first request passes, the second without a credential is refused');

  const ws = (headers: Record<string, string>) =>
    new Promise<number | Buffer>((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/ws?greet=1`, { headers: { Host: 'alpha.proxima.test', ...headers } });
      t.teardown(() => socket.terminate());
      socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.once('message', (data: Buffer) => resolve(data));
      socket.once('error', reject);
    });
  t.equal(await ws({}), 401, 'a WebSocket upgrade without a credential: 401');
  const greeting = await ws({ Authorization: basic('alice', PASSWORD) });
  t.ok(Buffer.isBuffer(greeting), 'with the password the upgrade goes through');
  t.notMatch(String(greeting), /authorization/i, 'and the service never saw the credential');

  const denied = await get('denied--alpha.proxima.test');
  t.same([denied.status, denied.headers['proxima-error']], [403, 'PRX_ERR_FORBIDDEN'], 'a denied address: 403');
  const forged = await get('lan--alpha.proxima.test', { 'X-Forwarded-For': '203.0.113.5' });
  t.equal(forged.status, 403, 'X-Forwarded-For from an untrusted peer is ignored: 127.0.0.1 is not allowed');
  const trusted = await get('lan--alpha.proxima.test', { 'X-Forwarded-For': '203.0.113.5' }, '::1');
  t.equal(trusted.status, 200, 'from the trusted proxy (::1), its X-Forwarded-For is the client: allowed');
  t.equal((JSON.parse(trusted.text) as { headers: Record<string, string> }).headers['x-forwarded-for'], '203.0.113.5, ::1');
  t.equal((await get('lan--alpha.proxima.test', {}, '::1')).status, 403, 'the trusted proxy itself is not in the allow list');
  t.equal((await get('open--alpha.proxima.test')).status, 200, 'a public service: anyone');
});
