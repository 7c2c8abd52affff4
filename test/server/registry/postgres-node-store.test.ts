import { once } from 'node:events';
import t, { type Test } from 'tap';
import { ErrorCodes } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import type { StoreChange } from '../../../src/server/registry/node-store.js';
import { PostgresNodeStore } from '../../../src/server/registry/postgres-node-store.js';
import { loadOrCreateSharedSecret } from '../../../src/server/registry/secret.js';
import { openSharedStore, type SharedStore } from '../../../src/server/storage/postgres/shared-store.js';
import { POSTGRES_SKIP, startPostgres, type TestPostgres } from '../../fixtures/postgres.js';
import { change, record, within } from '../../fixtures/store-helpers.js';

const skip = POSTGRES_SKIP;
const cluster: TestPostgres | undefined = skip === false ? await startPostgres(t) : undefined;
let databases = 0;

/** Two instances' shared stores on one fresh database, closed in teardown. */
async function twoInstances(t: Test, pollIntervalMs = 1000): Promise<[SharedStore, SharedStore]> {
  const url = await cluster!.createDatabase(`nodes_${++databases}`);
  const a = await openSharedStore(url, { logger: silentLogger, instance: 'i-a', pollIntervalMs });
  const b = await openSharedStore(url, { logger: silentLogger, instance: 'i-b', pollIntervalMs });
  t.teardown(() => Promise.all([a.close(), b.close()]));
  return [a, b];
}

async function nodeStore(t: Test, shared: SharedStore, touchFlushMs?: number): Promise<PostgresNodeStore> {
  const store = await PostgresNodeStore.open({ shared, logger: silentLogger, touchFlushMs });
  t.teardown(() => store.close());
  return store;
}

function nextChange(store: PostgresNodeStore): Promise<StoreChange> {
  return within(
    once(store, 'change').then(([c]) => c as StoreChange),
    5_000,
    'change',
  );
}

t.test('a change at one instance is a change event at the other, as soon as it commits', { skip }, async (t) => {
  const [a, b] = await twoInstances(t);
  const atA = await nodeStore(t, a);
  const atB = await nodeStore(t, b);

  let seen = nextChange(atB);
  const local = nextChange(atA);
  t.same(await atA.add(record('gpu-1')), record('gpu-1'));
  t.same(await local, change({ added: ['gpu-1'] }), 'the writer reports its own change at once');
  t.same(await seen, change({ added: ['gpu-1'] }), 'added, at the other instance');
  t.same(await atB.get('gpu-1'), record('gpu-1'));

  seen = nextChange(atB);
  const rotated = await atA.update('gpu-1', { keyId: 'fedcba9876543210' });
  t.equal(rotated.keyId, 'fedcba9876543210');
  t.same(await seen, change({ rotated: ['gpu-1'] }), 'rotated');

  seen = nextChange(atA);
  t.same((await atB.remove('gpu-1')).keyId, 'fedcba9876543210');
  t.same(await seen, change({ removed: ['gpu-1'] }), 'removed, heard back at the first');
  t.same(await atA.list(), []);
});

t.test('a node found by its key id (a token names it), by the index, at every instance', { skip }, async (t) => {
  const [a, b] = await twoInstances(t);
  const atA = await nodeStore(t, a);
  const atB = await nodeStore(t, b);
  await atA.add(record('gpu-1'));
  const rotated = await atA.update('gpu-1', { keyId: 'fedcba9876543210' });
  await atA.add(record('gpu-2', 'aaaabbbbccccdddd'));
  t.same(await atB.byKeyId('fedcba9876543210'), rotated, 'the rotated key id, read at the other instance');
  t.equal(await atB.byKeyId(record('gpu-1').keyId), undefined, 'the old key id finds nothing');
  t.equal((await atA.byKeyId('aaaabbbbccccdddd'))?.name, 'gpu-2');
  const { rows } = await a.store.pool.query<{ indexname: string }>(
    "SELECT indexname FROM pg_indexes WHERE tablename = 'proxima_nodes' AND indexdef LIKE '%(key_id)%'",
  );
  t.same(
    rows.map((r) => r.indexname),
    ['proxima_nodes_key_id'],
    'an index on key_id (migration 3)',
  );
});

t.test('fields the store does not know survive; records come back in the order nodes.json has', { skip }, async (t) => {
  const [a] = await twoInstances(t);
  const store = await nodeStore(t, a);
  await store.add({ ...record('n1'), extra: { nested: [1, 'two'] } });
  await store.update('n1', { models: [{ name: 'llama3.2:1b', digest: 'abc' }] });
  const got = await store.get('n1');
  t.same(Object.keys(got!), ['name', 'keyId', 'createdAt', 'lastSeenAt', 'services', 'extra', 'models']);
  t.same(got, { ...record('n1'), extra: { nested: [1, 'two'] }, models: [{ name: 'llama3.2:1b', digest: 'abc' }] });
});

