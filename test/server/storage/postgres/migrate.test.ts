import pg from 'pg';
import t, { type Test } from 'tap';
import { ErrorCodes, type ProximaError } from '../../../../src/errors.js';
import { redact } from '../../../../src/log.js';
import { checksum, MIGRATION_LOCK_KEY, migrate, VERSION_TABLE } from '../../../../src/server/storage/postgres/migrate.js';
import { MIGRATIONS, type Migration } from '../../../../src/server/storage/postgres/migrations.js';
import { openPostgres, type PostgresStore } from '../../../../src/server/storage/postgres/postgres-pool.js';
import { POSTGRES_SKIP, startPostgres, type TestPostgres } from '../../../fixtures/postgres.js';
import { freePort } from '../../../fixtures/stacks/tunnel.js';

const skip = POSTGRES_SKIP;
const cluster: TestPostgres | undefined = skip === false ? await startPostgres(t) : undefined;
let databases = 0;
const ALL = MIGRATIONS.map((m) => m.version);

/** A fresh database and a store on it, closed in teardown. */
async function freshStore(t: Test): Promise<{ store: PostgresStore; url: string }> {
  const url = await cluster!.createDatabase(`migrate_${++databases}`);
  const store = await openPostgres({ url, max: 2 });
  t.teardown(() => store.close());
  return { store, url };
}

async function tables(store: PostgresStore): Promise<string[]> {
  const { rows } = await store.pool.query<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
  );
  return rows.map((r) => r.name);
}

async function versions(store: PostgresStore): Promise<number[]> {
  return (await store.pool.query<{ version: number }>(`SELECT version FROM ${VERSION_TABLE} ORDER BY 1`)).rows.map((r) => r.version);
}

/** Resolves with the rejection of `promise` (failing when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<ProximaError> {
  try {
    await promise;
  } catch (err) {
    return err as ProximaError;
  }
  throw new Error('it resolved');
}

t.test('the migrations apply once, in order; a second run is a no-op', { skip }, async (t) => {
  const { store } = await freshStore(t);
  t.same(await migrate(store), { applied: MIGRATIONS.map((m) => m.version), version: MIGRATIONS.length });
  t.same(await tables(store), [
    'proxima_api_keys',
    'proxima_canary_passes',
    'proxima_instances',
    'proxima_ledger',
    'proxima_nodes',
    'proxima_presence',
    'proxima_schema_migrations',
    'proxima_secrets',
  ]);
  const { rows } = await store.pool.query(`SELECT version, name, checksum FROM ${VERSION_TABLE} ORDER BY version`);
  t.same(
    rows,
    MIGRATIONS.map((m) => ({ version: m.version, name: m.name, checksum: checksum(m) })),
  );
  t.same(await migrate(store), { applied: [], version: MIGRATIONS.length }, 'nothing to do the second time');
  t.same(await versions(store), ALL);
});

t.test('two migrators at once: the advisory lock serialises them, one applies, the other finds nothing to do', { skip }, async (t) => {
  const { store, url } = await freshStore(t);
  const other = await openPostgres({ url, max: 2 });
  t.teardown(() => other.close());
  // Hold the lock ourselves so that both are surely waiting on it before either runs.
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  t.teardown(() => holder.end());
  await holder.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  const runs = [migrate(store), migrate(other)];
  const deadline = Date.now() + 10_000;
  let waiting = 0;
  while (waiting < 2 && Date.now() < deadline) {
    const { rows } = await holder.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    );
    waiting = rows[0]!.n;
  }
  t.equal(waiting, 2, 'both migrators wait on the lock');
  t.same(await tables(store), [], 'and neither has touched the schema');
  await holder.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
  const results = await Promise.all(runs);
  t.same(
    results.map((r) => r.applied).sort((a, b) => b.length - a.length),
    [ALL, []],
    'one applied every version, the other nothing',
  );
  t.same(await versions(store), ALL, 'one row a version');
  const { rows } = await holder.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'");
  t.equal(rows[0]!.n, 0, 'the lock is released');
});

t.test('a database newer than this version, or with a different migration, is refused', { skip }, async (t) => {
  const { store } = await freshStore(t);
  await migrate(store);
  await store.pool.query(`INSERT INTO ${VERSION_TABLE} (version, name, checksum) VALUES (99, 'from the future', 'x')`);
  const newer = await rejection(migrate(store));
  t.equal(newer.code, ErrorCodes.STORE_SCHEMA);
  t.match(newer.message, `schema is at version 99, newer than this proxima-server knows (${MIGRATIONS.length})`);
  await store.pool.query(`DELETE FROM ${VERSION_TABLE} WHERE version = 99`);
  const changed: Migration[] = [{ ...MIGRATIONS[0]!, sql: `${MIGRATIONS[0]!.sql}\n-- edited` }];
  const differs = await rejection(migrate(store, { migrations: changed }));
  t.equal(differs.code, ErrorCodes.STORE_SCHEMA);
  t.match(differs.message, /migration 1 \(initial schema\) differs/);
});

t.test('a failing migration is rolled back, version row and all; fixed, it applies', { skip }, async (t) => {
  const { store } = await freshStore(t);
  const one: Migration = { version: 1, name: 'one', sql: 'CREATE TABLE t1 (x int)' };
  const bad: Migration = { version: 2, name: 'two', sql: 'CREATE TABLE t2 (x int); SELECT 1 / 0' };
  const err = await rejection(migrate(store, { migrations: [one, bad] }));
  t.equal(err.code, ErrorCodes.STORE_SCHEMA);
  t.match(err.message, /migration 2 \(two\) failed and was rolled back .*: division by zero/);
  t.same(await tables(store), ['proxima_schema_migrations', 't1'], 't2 was rolled back');
  t.same(await versions(store), [1]);
  const fixed: Migration = { ...bad, sql: 'CREATE TABLE t2 (x int)' };
  t.same(await migrate(store, { migrations: [one, fixed] }), { applied: [2], version: 2 });
  await t.rejects(migrate(store, { migrations: [fixed] }), /migration 1 is numbered 2/, 'a misnumbered list is a bug');
});

t.test('a bad URL: a clear error naming store.postgres.url, never the password', { skip }, async (t) => {
  const password = cluster!.password;
  const wrong = cluster!.url().replace(password, 'wrong-Pa55word');
  const denied = await rejection(openPostgres({ url: wrong }));
  t.equal(denied.code, ErrorCodes.STORE_UNAVAILABLE);
  t.match(
    denied.message,
    `cannot connect to the store (PostgreSQL at postgres://postgres:***@127.0.0.1:${cluster!.port}/postgres, store.postgres.url)`,
  );
  t.match(denied.message, /password authentication failed for user "postgres"/);
  t.equal((denied.cause as { code?: string }).code, '28P01', "PostgreSQL's SQLSTATE is kept");
  const port = await freePort();
  const refused = await rejection(openPostgres({ url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres` }));
  t.equal(refused.code, ErrorCodes.STORE_UNAVAILABLE);
  t.match(refused.message, /store\.postgres\.url\): .*ECONNREFUSED/);
  const missing = await rejection(openPostgres({ url: cluster!.url('no_such_database') }));
  t.match(missing.message, /database "no_such_database" does not exist/);
  for (const err of [denied, refused, missing]) {
    const logged = JSON.stringify(redact(err));
    t.notMatch(logged, password, 'not in the message nor the cause, as logged');
    t.notMatch(logged, 'wrong-Pa55word');
  }
});
