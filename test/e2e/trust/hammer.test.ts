/**
 * The attacks of issue "strangers who hammer the doors", against the real programs: a real
 * proxima-server with its default limits, a real proxima-client, and strangers on other loopback
 * addresses (127.0.0.2 and up) guessing keys and tokens, holding the control port with idle
 * connections, and trickling a body.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import t, { type Test } from 'tap';
import { startWebServer } from '../../fixtures/fakes/web/web-server.js';
import { logLine, startBin } from '../../fixtures/processes/bin-process.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { parseResponses, rawConnect } from '../../fixtures/stacks/tunnel.js';
import { within } from '../../fixtures/store-helpers.js';

const GOOD_KEY = 'sk-good-key-0123456789';
const ADMIN = 'admin-token-0123456789abcdef';

/**
 * `count` GETs of `path` at once from `localAddress`, each with its own wrong bearer token: how many
 * got each status, and how many 401s the throttle allows in that time (10, and one more for each
 * failure that decayed meanwhile: one every 6 s).
 */
async function guesses(t: Test, port: number, localAddress: string, path: string, count: number) {
  const started = performance.now();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32, localAddress });
  t.teardown(() => agent.destroy());
  const statuses = await Promise.all(
    Array.from({ length: count }, (_, i) => status(agent, port, path, `wrong-credential-${i}-0123456789`)),
  );
  const allowed = 10 + Math.floor((performance.now() - started) / 6000);
  return {
    unauthorized: statuses.filter((s) => s === 401).length,
    refused: statuses.filter((s) => s === 429).length,
    allowed,
  };
}

function status(agent: http.Agent | undefined, port: number, path: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent, headers: { host: 'proxima.test', authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      })
      .on('error', reject);
  });
}

t.test('the real programs hold against guessed credentials, idle connections and a trickled body', async (t) => {
  const web = await startWebServer();
  t.teardown(() => web.destroy());
  const dir = t.testdir();
  const serverFile = path.join(dir, 'server.yaml');
  fs.writeFileSync(
    serverFile,
    [
      'domain: proxima.test',
      'dataDir: ./data',
      'control: { listen: "127.0.0.1:0" }',
      'http: { listen: "127.0.0.1:0", drainTimeoutMs: 5000, bodyTimeoutMs: 1000 }',
      `api: { keys: [{ id: k1, key: ${GOOD_KEY} }] }`,
      `admin: { token: ${ADMIN}, listen: "127.0.0.1:0" }`,
      '',
    ].join('\n'),
  );
  const added = await runNode('bin/proxima-server.js', ['nodes', 'add', 'alpha', '--json', '-c', serverFile]);
  const { token } = JSON.parse(added.stdout) as { token: string };
  const server = startBin(t, 'proxima-server', ['-c', serverFile], dir);
  const { control, http: public_ } = (await logLine(server, 'listening')) as { control: { port: number }; http: { port: number } };

  const keys = await guesses(t, public_.port, '127.0.0.2', '/v1/models', 3000);
  t.ok(keys.unauthorized >= 10 && keys.unauthorized <= keys.allowed, `3,000 wrong API keys: ${keys.unauthorized} got 401`);
  t.equal(keys.refused, 3000 - keys.unauthorized, 'the rest got 429');
  t.equal(await status(undefined, public_.port, '/v1/models', GOOD_KEY), 200, 'a good key from 127.0.0.1 meanwhile');
  const admin = await guesses(t, public_.port, '127.0.0.3', '/nodes', 1500);
  t.ok(admin.unauthorized >= 10 && admin.unauthorized <= admin.allowed, `1,500 wrong admin tokens: ${admin.unauthorized} got 401`);
  t.equal(admin.refused, 1500 - admin.unauthorized, 'the rest got 429');
  t.equal(await status(undefined, public_.port, '/nodes', ADMIN), 200, 'the admin token from 127.0.0.1 meanwhile');

  // 3,000 idle connections to the control port from one address, then the node logs in.
  let closed = 0;
  const idle: net.Socket[] = [];
  t.teardown(() => {
    for (const s of idle) s.destroy();
  });
  for (let i = 0; i < 3000; i += 250) {
    await Promise.all(
      Array.from({ length: 250 }, () => {
        const socket = net.connect({ port: control.port, host: '127.0.0.1', localAddress: '127.0.0.4' });
        idle.push(socket);
        socket.on('error', () => undefined);
        return new Promise<void>((resolve) => {
          socket.once('connect', () => resolve());
          socket.once('close', () => {
            closed++;
            resolve();
          });
        });
      }),
    );
  }
  const clientFile = path.join(dir, 'client.yaml');
  fs.writeFileSync(
    clientFile,
    [
      `server: 127.0.0.1:${control.port}`,
      'name: alpha',
      `token: ${token}`,
      'status: { listen: "127.0.0.1:0" }',
      'services:',
      `  - { name: web, local: "127.0.0.1:${web.port}" }`,
      '',
    ].join('\n'),
  );
  startBin(t, 'proxima-client', ['-c', clientFile], dir);
  await within(
    logLine(server, 'node online', (line) => line.node === 'alpha'),
    10_000,
    'alpha online',
  );
  t.ok(closed >= 3000 - 16, `the server closed ${closed} of the 3,000 idle connections; alpha logged in`);
  const refusals = server.lines.filter((line) => line.includes('"connection refused"')).length;
  t.ok(refusals <= 20, `${refusals} log lines for the refused connections`);

  // A body trickled to alpha's web service, a byte every 20 ms.
  const conn = await rawConnect(t, public_.port);
  conn.socket.write('POST /upload HTTP/1.1\r\nHost: alpha.proxima.test\r\nContent-Length: 100000\r\n\r\n');
  const timer = setInterval(() => conn.socket.writable && conn.socket.write('x'), 20);
  const { bytes } = await conn.closed;
  clearInterval(timer);
  t.same(
    parseResponses(bytes).map((r) => [r.status, r.header('proxima-error')]),
    [[408, 'PRX_ERR_HTTP_BODY_TIMEOUT']],
    'a trickled body gets 408 at http.bodyTimeoutMs',
  );
});