t.test('errors: a taken name, an unknown node, a closed store', { skip }, async (t) => {
  const [a, b] = await twoInstances(t);
  const atA = await nodeStore(t, a);
  const atB = await nodeStore(t, b);
  await atA.add(record('taken'));
  await t.rejects(atB.add(record('taken')), { code: ErrorCodes.NAME_TAKEN });
  await t.rejects(atB.update('missing', { keyId: 'fedcba9876543210' }), { code: ErrorCodes.NODE_NOT_FOUND });
  await t.rejects(atB.remove('missing'), { code: ErrorCodes.NODE_NOT_FOUND });
  t.same(
    (await atB.list()).map((r) => r.name),
    ['taken'],
    'the failed add changed nothing',
  );
  await atB.close();
  await t.rejects(atB.add(record('late')), { code: ErrorCodes.SERVER_DRAINING });
});

t.test('touches are coalesced: one UPDATE for every node touched', { skip }, async (t) => {
  const [a] = await twoInstances(t);
  const store = await nodeStore(t, a, 60_000);
  const names = Array.from({ length: 50 }, (_, i) => `n${i}`);
  for (const name of names) await store.add(record(name));
  const seen = new Date('2026-12-07T12:00:00.000Z');
  for (let beat = 0; beat < 20; beat++) for (const name of names) store.touch(name, seen, beat === 19 ? ['web', 'ssh'] : undefined);
  store.touch('not-registered', seen);
  const before = await a.store.pool.query<{ xid: string }>('SELECT DISTINCT xmin::text AS xid FROM proxima_nodes');
  t.equal(before.rows.length, 50, 'each add was its own transaction');
  await store.flush();
  const after = await a.store.pool.query<{ xid: string; n: number }>(
    'SELECT xmin::text AS xid, count(*)::int AS n FROM proxima_nodes GROUP BY 1',
  );
  t.same(
    after.rows.map((r) => r.n),
    [50],
    '1,000 touches of 50 nodes: one statement wrote all 50 rows',
  );
  const n7 = await store.get('n7');
  t.equal(n7?.lastSeenAt, seen.toISOString());
  t.same(n7?.services, ['web', 'ssh']);
});

t.test('after a lost notice connection, resync reports what changed meanwhile', { skip }, async (t) => {
  const [a, b] = await twoInstances(t, 200);
  const atA = await nodeStore(t, a);
  const atB = await nodeStore(t, b);
  const heard: string[] = [];
  atB.on('change', (c) => heard.push(...c.added));
  await atA.add(record('stays'));
  await atA.add(record('goes'));
  await atA.add(record('rotates'));
  while (heard.length < 3) await nextChange(atB);
  // Cut B's LISTEN connection, then change the table behind everyone's back (no notice at all).
  const { rows } = await b.store.pool.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'proxima-server notifier' AND pid <> pg_backend_pid()",
  );
  t.equal(rows.length, 2, "both instances' LISTEN connections");
  const seen = nextChange(atB);
  await a.store.pool.query("DELETE FROM proxima_nodes WHERE name = 'goes'");
  await a.store.pool.query("UPDATE proxima_nodes SET key_id = 'fedcba9876543210' WHERE name = 'rotates'");
  await a.store.pool.query(
    `INSERT INTO proxima_nodes (name, key_id, created_at, services, record) VALUES ('new', '0123456789abcdef', now(), '{}', $1)`,
    [record('new')],
  );
  for (const { pid } of rows) await b.store.pool.query('SELECT pg_terminate_backend($1)', [pid]);
  t.same(await seen, change({ added: ['new'], removed: ['goes'], rotated: ['rotates'] }), 'one resync reports all three');
});

t.test('the shared secret: created once, the same for every instance', { skip }, async (t) => {
  const [a, b] = await twoInstances(t);
  const [s1, s2] = await Promise.all([loadOrCreateSharedSecret(a.store), loadOrCreateSharedSecret(b.store)]);
  t.equal(s1.length, 32);
  t.ok(s1.equals(s2), 'both read the winner');
  t.ok((await loadOrCreateSharedSecret(b.store)).equals(s1), 'and keep reading it');
  const rows = await a.store.pool.query('SELECT name FROM proxima_secrets');
  t.same(rows.rows, [{ name: 'registry' }]);
  await a.store.pool.query("UPDATE proxima_secrets SET value = '\\x00'::bytea");
  await t.rejects(loadOrCreateSharedSecret(a.store), { code: ErrorCodes.STORE_CORRUPT });
});
