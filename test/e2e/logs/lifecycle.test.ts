/**
 * The lifecycle lines of a real super node with real nodes: `node online` with where the node
 * connected from, what it runs and shares; `node offline` with why, for each way a session ends
 * (the node stopped, its token was revoked, a second login replaced it, its keepalive went unanswered).
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { PACKAGE_VERSION } from '../../../src/version.js';
import { startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { logLine, startBin } from '../../fixtures/processes/bin-process.js';
import type { LineChild } from '../../fixtures/processes/child-lines.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { startProcessNetwork } from '../../fixtures/stacks/process-network.js';
import { within } from '../../fixtures/store-helpers.js';

const SERVER = 'bin/proxima-server.js';

t.test('node online and node offline lines, with the reason of each end', async (t) => {
  const fake = await startFakeOllama();
  t.teardown(() => fake.destroy());
  // Short heartbeats, so a frozen node is found out in about 2.5 s; a running node answers in time.
  const net = await startProcessNetwork(t, { alpha: fake }, [
    'control: { listen: "127.0.0.1:0", heartbeatIntervalMs: 500, heartbeatTimeoutMs: 2s }',
  ]);
  const { server } = net;
  const controlPort = ((await logLine(server, 'listening')) as { control: { port: number } }).control.port;

  /** Registers `name` and starts a node for it (a long reconnect delay: a replaced node does not come back during the test). */
  const startNode = async (name: string, file = path.join(net.dir, `client-${name}.yaml`)): Promise<LineChild> => {
    if (!fs.existsSync(file)) {
      const added = await runNode(SERVER, ['nodes', 'add', name, '--json', '-c', net.serverFile], net.dir);
      const { token } = JSON.parse(added.stdout) as { token: string };
      const lines = [
        `server: 127.0.0.1:${controlPort}`,
        `name: ${name}`,
        `token: ${token}`,
        'reconnect: { initialDelayMs: 1m, maxDelayMs: 1m }',
      ];
      lines.push('services:', `  - { name: ollama, kind: ollama, local: "127.0.0.1:${fake.port}", maxConcurrent: 4 }`, '');
      fs.writeFileSync(file, lines.join('\n'));
    }
    return startBin(t, 'proxima-client', ['-c', file], net.dir);
  };
  const offline = (name: string, reason: string) =>
    within(
      logLine(server, 'node offline', (l) => l.node === name && l.reason === reason),
      10_000,
      `${name} offline (${reason})`,
    );
  const onlineCount = (name: string): number =>
    server.lines.filter((l) => l.includes('"msg":"node online"') && l.includes(`"node":"${name}"`)).length;
  const offlineLines = (name: string) =>
    server.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'node offline' && l.node === name);

  t.test('node online: address, services, models and the client version', async (t) => {
    const line = await logLine(server, 'node online', (l) => l.node === 'alpha');
    t.match(line, { level: 'info', component: 'nodes', node: 'alpha', address: /127\.0\.0\.1$/, services: ['ollama'], models: 3 });
    t.equal(line.version, PACKAGE_VERSION);
  });

  t.test('a node stopped with SIGTERM: closed', async (t) => {
    net.clients.alpha!.child.kill('SIGTERM');
    const line = await offline('alpha', 'closed');
    t.match(line, { level: 'info', address: /127\.0\.0\.1$/, connectedMs: Number });
    t.same((await net.clients.alpha!.exited).code, 0);
    t.equal(offlineLines('alpha').length, 1, 'one line');
  });

  t.test('proxima-server nodes revoke: revoked', async (t) => {
    const beta = await startNode('beta');
    await logLine(server, 'node online', (l) => l.node === 'beta');
    await runNode(SERVER, ['nodes', 'revoke', 'beta', '-c', net.serverFile], net.dir);
    await within(
      logLine(server, 'node revoked', (l) => l.node === 'beta'),
      5_000,
      'the registry says it',
    );
    const line = await offline('beta', 'revoked');
    t.equal(line.level, 'info');
    t.equal((await beta.exited).code, 3, 'the node is refused and stops');
    t.same(
      offlineLines('beta').map((l) => l.reason),
      ['revoked'],
    );
  });

  t.test('a second login with the same token: the first session is replaced', async (t) => {
    const first = await startNode('gamma');
    await logLine(server, 'node online', (l) => l.node === 'gamma');
    const second = await startNode('gamma');
    await offline('gamma', 'replaced');
    await within(
      server.waitForLine(() => onlineCount('gamma') === 2),
      5_000,
      'the second session online',
    );
    t.same(
      offlineLines('gamma').map((l) => l.reason),
      ['replaced'],
      'the second is still online',
    );
    first.child.kill('SIGKILL'); // before its reconnect (1 min) would replace the second
    second.child.kill('SIGKILL');
    await offline('gamma', 'closed');
  });

  t.test('a node whose process is frozen (SIGSTOP): keepalive_timeout', async (t) => {
    const delta = await startNode('delta');
    await logLine(server, 'node online', (l) => l.node === 'delta');
    const stoppedAt = performance.now();
    delta.child.kill('SIGSTOP');
    t.teardown(() => void delta.child.kill('SIGCONT'));
    const line = await offline('delta', 'keepalive_timeout');
    const ms = performance.now() - stoppedAt;
    t.equal(line.level, 'info');
    t.ok(ms < 8_000, `found out ${Math.round(ms)} ms after the freeze (interval 500 ms, timeout 2 s)`);
    t.comment(`delta offline ${Math.round(ms)} ms after SIGSTOP`);
  });
});
