import { once } from 'node:events';
import t, { type Test } from 'tap';
import { ErrorCodes, ProximaError } from '../../../../src/errors.js';
import { silentLogger } from '../../../../src/log.js';
import { migrate } from '../../../../src/server/storage/postgres/migrate.js';
import { MIGRATIONS } from '../../../../src/server/storage/postgres/migrations.js';
import { CHANGES_CHANNEL, type ChangeMessage, PgNotifier } from '../../../../src/server/storage/postgres/notifier.js';
import { openPostgres, type PostgresStore } from '../../../../src/server/storage/postgres/postgres-pool.js';
import { openSharedStore } from '../../../../src/server/storage/postgres/shared-store.js';
import { POSTGRES_SKIP, startPostgres, type TestPostgres } from '../../../fixtures/postgres.js';

const skip = POSTGRES_SKIP;
const cluster: TestPostgres | undefined = skip === false ? await startPostgres(t) : undefined;
let databases = 0;

async function freshStore(t: Test, on = cluster!): Promise<{ store: PostgresStore; database: string }> {
  const database = `notifier_${++databases}`;
  const store = await openPostgres({ url: await on.createDatabase(database), max: 3 });
  t.teardown(() => store.close());
  return { store, database };
}

async function notifier(t: Test, store: PostgresStore, instance: string, pollIntervalMs?: number): Promise<PgNotifier> {
  const n = await PgNotifier.open({ store, instance, logger: silentLogger, pollIntervalMs });
  t.teardown(() => n.close());
  return n;
}

/** Every change `n` receives, in order, and a way to wait for the one `match` accepts. */
function collect(n: PgNotifier): { got: ChangeMessage[]; until(match: (m: ChangeMessage) => boolean): Promise<ChangeMessage> } {
  const got: ChangeMessage[] = [];
  n.on('change', (m) => got.push(m));
  return {
    got,
    async until(match) {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const found = got.find(match);
        if (found !== undefined) return found;
        if (Date.now() > deadline) throw new Error('no such change within 10 s');
        await once(n, 'change', { signal: AbortSignal.timeout(10_000) });
      }
    },
  };
}

t.test('a notice reaches every instance, the sender included, with its fields and from', { skip }, async (t) => {
  const { store } = await freshStore(t);
  const a = await notifier(t, store, 'i-a');
  const b = await notifier(t, store, 'i-b');
  t.equal(a.connected, true);
  t.equal(a.instance, 'i-a');
  const atA = collect(a);
  const atB = collect(b);
  await a.notify({ kind: 'nodes', name: 'gpu-1', op: 'revoked' });
  const expected = { kind: 'nodes', from: 'i-a', name: 'gpu-1', op: 'revoked' };
  t.same(await atB.until((m) => m.name === 'gpu-1'), expected);
  t.same(await atA.until((m) => m.name === 'gpu-1'), expected, 'the sender hears itself (consumers skip from === instance)');
});

t.test('inside a transaction: delivered on commit, never on rollback', { skip }, async (t) => {
  const { store } = await freshStore(t);
  const a = await notifier(t, store, 'i-a');
  const b = await notifier(t, store, 'i-b');
  const atB = collect(b);
  const client = await store.pool.connect();
  t.teardown(() => client.release());

  await client.query('BEGIN');
  await a.notify({ kind: 'keys', step: 'committed' }, client);
  // PostgreSQL delivers notices in commit order: once the marker sent after it arrived, an uncommitted one would have too.
  await a.notify({ kind: 'keys', step: 'marker-1' });
  await atB.until((m) => m.step === 'marker-1');
  t.notOk(
    atB.got.some((m) => m.step === 'committed'),
    'not delivered before the commit',
  );
  await client.query('COMMIT');
  t.same(await atB.until((m) => m.step === 'committed'), { kind: 'keys', step: 'committed', from: 'i-a' }, 'delivered on commit');

  await client.query('BEGIN');
  await a.notify({ kind: 'keys', step: 'rolled-back' }, client);
  await client.query('ROLLBACK');
  await a.notify({ kind: 'keys', step: 'marker-2' });
  await atB.until((m) => m.step === 'marker-2');
  t.same(
    atB.got.map((m) => m.step),
    ['marker-1', 'committed', 'marker-2'],
    'the rolled-back notice never came',
  );
});

