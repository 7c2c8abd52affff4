import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { ControlConnection } from '../../../src/client/control-connection.js';
import { logLine, startBin } from '../../fixtures/processes/bin-process.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { tempDir } from '../../fixtures/stacks/control-plane.js';
import { literal, within } from '../../fixtures/store-helpers.js';

const BIN = 'bin/proxima-server.js';

/** A server.yaml with loopback ports 0 and a data folder, in a fresh test folder. */
function serverYaml(t: Test): { dir: string; file: string } {
  const dir = tempDir(t);
  const file = path.join(dir, 'server.yaml');
  fs.writeFileSync(
    file,
    'dataDir: ./data\ncontrol: { listen: "127.0.0.1:0" }\nadmin: { listen: "127.0.0.1:0" }\nhttp: { listen: "127.0.0.1:0", drainTimeoutMs: 5000 }\n',
  );
  return { dir, file };
}

const nodes = (file: string, ...args: string[]) => runNode(BIN, ['nodes', ...args, '-c', file]);

t.test('nodes add, list, rotate and revoke, with exit codes scripts can rely on', async (t) => {
  const { file, dir } = serverYaml(t);
  const added = await nodes(file, 'add', 'alpha');
  t.equal(added.code, 0);
  const token = /^(prx_\S+)$/m.exec(added.stdout)?.[1];
  t.ok(token, 'the token is printed once, on a line of its own');
  t.notOk(fs.readFileSync(path.join(dir, 'data', 'nodes.json'), 'utf8').includes(token!), 'and not stored');
  const json = await nodes(file, 'add', 'beta', '--json');
  t.match(JSON.parse(json.stdout), { name: 'beta', keyId: /^[0-9a-f]{16}$/, token: /^prx_/, createdAt: /^\d{4}-/ });

  const table = await nodes(file, 'list');
  t.match(table.stdout, /^NAME +STATE +SINCE +LAST SEEN +ADDRESS +VERSION +SERVICES +MODELS\nalpha +offline +- +never +- +- +- +-\nbeta /);
  const listed = JSON.parse((await nodes(file, 'list', '--json')).stdout) as { nodes: { name: string }[] };
  t.same(
    listed.nodes.map((n) => n.name),
    ['alpha', 'beta'],
  );

  const rotated = JSON.parse((await nodes(file, 'rotate', 'alpha', '--json')).stdout) as { token: string };
  t.not(rotated.token, token, 'a new token');
  t.same(await nodes(file, 'revoke', 'beta'), { code: 0, stdout: 'node beta revoked: its token no longer works\n', stderr: '' });
  t.same(
    JSON.parse((await nodes(file, 'list', '--json')).stdout).nodes.map((n: { name: string }) => n.name),
    ['alpha'],
  );

  const failures: [string[], number][] = [
    [['add', 'Bad_Name'], 2],
    [['add', 'api'], 2],
    [['add'], 2],
    [['list', 'alpha'], 2],
    [['frob', 'alpha'], 2],
    [['add', 'alpha'], 1],
    [['revoke', 'ghost'], 1],
    [['rotate', 'ghost'], 1],
  ];
  const results = await Promise.all(failures.map(([args]) => nodes(file, ...args)));
  for (const [i, r] of results.entries()) {
    const [args, code] = failures[i]!;
    t.equal(r.code, code, `nodes ${args.join(' ')} exits ${code}`);
    t.equal(r.stdout, '', 'nothing on stdout');
    t.match(r.stderr, /^proxima-server: /, 'the reason on stderr');
  }
});

t.test('the server runs from the command line; nodes commands reach it; SIGTERM drains and exits 0', async (t) => {
  const { file, dir } = serverYaml(t);
  const server = startBin(t, 'proxima-server', ['-c', file], dir);
  const listening = await logLine(server, 'listening');
  t.match(listening, {
    control: { host: '127.0.0.1', port: Number },
    http: { host: '127.0.0.1', port: Number },
    admin: { host: '127.0.0.1', port: Number },
    domain: 'localhost',
    dataDir: path.join(dir, 'data'),
  });
  const port = listening.control.port as number;
  const health = await fetch(`http://127.0.0.1:${(listening.admin as { port: number }).port}/healthz`);
  t.same([health.status, await health.json()], [200, { status: 'ok' }], 'the admin listener answers /healthz');

  const { token } = JSON.parse((await nodes(file, 'add', 'alpha', '--json')).stdout) as { token: string };
  const connect = () =>
    ControlConnection.open({
      server: { host: '127.0.0.1', port },
      tls: false,
      name: 'alpha',
      token,
      timeoutMs: 5_000,
      services: [{ name: 'web', kind: 'http' }],
      onStream: (s) => s.destroy(),
    });
  const first = await connect(); // the running server sees a node added by another process
  t.teardown(() => first.destroy());
  t.match(first.welcome, { name: 'alpha', publicUrl: /^http:\/\/alpha\.localhost:/ });
  t.equal((await nodes(file, 'revoke', 'alpha')).code, 0);
  t.match(await within(first.closed, 1_000, 'the revoked session closing'), { code: 'PRX_ERR_AUTH_FAILED' });

  const again = JSON.parse((await nodes(file, 'add', 'alpha', '--json')).stdout) as { token: string };
  const second = await ControlConnection.open({
    server: { host: '127.0.0.1', port },
    tls: false,
    name: 'alpha',
    token: again.token,
    timeoutMs: 5_000,
    services: [],
    onStream: (s) => s.destroy(),
  });
  t.teardown(() => second.destroy());
  await logLine(server, 'node online', (line) => line.node === 'alpha' && line.services.length === 0); // the second session
  server.child.kill('SIGTERM');
  t.match(await within(second.closed, 5_000, 'the node told to go'), { code: 'PRX_ERR_SERVER_DRAINING' });
  t.same(await server.exited, { code: 0, signal: null });
  t.match(await logLine(server, 'draining'), { signal: 'SIGTERM' });
  await logLine(server, 'stopped');
});

t.test('a corrupt registry stops the server at start with exit 1, naming the file', async (t) => {
  const { file, dir } = serverYaml(t);
  fs.mkdirSync(path.join(dir, 'data'));
  fs.writeFileSync(path.join(dir, 'data', 'nodes.json'), '{');
  const r = await runNode(BIN, ['-c', file]);
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`^proxima-server: .*${literal(path.join(dir, 'data', 'nodes.json')).source}.*corrupt`, 'm'));
});
