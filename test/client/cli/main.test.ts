import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { ControlConnection } from '../../../src/client/control-connection.js';
import type { NodeSession } from '../../../src/server/control/node-session.js';
import type { ProximaServer } from '../../../src/server/server.js';
import { logLine, startBin } from '../../fixtures/processes/bin-process.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { makeCertificate } from '../../fixtures/processes/tls-files.js';
import {
  httpListener,
  nextEvent,
  nodeOptions,
  online,
  register,
  startServer,
  tempDir,
  testServerConfig,
} from '../../fixtures/stacks/control-plane.js';

const BIN = 'bin/proxima-client.js';

async function apiServer(t: Test, extra: Record<string, unknown>): Promise<{ server: ProximaServer; url: string }> {
  const dataDir = tempDir(t);
  const server = await startServer(t, { dataDir, config: testServerConfig(dataDir, extra), publicListener: httpListener });
  return { server, url: `http://127.0.0.1:${server.httpAddress()!.port}` };
}

/** A client.yaml for node `name` with `token`, dialing `port`. */
function clientYaml(t: Test, port: number, name: string, token: string): { dir: string; file: string } {
  const dir = tempDir(t);
  const file = path.join(dir, 'client.yaml');
  const yaml = [
    `server: 127.0.0.1:${port}`,
    `name: ${name}`,
    `token: ${token}`,
    'status: { listen: "127.0.0.1:0" }',
    'services: [{ name: web, local: "127.0.0.1:9" }]',
    'reconnect: { initialDelayMs: 10, maxDelayMs: 100 }',
    '',
  ];
  fs.writeFileSync(file, yaml.join('\n'));
  return { dir, file };
}

t.test('register: prints the token, or JSON, or writes it to a 0600 file that logs in', async (t) => {
  const { server, url } = await apiServer(t, { registration: { mode: 'open' } });
  const plain = await runNode(BIN, ['register', '--server', url, '--name', 'alpha']);
  t.equal(plain.code, 0);
  t.match(plain.stdout, /^node alpha registered\. .*\nprx_\S+\n$/);
  const json = await runNode(BIN, ['register', '--server', `${url}/`, '--name', 'beta', '--json']);
  t.match(JSON.parse(json.stdout), { name: 'beta', keyId: /^[0-9a-f]{16}$/, token: /^prx_/, createdAt: /^\d{4}-/ });
  const dir = tempDir(t);
  const file = path.join(dir, 'node.token');
  fs.writeFileSync(file, 'old', { mode: 0o644 });
  const written = await runNode(BIN, ['register', '--server', url, '--name', 'gamma', '--write', file]);
  t.same(written, { code: 0, stdout: `node gamma registered; its token is in ${file}\n`, stderr: '' });
  t.equal(fs.statSync(file).mode & 0o777, 0o600, 'readable by its owner only, even over an existing file');
  const token = fs.readFileSync(file, 'utf8').trim();
  const connection = await ControlConnection.open(nodeOptions(server, 'gamma', { token }));
  t.teardown(() => connection.destroy());
  t.equal(connection.welcome.name, 'gamma', 'the written token logs in');
});

