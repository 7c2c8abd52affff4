import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { ErrorCodes } from '../../../src/errors.js';
import { LEDGER_BUFFER_FILE, LEDGER_BUFFER_FOLDER } from '../../../src/server/ledger/ledger-buffer.js';
import { PostgresLedger, type PostgresLedgerOptions } from '../../../src/server/ledger/postgres-ledger.js';
import { migrate } from '../../../src/server/storage/postgres/migrate.js';
import { openPostgres, type PostgresStore } from '../../../src/server/storage/postgres/postgres-pool.js';
import { probe, request } from '../../fixtures/ledger-records.js';
import { POSTGRES_SKIP, startPostgres, type TestPostgres } from '../../fixtures/postgres.js';

const skip = POSTGRES_SKIP;
const cluster: TestPostgres | undefined = skip === false ? await startPostgres(t) : undefined;
let databases = 0;

async function freshStore(t: Test): Promise<PostgresStore> {
  const store = await openPostgres({ url: await cluster!.createDatabase(`pgledger_${++databases}`), max: 4, connectTimeoutMs: 2000 });
  t.teardown(() => store.close());
  await migrate(store);
  return store;
}

async function openLedger(t: Test, options: Omit<PostgresLedgerOptions, 'retryIntervalMs'>): Promise<PostgresLedger> {
  const ledger = await PostgresLedger.open({ retryIntervalMs: 50, ...options });
  t.teardown(() => ledger.destroy());
  return ledger;
}

/** The ids in proxima_ledger in the order written (seq), with how often each is there. */
async function storedIds(store: PostgresStore): Promise<string[]> {
  const { rows } = await store.pool.query<{ id: string }>('SELECT id FROM proxima_ledger ORDER BY seq');
  return rows.map((r) => r.id);
}

/** Polls `cond` every 20 ms until it holds or `ms` pass. */
async function eventually(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const bufferFile = (dataDir: string): string => path.join(dataDir, LEDGER_BUFFER_FOLDER, LEDGER_BUFFER_FILE);

t.test('PostgreSQL up: records go straight to it, no buffer file', { skip }, async (t) => {
  const store = await freshStore(t);
  const dataDir = t.testdir();
  const ledger = await openLedger(t, { store, dataDir });
  await Promise.all([ledger.append(request({ id: 'a' })), ledger.append(request({ id: 'b' }))]);
  t.same(await storedIds(store), ['a', 'b']);
  t.equal(ledger.notice, undefined);
  t.equal(ledger.problem, undefined);
  t.notOk(fs.existsSync(bufferFile(dataDir)));
});

t.test('PostgreSQL stopped and started mid-run: appends keep resolving; every one is stored once, in order', { skip }, async (t) => {
  const store = await freshStore(t);
  const dataDir = t.testdir();
  const ledger = await openLedger(t, { store, dataDir });
  const acknowledged: string[] = [];
  let n = 0;
  const appendSome = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const id = `r${++n}`;
      await ledger.append(request({ id }));
      acknowledged.push(id);
    }
  };
  await appendSome(20);
  t.equal(ledger.notice, undefined);
  await cluster!.halt();
  // A burst of one turn (one batch) and single appends, all while PostgreSQL is down.
  const burst = Array.from({ length: 50 }, () => `r${++n}`);
  await Promise.all(burst.map((id) => ledger.append(request({ id }))));
  acknowledged.push(...burst);
  await appendSome(30);
  await ledger.append(probe({ node: 'beta' }));
  t.equal(ledger.buffered, 81, 'the 81 records since the stop wait on disk');
  t.equal(ledger.notice, 'buffering 81 records on disk, PostgreSQL unreachable');
  t.equal(ledger.problem, undefined, 'appends still work: /readyz stays ready');
  t.equal(fs.readFileSync(bufferFile(dataDir), 'utf8').split('\n').length - 1, 81, '81 whole lines in the buffer');
  t.equal(fs.statSync(bufferFile(dataDir)).mode & 0o777, 0o600);
  await cluster!.resume();
  await appendSome(10); // appended while the replay may run: still after the buffered ones
  await eventually(() => ledger.buffered === 0 && ledger.notice === undefined, 30_000, 'the buffer replayed');
  await appendSome(5);
  const ids = (await storedIds(store)).filter((id) => !id.startsWith('probe:'));
  t.same(ids, acknowledged, 'every acknowledged request once, in the order appended');
  t.equal((await storedIds(store)).length, acknowledged.length + 1, 'and the probe');
  t.notOk(fs.existsSync(bufferFile(dataDir)), 'the buffer file is removed once replayed');
});

