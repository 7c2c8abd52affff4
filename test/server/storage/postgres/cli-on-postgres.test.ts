/**
 * The real programs with `store.postgres` in server.yaml: `proxima-server nodes` and `keys` work on
 * PostgreSQL, a node the CLI adds while the server runs logs in at once, a key the CLI adds is
 * accepted, a node the CLI revokes is closed by the running server; nothing goes to the data folder.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startFakeOllama } from '../../../fixtures/fakes/ollama/fake-ollama.js';
import { POSTGRES_SKIP, startPostgres } from '../../../fixtures/postgres.js';
import { logLine } from '../../../fixtures/processes/bin-process.js';
import { runNode } from '../../../fixtures/processes/run-bin.js';
import { startProcessNetwork } from '../../../fixtures/stacks/process-network.js';
import { within } from '../../../fixtures/store-helpers.js';

const KEY = 'sk-proxima-e2e-pg-0123456789abcdef';

t.test('nodes and keys commands on PostgreSQL, with a server running on it', { skip: POSTGRES_SKIP }, async (t) => {
  const cluster = await startPostgres(t);
  const url = await cluster.createDatabase('cli');
  const fake = await startFakeOllama();
  t.teardown(() => fake.destroy());
  const net = await startProcessNetwork(t, { alpha: fake }, [
    `store: { postgres: { url: "${url}" } }`,
    'rewards: { canaryShare: 0, newNodeCanaryShare: 0 }',
    `api: { keys: [{ id: tester, key: ${KEY} }] }`,
  ]);
  const cli = (...args: string[]) => runNode('bin/proxima-server.js', [...args, '-c', net.serverFile], net.dir);

  // alpha was added by the CLI before the server started; beta while it runs, and logs in at once.
  await net.addNode('beta', fake);
  const listed = JSON.parse((await cli('nodes', 'list', '--json')).stdout) as { nodes: { name: string }[] };
  t.same(
    listed.nodes.map((n) => n.name),
    ['alpha', 'beta'],
  );
  const table = (await cli('nodes', 'list')).stdout;
  t.match(table, /^NAME\s+STATE/);
  t.match(table, /\nalpha\s/);

  const added = await cli('keys', 'add', 'carol', '--json');
  const key = (JSON.parse(added.stdout) as { key: string }).key;
  const status = async (): Promise<number> => (await fetch(`${net.base}/v1/key`, { headers: { authorization: `Bearer ${key}` } })).status;
  // The notice reaches the server as the command commits; poll with a deadline rather than assume.
  await within(
    (async () => {
      while ((await status()) !== 200) await new Promise((r) => setTimeout(r, 50));
    })(),
    2_000,
    'the key accepted',
  );
  t.match((await cli('keys', 'list')).stdout, /carol/);
  await cli('keys', 'revoke', 'carol');
  await within(
    (async () => {
      while ((await status()) !== 401) await new Promise((r) => setTimeout(r, 50));
    })(),
    2_000,
    'the key refused',
  );

  const revokedAt = Date.now();
  const revoke = await cli('nodes', 'revoke', 'beta');
  t.match(revoke.stdout, 'node beta revoked');
  const heard = await logLine(net.server, 'node revoked', (l) => l.node === 'beta');
  const offline = await logLine(net.server, 'node offline', (l) => l.node === 'beta');
  const ms = Date.parse(offline.time as string) - revokedAt;
  const closeMs = Date.parse(offline.time as string) - Date.parse(heard.time as string);
  t.ok(ms < 5000, `beta's session closed ${ms} ms after the command started (node's start and the command's connection included)`);
  t.ok(closeMs < 1000, `and ${closeMs} ms after the server heard of the revocation`);

  for (const file of ['nodes.json', 'keys.json', 'secret'])
    t.notOk(fs.existsSync(path.join(net.dataDir, file)), `no ${file} in the data folder`);
  for (const line of net.server.lines) t.notMatch(line, cluster.password);
});