t.test('a notice that is not ours is ignored; the next one arrives', { skip }, async (t) => {
  const { store } = await freshStore(t);
  const a = await notifier(t, store, 'i-a');
  const atA = collect(a);
  for (const payload of ['not json', '{"kind":"nodes"}', '{"kind":"other","from":"x"}', 'null']) {
    await store.pool.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, payload]);
  }
  await a.notify({ kind: 'canary', node: 'n' });
  await atA.until((m) => m.kind === 'canary');
  t.same(atA.got, [{ kind: 'canary', node: 'n', from: 'i-a' }]);
});

t.test('a notice of 8000 bytes or more is refused before it is sent', { skip }, async (t) => {
  const { store } = await freshStore(t);
  const a = await notifier(t, store, 'i-a');
  await t.rejects(a.notify({ kind: 'nodes', pad: 'x'.repeat(8000) }), RangeError);
});

t.test('after its backend is terminated, it reconnects, says resync, and hears notices again', { skip }, async (t) => {
  const { store, database } = await freshStore(t);
  const a = await notifier(t, store, 'i-a', 200);
  const atA = collect(a);
  const { rows } = await store.pool.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'proxima-server notifier'",
    [database],
  );
  t.equal(rows.length, 1, 'one dedicated LISTEN connection');
  const resynced = once(a, 'resync', { signal: AbortSignal.timeout(15_000) });
  await store.pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
  await resynced;
  // The resync after the reconnect comes with the connection up (a poll resync while down would not).
  const deadline = Date.now() + 15_000;
  while (!a.connected && Date.now() < deadline) await once(a, 'resync', { signal: AbortSignal.timeout(15_000) });
  t.equal(a.connected, true, 'listening again');
  await a.notify({ kind: 'presence', after: 'reconnect' });
  t.same(await atA.until((m) => m.after === 'reconnect'), { kind: 'presence', after: 'reconnect', from: 'i-a' });
  const again = await store.pool.query(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'proxima-server notifier'",
  );
  t.equal(again.rows[0].n, 1, 'still one LISTEN connection');
});

t.test('while PostgreSQL is stopped: resync every pollIntervalMs, nothing throws, notify fails cleanly', { skip }, async (t) => {
  const own = await startPostgres(t);
  const { store } = await freshStore(t, own);
  const a = await notifier(t, store, 'i-a', 150);
  let resyncs = 0;
  a.on('resync', () => resyncs++);
  // The notifier's timers are unref'd (housekeeping) and so is AbortSignal.timeout: keep the test alive.
  const alive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(alive));
  await own.stop();
  const started = Date.now();
  for (let i = 0; i < 3; i++) await once(a, 'resync', { signal: AbortSignal.timeout(10_000) });
  const ms = Date.now() - started;
  t.equal(a.connected, false);
  t.ok(resyncs >= 3, `3 resyncs while down, in ${ms} ms (pollIntervalMs 150)`);
  const err = await a.notify({ kind: 'nodes' }).catch((e: unknown) => e);
  t.ok(err instanceof ProximaError && err.code === ErrorCodes.STORE_UNAVAILABLE, 'notify: PRX_ERR_STORE_UNAVAILABLE');
  await a.close();
  const after = resyncs;
  await a.close();
  t.equal(resyncs, after, 'closed: no more resyncs');
});

t.test('openSharedStore migrates, listens, and names this instance', { skip }, async (t) => {
  const url = await cluster!.createDatabase('shared_open');
  const shared = await openSharedStore(url, { logger: silentLogger, pollIntervalMs: 500 });
  t.teardown(() => shared.close());
  t.match(shared.instance, /^i-[0-9a-f]{12}$/);
  t.equal(shared.notifier.instance, shared.instance);
  t.equal(shared.notifier.connected, true);
  t.same(await migrate(shared.store), { applied: [], version: MIGRATIONS.length }, 'already migrated');
  const other = await openSharedStore(url, { logger: silentLogger });
  t.not(other.instance, shared.instance, 'a random id per start');
  await other.close();
  await other.close();
  t.rejects(other.store.pool.query('SELECT 1'), 'closed: the pool is ended');
});