t.test('a full buffer refuses records with PRX_ERR_LEDGER_BUFFER_FULL and says so; nothing refused is stored', { skip }, async (t) => {
  const store = await freshStore(t);
  const dataDir = t.testdir();
  const line = `${JSON.stringify(request({ id: 'x0000' }))}\n`.length;
  const ledger = await openLedger(t, { store, dataDir, bufferMaxBytes: line * 3 + 10 });
  await cluster!.halt();
  const ok: string[] = [];
  for (let i = 0; i < 3; i++) {
    await ledger.append(request({ id: `x000${i}` }));
    ok.push(`x000${i}`);
  }
  await t.rejects(ledger.append(request({ id: 'x0003' })), { code: ErrorCodes.LEDGER_BUFFER_FULL });
  t.match(ledger.problem, /buffer on disk is full .*store\.postgres\.bufferMaxBytes.*PRX_ERR_LEDGER_BUFFER_FULL/);
  await cluster!.resume();
  await eventually(() => ledger.buffered === 0 && ledger.problem === undefined, 30_000, 'the buffer replayed');
  await ledger.append(request({ id: 'x0004' }));
  t.same(await storedIds(store), [...ok, 'x0004']);
});

t.test('a buffer left by a crash (torn last line) is replayed at open, before new records', { skip }, async (t) => {
  const store = await freshStore(t);
  const dataDir = t.testdir();
  fs.mkdirSync(path.join(dataDir, LEDGER_BUFFER_FOLDER));
  const left = ['c1', 'c2', 'c3'].map((id) => JSON.stringify(request({ id })));
  fs.writeFileSync(bufferFile(dataDir), `${left.join('\n')}\n${left[0]!.slice(0, 40)}`);
  await store.pool.query(`INSERT INTO proxima_ledger (id, type, time, node, record) VALUES ('c1', 'request', now(), 'alpha', '{}')`);
  const ledger = await openLedger(t, { store, dataDir });
  const appended = ledger.append(request({ id: 'n1' }));
  await appended;
  await eventually(() => ledger.buffered === 0 && ledger.notice === undefined, 30_000, 'the buffer replayed');
  t.same(await storedIds(store), ['c1', 'c2', 'c3', 'n1'], 'c1 already there is not stored twice; the torn line is skipped');
  t.notOk(fs.existsSync(bufferFile(dataDir)));
});

t.test('close with PostgreSQL down keeps the buffer for the next start', { skip }, async (t) => {
  const store = await freshStore(t);
  const dataDir = t.testdir();
  const ledger = await openLedger(t, { store, dataDir });
  await cluster!.halt();
  t.teardown(() => cluster!.resume().catch(() => undefined));
  await ledger.append(request({ id: 'k1' }));
  await ledger.close();
  await t.rejects(ledger.append(request({ id: 'k2' })), { code: ErrorCodes.SERVER_DRAINING });
  t.equal(fs.readFileSync(bufferFile(dataDir), 'utf8').split('\n').length - 1, 1);
  await cluster!.resume();
  const again = await openLedger(t, { store, dataDir });
  await eventually(() => again.buffered === 0 && again.notice === undefined, 30_000, 'the buffer replayed');
  t.same(await storedIds(store), ['k1']);
});
