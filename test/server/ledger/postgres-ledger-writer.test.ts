import t, { type Test } from 'tap';
import { ErrorCodes } from '../../../src/errors.js';
import type { LedgerRecord } from '../../../src/server/ledger/ledger-record.js';
import {
  ledgerRecordId,
  PostgresLedgerWriter,
  type PostgresLedgerWriterOptions,
} from '../../../src/server/ledger/postgres-ledger-writer.js';
import { migrate } from '../../../src/server/storage/postgres/migrate.js';
import { openPostgres, type PostgresStore } from '../../../src/server/storage/postgres/postgres-pool.js';
import { canary, flag, probe, request } from '../../fixtures/ledger-records.js';
import { POSTGRES_SKIP, startPostgres, type TestPostgres } from '../../fixtures/postgres.js';

const skip = POSTGRES_SKIP;
const cluster: TestPostgres | undefined = skip === false ? await startPostgres(t) : undefined;
let databases = 0;

/** A store on a fresh, migrated (unless told) database, closed in teardown. */
async function freshStore(t: Test, migrated = true): Promise<PostgresStore> {
  const store = await openPostgres({ url: await cluster!.createDatabase(`ledger_${++databases}`), max: 4 });
  t.teardown(() => store.close());
  if (migrated) await migrate(store);
  return store;
}

function openWriter(t: Test, options: PostgresLedgerWriterOptions): PostgresLedgerWriter {
  const writer = new PostgresLedgerWriter(options);
  t.teardown(() => writer.destroy());
  return writer;
}

interface Stored {
  id: string;
  type: string;
  node: string;
  time: Date;
  record: LedgerRecord;
  xmin: string;
}

/** Every row, in the order written (seq). */
async function rows(store: PostgresStore): Promise<Stored[]> {
  return (await store.pool.query<Stored>('SELECT id, type, node, time, record, xmin::text AS xmin FROM proxima_ledger ORDER BY seq')).rows;
}

/** How many transactions wrote the rows: each INSERT is one (autocommit), and its rows share its xmin. */
const transactions = (stored: Stored[]): number => new Set(stored.map((r) => r.xmin)).size;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** 4 kinds of record, `n` in all, each distinct. */
function mixed(n: number): LedgerRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const time = new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString();
    switch (i % 4) {
      case 0:
        return request({ id: `req-pg-${i}`, time });
      case 1:
        return probe({ time, latencyMs: i });
      case 2:
        return canary({ time, reason: `verdict ${i}` });
      default:
        return flag({ time, reason: `flag ${i}` });
    }
  });
}

t.test('group commit: 1,000 appends in one turn are one INSERT; each record is there once, as appended', { skip }, async (t) => {
  const store = await freshStore(t);
  const writer = openWriter(t, { store });
  const records = mixed(1000);
  await Promise.all(records.map((r) => writer.append(r)));
  const stored = await rows(store);
  t.equal(stored.length, 1000);
  t.equal(transactions(stored), 1, 'one INSERT statement (one transaction) for the 1,000 records');
  t.same(writer.stats, { batches: 1, records: 1000 });
  t.same(
    stored.map((r) => r.record),
    records,
    'every record as appended, in order',
  );
  t.same(
    stored.map((r) => [r.id, r.type, r.node, r.time.toISOString()]),
    records.map((r) => [ledgerRecordId(r), r.type, r.node, r.time]),
    'the indexed columns',
  );
  t.match(stored[1]!.id, /^probe:[0-9a-f]{64}$/, 'a record with no id of its own gets its digest');
  t.equal(stored[0]!.id, 'req-pg-0', 'a request record keeps its id');
});

t.test('appends while an INSERT is in flight form the next batch; at most maxBatchRecords a batch', { skip }, async (t) => {
  const store = await freshStore(t);
  const writer = openWriter(t, { store, maxBatchRecords: 100 });
  const first = writer.append(request({ id: 'first' }));
  await turn(); // the first batch (one record) is now in flight
  const records = mixed(450);
  const rest = records.map((r) => writer.append(r));
  await Promise.all([first, ...rest]);
  const stored = await rows(store);
  t.equal(stored.length, 451);
  t.equal(transactions(stored), 6, '1 + 100 + 100 + 100 + 100 + 50');
  t.same(writer.stats, { batches: 6, records: 451 });
  t.ok(transactions(stored) < stored.length, `${transactions(stored)} INSERT statements for ${stored.length} records`);
  const batchSizes = new Map<string, number>();
  for (const r of stored) batchSizes.set(r.xmin, (batchSizes.get(r.xmin) ?? 0) + 1);
  t.same([...batchSizes.values()], [1, 100, 100, 100, 100, 50], 'in the order written');
});

