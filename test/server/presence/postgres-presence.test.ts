import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import t, { type Test } from 'tap';
import type { ServiceAdvert } from '../../../src/proto/control/messages.js';
import { PostgresPresenceStore } from '../../../src/server/presence/postgres-presence-store.js';
import type { NodePresence } from '../../../src/server/presence/presence-store.js';
import { PgRemotePresence, type RemoteNode } from '../../../src/server/presence/remote-presence.js';
import { migrate } from '../../../src/server/storage/postgres/migrate.js';
import { PgNotifier } from '../../../src/server/storage/postgres/notifier.js';
import { openPostgres, type PostgresStore } from '../../../src/server/storage/postgres/postgres-pool.js';
import { POSTGRES_SKIP, startPostgres, type TestPostgres } from '../../fixtures/postgres.js';
import { within } from '../../fixtures/store-helpers.js';

const skip = POSTGRES_SKIP;
const cluster: TestPostgres | undefined = skip === false ? await startPostgres(t) : undefined;
let databases = 0;

const ADVERTS: ServiceAdvert[] = [
  {
    name: 'llm',
    kind: 'ollama',
    maxConcurrent: 3,
    models: [{ name: 'llama3.2:latest', digest: 'sha256:abc' }],
    expose: 'protected',
    auth: { bearerSha256: ['a'.repeat(64)] },
  } as ServiceAdvert,
];

