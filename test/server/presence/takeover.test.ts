import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { silentLogger } from '../../../src/log.js';
import { migrate } from '../../../src/server/storage/postgres/migrate.js';
import { openPostgres } from '../../../src/server/storage/postgres/postgres-pool.js';
import { openSharedStore, type SharedStore } from '../../../src/server/storage/postgres/shared-store.js';
import { POSTGRES_SKIP, startPostgres, type TestPostgres } from '../../fixtures/postgres.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import {
  closedWithin,
  connectNode,
  httpListener,
  online,
  register,
  startServer,
  tempDir,
  testServerConfig,
} from '../../fixtures/stacks/control-plane.js';

const skip = POSTGRES_SKIP;
const cluster: TestPostgres | undefined = skip === false ? await startPostgres(t) : undefined;

const SERVICES = [{ name: 'llm', kind: 'ollama' as const, maxConcurrent: 2, models: [{ name: 'llama3.2:latest', digest: 'sha256:abc' }] }];

/** Polls `check` with a deadline (not a sleep to synchronise). */
async function poll<T>(what: string, check: () => T | undefined | Promise<T | undefined>, deadlineMs = 5_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

async function shared(t: Test, url: string): Promise<SharedStore> {
  const store = await openSharedStore(url, { logger: silentLogger });
  t.teardown(() => store.close());
  return store;
}

t.test('a node logging in at instance B has its session at A closed as replaced within a second', { skip }, async (t) => {
  const url = await cluster!.createDatabase('takeover');
  const db = await openPostgres({ url, max: 1 });
  t.teardown(() => db.close());
  await migrate(db);
  const presence = { leaseIntervalMs: 500, leaseExpiryMs: 2_000 };
  const dirA = tempDir(t);
  const admin = { token: 'admin-token-0123456789abcdef' };
  const configA = testServerConfig(dirA, { presence, admin });
  const a = await startServer(t, { dataDir: dirA, config: configA, shared: await shared(t, url), publicListener: httpListener });
  const dirB = tempDir(t);
  const b = await startServer(t, { dataDir: dirB, config: testServerConfig(dirB, { presence }), shared: await shared(t, url) });
  // One registry, in PostgreSQL: registered at A, known at B.
  const token = await register(a, 'alpha');
  await poll('alpha registered at B', () => (b.nodes.isRegistered('alpha') ? true : undefined));

  const first = await connectNode(t, a, 'alpha', { token, services: SERVICES });
  const atA = await online(a, 'alpha');
  const remote = await poll('alpha seen at B as held by A', () => b.remotePresence?.get('alpha'));
  t.match(remote, { name: 'alpha', instance: a.presence.instance, services: SERVICES });

  const closing = closedWithin(first, 2_000);
  const login = Date.now();
  await connectNode(t, b, 'alpha', { token, services: SERVICES });
  const atB = await online(b, 'alpha');
  const started = Date.now();
  const why = await closing;
  const ms = Date.now() - started;
  t.comment(`takeover: ${Date.now() - login} ms from the start of the login at B to the old session closed at A`);
  t.match(why, { code: 'PRX_ERR_SESSION_REPLACED' });
  await atA.closed;
  t.equal(atA.closeReason, 'replaced');
  t.ok(ms < 1_000, `A closed its session ${ms} ms after B had the node online`);
  t.comment(`takeover: A closed the old session ${ms} ms after B had it online`);
  t.equal(b.nodes.live('alpha'), atB, 'B keeps the new session');
  t.equal(atB.closeReason, undefined);
  const row = await poll('the row held by B', async () => {
    const { rows } = await db.pool.query(`SELECT instance FROM proxima_presence WHERE node = 'alpha'`);
    return rows[0]?.instance === b.presence.instance ? rows[0] : undefined;
  });
  t.ok(row, 'the presence row is B’s, not removed by A’s leave');
  await poll('A sees alpha held by B', () => (a.remotePresence?.get('alpha')?.instance === b.presence.instance ? true : undefined));
  await poll('B no longer lists alpha as remote', () => (b.remotePresence?.get('alpha') === undefined ? true : undefined));
  t.pass('B does not list its own node as remote');

  // GET /nodes at A: the node online, held by B, seen through A's remote feed.
  const res = await fetch(`http://127.0.0.1:${a.httpAddress()!.port}/nodes`, { headers: { authorization: `Bearer ${admin.token}` } });
  t.equal(res.status, 200);
  t.match(await res.json(), { nodes: [{ name: 'alpha', online: true, address: /127\.0\.0\.1/, models: ['llama3.2:latest'] }] });

  // nodes list, another process on the same PostgreSQL: online, held by B.
  const yaml = path.join(dirA, 'cli.yaml');
  fs.writeFileSync(yaml, `dataDir: ./cli-data\nstore: { postgres: { url: "${url}" } }\n`);
  const listed = await runNode('bin/proxima-server.js', ['nodes', 'list', '--json', '-c', yaml]);
  t.equal(listed.code, 0, listed.stderr);
  t.match(JSON.parse(listed.stdout), {
    nodes: [
      {
        name: 'alpha',
        online: true,
        instance: b.presence.instance,
        services: ['llm'],
        models: ['llama3.2:latest'],
        address: /127\.0\.0\.1/,
      },
    ],
  });
  const table = await runNode('bin/proxima-server.js', ['nodes', 'list', '-c', yaml]);
  t.match(table.stdout, new RegExp(`^NAME .* INSTANCE\\nalpha +online .* ${b.presence.instance}\\n$`));

  await b.close();
  await poll('alpha offline once B stopped', async () => {
    const after = JSON.parse((await runNode('bin/proxima-server.js', ['nodes', 'list', '--json', '-c', yaml])).stdout);
    return after.nodes[0].online === false && after.nodes[0].instance === null ? true : undefined;
  });
  t.pass('offline everywhere once B stopped cleanly');
});
