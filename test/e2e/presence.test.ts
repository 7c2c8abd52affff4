/**
 * `proxima-server nodes list` and `GET /nodes` tell online from offline, with the real programs:
 * a node online shows its address, client version, services and models; a stopped client goes
 * offline; last-seen moves with heartbeats; a server killed with SIGKILL leaves every node offline.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { PACKAGE_VERSION } from '../../src/version.js';
import { startFakeOllama } from '../fixtures/fakes/ollama/fake-ollama.js';
import { runNode } from '../fixtures/processes/run-bin.js';
import { startProcessNetwork } from '../fixtures/stacks/process-network.js';

const ADMIN = 'admin-token-for-presence-tests';

interface Status {
  name: string;
  online: boolean;
  connectedAt: string | null;
  lastSeenAt: string | null;
  address: string | null;
  clientVersion: string | null;
  services: string[];
  models: string[];
}

async function fake(t: Test) {
  const f = await startFakeOllama({ models: [{ name: 'llama3.2', answerTokens: 4 }] });
  t.teardown(() => f.destroy());
  return f;
}

/** Polls `check` (not a sleep to synchronise: each turn looks, and the deadline fails the test). */
async function poll<T>(what: string, check: () => Promise<T | undefined>, deadlineMs = 10_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(50);
  }
}

t.test('nodes list: online with address, version, services and models; offline once stopped or the server is killed', async (t) => {
  const net = await startProcessNetwork(t, { alpha: await fake(t), beta: await fake(t) }, [
    'control: { listen: "127.0.0.1:0", heartbeatIntervalMs: 150 }',
    'presence: { leaseIntervalMs: 300ms, writeDelayMs: 50ms }',
    `admin: { token: ${ADMIN} }`,
  ]);
  const list = async (): Promise<Status[]> => {
    const r = await runNode('bin/proxima-server.js', ['nodes', 'list', '--json', '-c', net.serverFile], net.dir);
    t.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { nodes: Status[] }).nodes;
  };
  const both = await poll('both nodes online', async () => {
    const nodes = await list();
    return nodes.every((n) => n.online) ? nodes : undefined;
  });
  for (const node of both) {
    t.same(node.models, ['llama3.2:latest'], `${node.name} shares its model`);
    t.match(node, {
      online: true,
      connectedAt: /^\d{4}-\d\d-\d\dT/,
      address: /127\.0\.0\.1$/,
      clientVersion: PACKAGE_VERSION,
      services: ['ollama'],
      models: ['llama3.2:latest'],
    });
  }
  const table = await runNode('bin/proxima-server.js', ['nodes', 'list', '-c', net.serverFile], net.dir);
  const lines = table.stdout.split('\n');
  t.match(lines[0], /^NAME +STATE +SINCE +LAST SEEN +ADDRESS +VERSION +SERVICES +MODELS$/);
  t.match(
    lines[1],
    new RegExp(`^alpha +online +\\S+ +\\S+ +\\S*127\\.0\\.0\\.1 +${PACKAGE_VERSION.replaceAll('.', '\\.')} +ollama +llama3\\.2:latest$`),
  );

  // Last-seen follows the heartbeats (every 150 ms), written with the lease (every 300 ms).
  const first = both.find((n) => n.name === 'alpha')!.lastSeenAt!;
  const later = await poll('alpha last seen later', async () => {
    const alpha = (await list()).find((n) => n.name === 'alpha')!;
    return Date.parse(alpha.lastSeenAt!) >= Date.parse(first) + 600 ? alpha : undefined;
  });
  t.equal(later.connectedAt, both.find((n) => n.name === 'alpha')!.connectedAt, 'still the same session');

  const api = await fetch(`${net.base}/nodes`, { headers: { authorization: `Bearer ${ADMIN}` } });
  t.equal(api.status, 200);
  const apiNodes = ((await api.json()) as { nodes: Status[] }).nodes;
  t.match(apiNodes, [
    {
      name: 'alpha',
      online: true,
      address: /127\.0\.0\.1$/,
      clientVersion: PACKAGE_VERSION,
      services: ['ollama'],
      models: ['llama3.2:latest'],
    },
    { name: 'beta', online: true, models: ['llama3.2:latest'] },
  ]);
  t.equal((await fetch(`${net.base}/nodes`)).status, 401, 'GET /nodes needs the admin token');

  net.clients.beta!.child.kill('SIGTERM');
  await net.clients.beta!.exited;
  const afterStop = await poll('beta offline', async () => {
    const nodes = await list();
    return nodes.find((n) => n.name === 'beta')?.online === false ? nodes : undefined;
  });
  t.match(afterStop, [
    { name: 'alpha', online: true },
    { name: 'beta', online: false, connectedAt: null, address: null, clientVersion: null, models: [], lastSeenAt: /^\d{4}-/ },
  ]);

  net.server.child.kill('SIGKILL');
  await net.server.exited;
  const presence = JSON.parse(fs.readFileSync(path.join(net.dataDir, 'presence.json'), 'utf8'));
  t.match(presence.nodes, [{ name: 'alpha' }], 'the killed server left alpha in its file');
  const killed = await list();
  t.same(
    killed.map((n) => [n.name, n.online]),
    [
      ['alpha', false],
      ['beta', false],
    ],
    'its lease is dead with its process: every node offline',
  );
  const killedTable = await runNode('bin/proxima-server.js', ['nodes', 'list', '-c', net.serverFile], net.dir);
  t.match(
    killedTable.stdout,
    /\nalpha +offline +- .*\nbeta +offline +- .*\nno super node is running on this data folder: every node is offline\n$/,
  );
  t.ok(killed[0]!.lastSeenAt !== null && Date.parse(killed[0]!.lastSeenAt) >= Date.parse(later.lastSeenAt!), 'last seen kept');
});
