import { once } from 'node:events';
import t, { type Test } from 'tap';
import { ErrorCodes } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { type KeyRecord, makeKey } from '../../../src/server/keys/key-record.js';
import { PostgresKeyStore } from '../../../src/server/keys/postgres-key-store.js';
import { openSharedStore, type SharedStore } from '../../../src/server/storage/postgres/shared-store.js';
import { POSTGRES_SKIP, startPostgres, type TestPostgres } from '../../fixtures/postgres.js';
import { within } from '../../fixtures/store-helpers.js';

const skip = POSTGRES_SKIP;
const cluster: TestPostgres | undefined = skip === false ? await startPostgres(t) : undefined;
let databases = 0;

async function twoInstances(t: Test): Promise<[PostgresKeyStore, PostgresKeyStore, SharedStore]> {
  const url = await cluster!.createDatabase(`keys_${++databases}`);
  const shared = await Promise.all(['i-a', 'i-b'].map((instance) => openSharedStore(url, { logger: silentLogger, instance })));
  t.teardown(() => Promise.all(shared.map((s) => s.close())));
  const stores = await Promise.all(shared.map((s) => PostgresKeyStore.open({ shared: s, logger: silentLogger })));
  t.teardown(() => Promise.all(stores.map((s) => s.close())));
  return [stores[0]!, stores[1]!, shared[0]!];
}

/** Resolves once `store`'s keys satisfy `ok` (at once, or at a later change event); fails after 5 s. */
async function until(store: PostgresKeyStore, ok: (keys: readonly KeyRecord[]) => boolean): Promise<void> {
  await within(
    (async () => {
      while (!ok(store.current)) await once(store, 'change');
    })(),
    5_000,
    'keys',
  );
}

t.test('a key added at one instance is current at the other; revoked there, it stops here', { skip }, async (t) => {
  const [a, b] = await twoInstances(t);
  const { record } = makeKey('alice', { requestsPerMinute: 60, budget: { credits: 5, per: 'day' } }, new Date('2026-12-07T12:00:00.000Z'));
  t.same(await a.add(record), record);
  t.same(a.current, [record], 'the writer has it when add resolves');
  await until(b, (keys) => keys.length === 1);
  t.same(b.current, [record], 'the other instance, from the notice');
  t.same(Object.keys(b.current[0]!), Object.keys(record), 'in the order keys.json has');
  t.same(Object.keys(b.current[0]!.budget!), ['credits', 'per']);

  const revoked = await b.revoke('alice', new Date('2026-12-07T13:00:00.000Z'));
  t.equal(revoked.revokedAt, '2026-12-07T13:00:00.000Z');
  await until(a, (keys) => keys[0]?.revokedAt !== null);
  t.same(a.current, [revoked]);
  t.same(await a.list(), [revoked], 'a revoked key stays listed');
});

t.test('names: a working key owns its name; a revoked one frees it; refs by name or id', { skip }, async (t) => {
  const [a, b] = await twoInstances(t);
  const first = makeKey('bob', {}, new Date('2026-12-07T12:00:00.000Z')).record;
  await a.add(first);
  await t.rejects(b.add(makeKey('bob', {}, new Date()).record), { code: ErrorCodes.NAME_TAKEN });
  await t.rejects(b.add({ ...makeKey('other', {}, new Date()).record, id: first.id }), { code: ErrorCodes.NAME_TAKEN });
  const carol = makeKey('carol', {}, new Date('2026-12-07T12:01:00.000Z')).record;
  await b.add(carol);
  await t.rejects(a.update('carol', { name: 'bob' }), { code: ErrorCodes.NAME_TAKEN });
  t.same((await a.update(carol.id, { tokensPerMinute: 1000 })).tokensPerMinute, 1000, 'by id');
  await t.rejects(a.update('nobody', { name: 'x' }), { code: ErrorCodes.KEY_NOT_FOUND });
  await a.revoke('bob', new Date('2026-12-07T12:02:00.000Z'));
  const again = makeKey('bob', {}, new Date('2026-12-07T12:03:00.000Z')).record;
  await b.add(again);
  t.same(
    (await b.list()).map((k) => `${k.name} ${k.revokedAt === null ? 'working' : 'revoked'}`),
    ['bob revoked', 'carol working', 'bob working'],
    'oldest first: the revoked bob, carol, the new bob',
  );
  await t.rejects(b.revoke('nobody', new Date()), { code: ErrorCodes.KEY_NOT_FOUND });
});

t.test('a closed store refuses changes; listing still answers', { skip }, async (t) => {
  const [a] = await twoInstances(t);
  await a.close();
  await t.rejects(a.add(makeKey('late', {}, new Date()).record), { code: ErrorCodes.SERVER_DRAINING });
  t.same(await a.list(), []);
});