t.test('re-appending an id is a no-op; so is appending the same record again', { skip }, async (t) => {
  const store = await freshStore(t);
  const writer = openWriter(t, { store });
  const original = request({ id: 'dup', bytesOut: 1 });
  const sameProbe = probe({ latencyMs: 7 });
  await Promise.all([writer.append(original), writer.append(sameProbe)]);
  await writer.append(request({ id: 'dup', bytesOut: 2 }));
  await writer.append({ ...sameProbe });
  await Promise.all([writer.append(request({ id: 'twice' })), writer.append(request({ id: 'twice' }))]);
  const stored = await rows(store);
  t.same(
    stored.map((r) => r.id),
    ['dup', ledgerRecordId(sameProbe), 'twice'],
  );
  t.equal((stored[0]!.record as { bytesOut: number }).bytesOut, 1, 'the first record under an id stays');
});

t.test('text jsonb cannot hold (NUL, unpaired surrogates) is stored as U+FFFD, not a failed batch', { skip }, async (t) => {
  const store = await freshStore(t);
  const writer = openWriter(t, { store });
  const odd = canary({ reason: 'a\u0000b\ud800c\udc00d' });
  const pair = canary({ reason: 'emoji \ud83d\ude00 kept' });
  await Promise.all([writer.append(odd), writer.append(pair), writer.append(request({ id: 'beside' }))]);
  const stored = await rows(store);
  t.same(
    stored.map((r) => (r.record as { reason?: string }).reason ?? r.id),
    ['a\ufffdb\ufffdc\ufffdd', 'emoji \ud83d\ude00 kept', 'beside'],
  );
});

t.test('a record that does not check is refused and written nowhere', { skip }, async (t) => {
  const store = await freshStore(t);
  const writer = openWriter(t, { store });
  await t.rejects(writer.append(request({ node: 'Not A Node' })), { code: ErrorCodes.LEDGER_RECORD_INVALID });
  await t.rejects(writer.append({ type: 'other' } as unknown as LedgerRecord), { code: ErrorCodes.LEDGER_RECORD_INVALID });
  await writer.flush();
  t.same(await rows(store), []);
});

t.test('close writes what waits, then refuses; destroy fails what waits', { skip }, async (t) => {
  const store = await freshStore(t);
  const writer = openWriter(t, { store });
  const pending = [writer.append(request({ id: 'c1' })), writer.append(request({ id: 'c2' }))];
  await writer.close();
  await Promise.all(pending);
  t.equal((await rows(store)).length, 2);
  await t.rejects(writer.append(request({ id: 'late' })), { code: ErrorCodes.SERVER_DRAINING });
  const other = openWriter(t, { store });
  const first = other.append(request({ id: 'd1' }));
  await turn(); // d1 in flight
  const waiting = t.rejects(other.append(request({ id: 'd2' })), { code: ErrorCodes.SERVER_DRAINING }, 'd2 waited: failed');
  await other.destroy();
  await first;
  await waiting;
  t.same(
    (await rows(store)).map((r) => r.id),
    ['c1', 'c2', 'd1'],
  );
});

t.test('a failed INSERT rejects its batch with PRX_ERR_STORE_UNAVAILABLE, without the password', { skip }, async (t) => {
  const store = await freshStore(t, false); // no schema: the table is missing
  const writer = openWriter(t, { store });
  const results = await Promise.allSettled([writer.append(request({ id: 'x1' })), writer.append(request({ id: 'x2' }))]);
  for (const r of results) {
    t.equal(r.status, 'rejected');
    const err = (r as PromiseRejectedResult).reason as Error & { code: string };
    t.equal(err.code, ErrorCodes.STORE_UNAVAILABLE);
    t.match(
      err.message,
      /cannot append to the ledger \(PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/ledger_\d+, store\.postgres\.url\): relation "proxima_ledger" does not exist/,
    );
    t.notMatch(err.message, cluster!.password);
  }
  await migrate(store);
  await writer.append(request({ id: 'x1' }));
  t.equal((await rows(store)).length, 1, 'the writer goes on once the table is there');
});