/** Polls `check` with a deadline (not a sleep to synchronise). */
async function poll<T>(what: string, check: () => T | undefined | Promise<T | undefined>, deadlineMs = 5_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

/** A fresh migrated database with `nodes` registered. */
async function database(t: Test, nodes: string[]): Promise<{ url: string; admin: PostgresStore }> {
  const url = await cluster!.createDatabase(`presence_${++databases}`);
  const admin = await openPostgres({ url, max: 2 });
  t.teardown(() => admin.close());
  await migrate(admin);
  for (const name of nodes)
    await admin.pool.query(`INSERT INTO proxima_nodes (name, key_id, created_at, record) VALUES ($1, 'k', now(), '{}')`, [name]);
  return { url, admin };
}

/** One instance: its pool, notifier, presence store and remote feed. */
async function instance(t: Test, url: string, id: string, lease = { leaseIntervalMs: 200, leaseExpiryMs: 1_000 }) {
  const store = await openPostgres({ url, max: 3 });
  const notifier = await PgNotifier.open({ store, instance: id });
  const presence = await PostgresPresenceStore.open({ store, notifier, instance: id, peer: `${id}.local:7000`, ...lease });
  const remote = await PgRemotePresence.open({ store, notifier, instance: id, leaseIntervalMs: lease.leaseIntervalMs });
  t.teardown(async () => {
    await remote.close();
    await presence.close();
    await notifier.close();
    await store.close();
  });
  return { store, notifier, presence, remote };
}

/** Instance `id`'s lease, `ms` from now and renewed by nobody, with node alpha's row, announced. */
async function leaseNobodyRenews(admin: PostgresStore, id: string, ms: number): Promise<void> {
  await admin.pool.query(
    `INSERT INTO proxima_instances (id, peer, lease_until) VALUES ($1, 'x:1', now() + $2::int * interval '1 millisecond')`,
    [id, ms],
  );
  await admin.pool.query(
    `INSERT INTO proxima_presence (node, instance, session, connected_at, services) VALUES ('alpha', $1, 's', now(), '[]')`,
    [id],
  );
  const notice = JSON.stringify({ kind: 'presence', node: 'alpha', instance: id, from: id });
  await admin.pool.query(`SELECT pg_notify('proxima_changes', $1)`, [notice]);
}

function presenceOf(name: string, instance: string, connectedAt: Date): NodePresence {
  return {
    name,
    instance,
    connectedAt: connectedAt.toISOString(),
    lastSeenAt: connectedAt.toISOString(),
    address: '127.0.0.1',
    clientVersion: '0.1.0',
    services: [{ name: 'llm', kind: 'ollama', models: ['llama3.2:latest'], maxConcurrent: 3 }],
  };
}

const stat = async (admin: PostgresStore, sql: string, values: unknown[] = []) => (await admin.pool.query(sql, values)).rows;

t.test(
  'a connect writes one row with the full adverts; other instances see it; heartbeats write nothing; a leave removes it',
  { skip },
  async (t) => {
    const { url, admin } = await database(t, ['alpha']);
    const a = await instance(t, url, 'inst-a');
    const b = await instance(t, url, 'inst-b');
    const put = once(b.remote, 'put') as Promise<[RemoteNode]>;
    const connectedAt = new Date();
    a.presence.put(presenceOf('alpha', 'inst-a', connectedAt), ADVERTS);
    const [node] = await put;
    t.same(node, {
      name: 'alpha',
      instance: 'inst-a',
      peer: 'inst-a.local:7000',
      connectedAt: connectedAt.toISOString(),
      services: ADVERTS,
    });
    t.same(b.remote.get('alpha'), node);
    t.equal(a.remote.get('alpha'), undefined, 'an instance never sees its own nodes as remote');
    const [row] = await stat(admin, 'SELECT instance, services, models, capacity, address, client_version FROM proxima_presence');
    t.same(row, {
      instance: 'inst-a',
      services: ADVERTS,
      models: ['llama3.2:latest'],
      capacity: 3,
      address: '127.0.0.1',
      client_version: '0.1.0',
    });

    const before = a.presence.rowWrites;
    const [{ updated_at: updatedAt }] = await stat(admin, 'SELECT updated_at FROM proxima_presence');
    for (let i = 0; i < 100; i++) a.presence.seen('alpha', new Date());
    await a.presence.flush();
    t.equal(a.presence.rowWrites, before, 'heartbeats are not written');
    t.same((await stat(admin, 'SELECT updated_at FROM proxima_presence'))[0].updated_at, updatedAt);
    t.ok(Date.parse(a.presence.current().nodes[0]!.lastSeenAt) >= connectedAt.getTime(), 'seen is kept in memory');

    const removed = once(b.remote, 'remove');
    a.presence.remove('alpha');
    t.same(await removed, ['alpha', 'inst-a']);
    t.same(await stat(admin, 'SELECT node FROM proxima_presence'), []);
    t.same(b.remote.nodes(), []);
  },
);

t.test('a clean stop removes the lease and its nodes at once', { skip }, async (t) => {
  const { url, admin } = await database(t, ['alpha', 'beta']);
  const a = await instance(t, url, 'inst-a');
  const b = await instance(t, url, 'inst-b');
  a.presence.put(presenceOf('alpha', 'inst-a', new Date()), ADVERTS);
  a.presence.put(presenceOf('beta', 'inst-a', new Date()), ADVERTS);
  await poll('both remote at b', () => (b.remote.nodes().length === 2 ? true : undefined));
  const removed: string[] = [];
  b.remote.on('remove', (name) => removed.push(name));
  const started = Date.now();
  await a.presence.close();
  await poll('both removed', () => (removed.length === 2 ? true : undefined));
  t.ok(Date.now() - started < 1_000, `removed in ${Date.now() - started} ms`);
  t.same(await stat(admin, 'SELECT id FROM proxima_instances'), [{ id: 'inst-b' }]);
  t.same(await stat(admin, 'SELECT node FROM proxima_presence'), []);
});

t.test("a killed instance's nodes go offline everywhere once its lease expires, and its rows are removed", { skip }, async (t) => {
  const { url, admin } = await database(t, ['alpha']);
  const b = await instance(t, url, 'inst-b', { leaseIntervalMs: 100, leaseExpiryMs: 500 });
  // A dead instance: a lease nobody renews, and its node's row.
  await leaseNobodyRenews(admin, 'inst-dead', 600);
  await poll('alpha remote at b', () => b.remote.get('alpha'));
  const started = Date.now();
  const [name, inst] = await once(b.remote, 'remove');
  const ms = Date.now() - started;
  t.same([name, inst], ['alpha', 'inst-dead']);
  t.ok(ms >= 400 && ms < 1_500, `removed ${ms} ms after (the lease had about 600 ms left)`);
  await poll('the dead lease reaped', async () =>
    (await stat(admin, `SELECT id FROM proxima_instances WHERE id = 'inst-dead'`)).length === 0 ? true : undefined,
  );
  t.same(await stat(admin, 'SELECT node FROM proxima_presence'), [], 'its rows went with it');
});

t.test('an instance that renews its lease late: its nodes come back where they were dropped', { skip }, async (t) => {
  const { url, admin } = await database(t, ['alpha']);
  // Only the feed at b: nobody reaps the lapsed lease (an instance paused past its expiry whose row is still there).
  const store = await openPostgres({ url, max: 2 });
  const notifier = await PgNotifier.open({ store, instance: 'inst-b' });
  const remote = await PgRemotePresence.open({ store, notifier, instance: 'inst-b', leaseIntervalMs: 100 });
  t.teardown(async () => {
    await remote.close();
    await notifier.close();
    await store.close();
  });
  await leaseNobodyRenews(admin, 'inst-slow', 300);
  await poll('alpha remote at b', () => remote.get('alpha'));
  t.same(await once(remote, 'remove'), ['alpha', 'inst-slow'], 'dropped once the lease was seen expired');
  // The renewal comes late, as a paused instance's does: an UPDATE of its lease, no notice.
  const back = once(remote, 'put');
  await admin.pool.query(`UPDATE proxima_instances SET lease_until = now() + interval '10 seconds' WHERE id = 'inst-slow'`);
  const [node] = (await within(back, 5_000, 'alpha put again')) as [{ name: string; instance: string }];
  t.match(node, { name: 'alpha', instance: 'inst-slow' }, 'read again at the next lease check');
});

t.test('a newer login elsewhere wins the row; the older instance is told it was superseded', { skip }, async (t) => {
  const { url, admin } = await database(t, ['alpha']);
  const a = await instance(t, url, 'inst-a');
  const b = await instance(t, url, 'inst-b');
  const t1 = new Date(Date.now() - 1_000);
  a.presence.put(presenceOf('alpha', 'inst-a', t1), ADVERTS);
  await a.presence.flush();
  const seenAtA = once(a.remote, 'put') as Promise<[RemoteNode]>;
  const t2 = new Date();
  b.presence.put(presenceOf('alpha', 'inst-b', t2), ADVERTS);
  t.match((await seenAtA)[0], { name: 'alpha', instance: 'inst-b', connectedAt: t2.toISOString() }, 'a sees the node held by b');
  // a, unaware, writes its older session again (an advert change): refused.
  const superseded = once(a.presence, 'superseded');
  a.presence.put(presenceOf('alpha', 'inst-a', t1), []);
  const [name, at] = await superseded;
  t.equal(name, 'alpha');
  t.equal((at as Date).toISOString(), t1.toISOString());
  t.same(await stat(admin, 'SELECT instance FROM proxima_presence'), [{ instance: 'inst-b' }]);
  // And a's leave of its old session does not remove b's row.
  a.presence.remove('alpha');
  await a.presence.flush();
  t.same(await stat(admin, 'SELECT instance FROM proxima_presence'), [{ instance: 'inst-b' }]);
});

t.test('a burst of notices for one node is read in few queries; a resync reads everything', { skip }, async (t) => {
  const { url } = await database(t, ['alpha']);
  const a = await instance(t, url, 'inst-a');
  const b = await instance(t, url, 'inst-b');
  a.presence.put(presenceOf('alpha', 'inst-a', new Date()), ADVERTS);
  await poll('alpha at b', () => b.remote.get('alpha'));
  const before = b.remote.queries;
  // 200 notices for alpha delivered together (distinct payloads: PostgreSQL folds identical ones).
  await a.store.pool.query(
    `SELECT pg_notify('proxima_changes', json_build_object('kind', 'presence', 'node', 'alpha', 'instance', 'inst-a', 'from', 'inst-a', 'n', n)::text)
       FROM generate_series(1, 200) n`,
  );
  // Then a real change: its put comes after every notice before it was read.
  const changed = once(b.remote, 'put') as Promise<[RemoteNode]>;
  a.presence.put(presenceOf('alpha', 'inst-a', new Date()), []);
  t.same((await changed)[0].services, [], 'the change arrives');
  const used = b.remote.queries - before;
  t.ok(used <= 5, `200 notices for one node were read in ${used} queries`);
  t.ok(b.remote.get('alpha'), 'still there');
  const reload = b.remote.queries;
  b.notifier.emit('resync');
  await poll('resync read', () => (b.remote.queries > reload ? true : undefined));
  t.ok(b.remote.get('alpha'));
});

t.test('PostgreSQL unreachable: the row stays pending and is written at a renewal once it is back', { skip }, async (t) => {
  const { url, admin } = await database(t, ['alpha']);
  const store = await openPostgres({ url, max: 2, connectTimeoutMs: 1_000 });
  t.teardown(() => store.close());
  const notifier = { notify: async () => undefined };
  const presence = await PostgresPresenceStore.open({
    store,
    notifier,
    instance: 'inst-a',
    peer: null,
    leaseIntervalMs: 200,
    leaseExpiryMs: 5_000,
  });
  t.teardown(() => presence.close());
  const database_ = new URL(url).pathname.slice(1);
  // From another database: no new connections to this one, and its present ones ended.
  const control = new pg.Client({ connectionString: cluster!.url() });
  await control.connect();
  t.teardown(() => control.end());
  await control.query(`ALTER DATABASE "${database_}" ALLOW_CONNECTIONS false`);
  await control.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [database_]);
  const failed = once(presence, 'failed');
  presence.put(presenceOf('alpha', 'inst-a', new Date()), ADVERTS);
  t.match((await failed)[0], { code: 'PRX_ERR_STORE_UNAVAILABLE' });
  t.same(
    presence.current().nodes.map((n) => n.name),
    ['alpha'],
    'the node is still held',
  );
  await t.rejects(presence.flush(), { code: 'PRX_ERR_STORE_UNAVAILABLE' }, 'flush says it is not written');
  await control.query(`ALTER DATABASE "${database_}" ALLOW_CONNECTIONS true`);
  // The test's own pool lost its connections too: a check that fails on one looks again.
  const rows = async () => (await stat(admin, 'SELECT node FROM proxima_presence').catch(() => [])).length;
  await poll('the row written after a renewal', async () => ((await rows()) === 1 ? true : undefined));
  t.pass('written once PostgreSQL is back');
});
