/**
 * A node with two super nodes in its `server` list, all real processes: kill -9 of the one in use,
 * then SIGSTOP of the other (its sockets stay open and silent; only the client's heartbeat notices).
 * Each time the node must be back online at the other one quickly; the times are printed.
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { logLine, startBin } from '../fixtures/processes/bin-process.js';
import type { LineChild } from '../fixtures/processes/child-lines.js';
import { runNode } from '../fixtures/processes/run-bin.js';

/** A proxima-server on `data` with its control port at `port` (0: any); resolves with it and the port. */
async function superNode(t: Test, dir: string, name: string, data: string, port = 0): Promise<{ run: LineChild; port: number }> {
  const file = path.join(dir, `${name}.yaml`);
  const lines = [
    'domain: proxima.test',
    `dataDir: ./${data}`,
    `control: { listen: "127.0.0.1:${port}" }`,
    'http: { listen: "127.0.0.1:0" }',
    'admin: { listen: false }',
    '',
  ];
  fs.writeFileSync(file, lines.join('\n'));
  const run = startBin(t, 'proxima-server', ['-c', file], dir);
  const { control } = (await logLine(run, 'listening')) as { control: { port: number } };
  return { run, port: control.port };
}

const nodeOnline = (run: LineChild): Promise<unknown> => logLine(run, 'node online', (line) => line.node === 'alpha');

t.test('kill -9 or SIGSTOP of the super node in use: the node is back at the other one within seconds', async (t) => {
  const dir = t.testdir();
  fs.writeFileSync(path.join(dir, 'a.yaml'), 'domain: proxima.test\ndataDir: ./data-a\n');
  const added = await runNode('bin/proxima-server.js', ['nodes', 'add', 'alpha', '--json', '-c', path.join(dir, 'a.yaml')], dir);
  const { token } = JSON.parse(added.stdout) as { token: string };
  fs.cpSync(path.join(dir, 'data-a'), path.join(dir, 'data-b'), { recursive: true }); // both know the node
  const a = await superNode(t, dir, 'a', 'data-a');
  const b = await superNode(t, dir, 'b', 'data-b');
  const clientFile = path.join(dir, 'client.yaml');
  fs.writeFileSync(
    clientFile,
    [
      `server: [127.0.0.1:${a.port}, 127.0.0.1:${b.port}]`,
      'name: alpha',
      `token: ${token}`,
      'services: [{ name: web, kind: http, local: "127.0.0.1:9" }]',
      'heartbeat: { intervalMs: 200, timeoutMs: 500 }',
      'status: false',
      '',
    ].join('\n'),
  );
  const client = startBin(t, 'proxima-client', ['-c', clientFile], dir);
  await nodeOnline(a.run);

  let began = performance.now();
  a.run.child.kill('SIGKILL');
  await nodeOnline(b.run);
  const afterKillMs = performance.now() - began;
  t.ok(afterKillMs < 5_000, `online at b ${afterKillMs.toFixed(0)} ms after a was killed`);
  t.ok(await logLine(client, /^online at /, (line) => line.server === `127.0.0.1:${b.port}`), 'the client logs where it is');

  const again = await superNode(t, dir, 'a-again', 'data-a', a.port);
  began = performance.now();
  b.run.child.kill('SIGSTOP');
  t.teardown(() => void b.run.child.kill('SIGCONT'));
  await nodeOnline(again.run);
  const afterStopMs = performance.now() - began;
  t.ok(afterStopMs >= 500, 'not before the heartbeat timeout');
  t.ok(afterStopMs < 5_000, `online at a again ${afterStopMs.toFixed(0)} ms after b stopped (ping every 200 ms, timeout 500 ms)`);
  t.comment(`failover after kill -9: ${afterKillMs.toFixed(0)} ms; after SIGSTOP: ${afterStopMs.toFixed(0)} ms`);
});