t.test('register: every refusal is a clear message and an exit code', async (t) => {
  const open = await apiServer(t, { registration: { mode: 'open', openRatePerMinute: 2 } });
  const admin = await apiServer(t, { admin: { token: 'a'.repeat(32) } });
  await register(open.server, 'taken');
  const cases: [string, string[], number, RegExp][] = [
    ['a taken name', ['--server', open.url, '--name', 'taken'], 2, /refused to register "taken" \(409\).*PRX_ERR_NAME_TAKEN/],
    ['a bad name, refused before any request', ['--server', open.url, '--name', 'No_Good'], 2, /node name "No_Good"/],
    ['a URL that is not one', ['--server', 'proxima.example.com', '--name', 'alpha'], 2, /--server must be a URL/],
    ['admin mode without the admin token', ['--server', admin.url, '--name', 'alpha'], 3, /\(403\).*PRX_ERR_FORBIDDEN/],
    [
      'a wrong admin token',
      ['--server', admin.url, '--name', 'alpha', '--admin-token', 'b'.repeat(32)],
      3,
      /\(401\).*PRX_ERR_UNAUTHORIZED/,
    ],
    ['nothing listening', ['--server', 'http://127.0.0.1:9', '--name', 'alpha'], 1, /cannot register with http:\/\/127\.0\.0\.1:9\/nodes/],
  ];
  for (const [why, args, code, message] of cases) {
    const r = await runNode(BIN, ['register', ...args]);
    t.equal(r.code, code, `${why}: exit ${code}`);
    t.equal(r.stdout, '');
    t.match(r.stderr, message, why);
  }
  const withToken = await runNode(BIN, ['register', '--server', admin.url, '--name', 'alpha', '--admin-token', 'a'.repeat(32), '--json']);
  t.equal(withToken.code, 0, 'the admin token registers in admin mode');
  await runNode(BIN, ['register', '--server', open.url, '--name', 'one']);
  const limited = await runNode(BIN, ['register', '--server', open.url, '--name', 'two']);
  t.equal(limited.code, 1, 'rate limited: try later');
  t.match(limited.stderr, /\(429\).*PRX_ERR_RATE_LIMITED/);
});

t.test('run: online at its public URL; back by itself after a super node restart; SIGTERM drains and exits 0', async (t) => {
  const dataDir = tempDir(t);
  const first = await startServer(t, { dataDir });
  const token = await register(first, 'alpha');
  const port = first.controlAddress().port;
  const { file, dir } = clientYaml(t, port, 'alpha', token);
  const client = startBin(t, 'proxima-client', ['-c', file], dir);
  t.match(await logLine(client, /^online at /), {
    msg: `online at http://alpha.localhost:${first.config.http.listen.port}`,
    node: 'alpha',
  });
  t.same((await online(first, 'alpha')).services, [{ name: 'web', kind: 'http', expose: 'public' }]);
  await first.close();
  await logLine(client, /^not connected; trying again in \d+ ms$/);
  const second = await startServer(t, { dataDir, config: testServerConfig(dataDir, { control: { listen: `127.0.0.1:${port}` } }) });
  const node = await online(second, 'alpha');
  const gone = nextEvent<NodeSession>(second.nodes, 'closed');
  client.child.kill('SIGTERM');
  t.equal(await gone, node, 'the node left the super node');
  t.same(await client.exited, { code: 0, signal: null });
  t.match(await logLine(client, 'draining'), { signal: 'SIGTERM' });
  await logLine(client, 'stopped');
});

t.test('run: tls: true verifies against the trusted CAs, NODE_EXTRA_CA_CERTS included', async (t) => {
  const dataDir = tempDir(t);
  const files = makeCertificate(dataDir);
  const server = await startServer(t, { dataDir, config: testServerConfig(dataDir, { control: { tls: files } }) });
  const token = await register(server, 'alpha');
  const { file, dir } = clientYaml(t, server.controlAddress().port, 'alpha', token);
  fs.appendFileSync(file, 'tls: true\n');
  const client = startBin(t, 'proxima-client', ['-c', file], dir, { ...process.env, NODE_EXTRA_CA_CERTS: files.cert });
  await logLine(client, /^online at /);
  await online(server, 'alpha');
  client.child.kill('SIGTERM');
  t.same(await client.exited, { code: 0, signal: null });
});

t.test('run: a refused token exits 3 with a clear message instead of retrying', async (t) => {
  const server = await startServer(t);
  await register(server, 'alpha');
  const { file, dir } = clientYaml(t, server.controlAddress().port, 'alpha', `prx_0123456789abcdef_${'A'.repeat(43)}`);
  const r = await runNode(BIN, ['-c', file], dir);
  t.equal(r.code, 3);
  t.match(r.stderr, /^proxima-client: the super node refused node "alpha" \(authentication failed\): check name and token/m);
  t.notMatch(r.stderr, /trying again/);
});
