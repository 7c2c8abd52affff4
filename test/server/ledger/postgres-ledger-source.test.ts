import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { fileLedgerSource } from '../../../src/server/ledger/ledger-reader.js';
import type { LedgerRecord } from '../../../src/server/ledger/ledger-record.js';
import { postgresLedgerSource } from '../../../src/server/ledger/postgres-ledger-source.js';
import { PostgresLedgerWriter } from '../../../src/server/ledger/postgres-ledger-writer.js';
import { migrate } from '../../../src/server/storage/postgres/migrate.js';
import { openPostgres, type PostgresStore } from '../../../src/server/storage/postgres/postgres-pool.js';
import { at, canary, DAY_MS, flag, probe, request, T0 } from '../../fixtures/ledger-records.js';
import { POSTGRES_SKIP, startPostgres, type TestPostgres } from '../../fixtures/postgres.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { tempDir } from '../../fixtures/stacks/control-plane.js';

const skip = POSTGRES_SKIP;
const cluster: TestPostgres | undefined = skip === false ? await startPostgres(t) : undefined;
const BIN = 'bin/proxima-server.js';

/** Two days of traffic: three nodes, a failed and an aborted request, probes, canaries (one failed), a flag. */
function fixedRecords(): LedgerRecord[] {
  const records: LedgerRecord[] = [];
  for (let i = 0; i < 40; i++) {
    const node = ['alpha', 'beta', 'gamma'][i % 3]!;
    const time = at(i * 70 * 60_000);
    records.push(
      request({ id: `fixed-${i}`, node, time, keyId: i % 4 === 0 ? null : `key-user-${i % 2}`, completionTokensReported: 50 + i }),
    );
    if (i % 5 === 0) records.push(probe({ node, time, ok: i % 10 !== 0 }));
  }
  records.push(request({ id: 'fixed-failed', node: 'beta', time: at(3_600_000), outcome: 'node_error' }));
  records.push(request({ id: 'fixed-aborted', node: 'gamma', time: at(7_200_000), outcome: 'client_abort' }));
  records.push(request({ id: 'fixed-model', node: 'alpha', time: at(5_000_000), model: 'qwen2.5', parameterSize: '7B' }));
  records.push(canary({ node: 'alpha', time: at(4_000_000), passed: true }));
  records.push(canary({ node: 'gamma', time: at(9_000_000), passed: false, reason: 'different answer' }));
  records.push(flag({ node: 'gamma', time: at(9_000_001) }));
  records.push(request({ id: 'fixed-next-day', node: 'beta', time: at(DAY_MS + 120_000) }));
  return records;
}

async function freshStore(t: Test, name: string): Promise<{ store: PostgresStore; url: string }> {
  const url = await cluster!.createDatabase(name);
  const store = await openPostgres({ url, max: 2 });
  t.teardown(() => store.close());
  await migrate(store);
  return { store, url };
}

t.test('the same records give the same rewards and usage, byte for byte, from the file and from PostgreSQL', { skip }, async (t) => {
  const records = fixedRecords();
  const { store, url } = await freshStore(t, 'source_cli');
  const writer = new PostgresLedgerWriter({ store });
  for (const record of records) await writer.append(record);
  await writer.close();

  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'file-data'));
  fs.writeFileSync(path.join(dir, 'file-data', 'ledger.ndjson'), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  fs.mkdirSync(path.join(dir, 'pg-data'));
  const onFile = path.join(dir, 'file.yaml');
  const onPostgres = path.join(dir, 'postgres.yaml');
  fs.writeFileSync(onFile, 'dataDir: ./file-data\n');
  fs.writeFileSync(onPostgres, `dataDir: ./pg-data\nstore:\n  postgres:\n    url: ${url}\n`);

  const runs: string[][] = [
    ['rewards', '--epoch', '20089', '--json'],
    ['rewards', '--epoch', '20089'],
    ['rewards', '--from', String(T0), '--to', String(T0 + 2 * DAY_MS), '--json'],
    ['rewards', '--from', String(T0 + 3_600_000), '--to', String(T0 + 10 * 3_600_000), '--json'],
    ['usage', '--epoch', '20089', '--by', 'node', '--json'],
    ['usage', '--epoch', '20089', '--by', 'key', '--json'],
    ['usage', '--epoch', '20089', '--by', 'model'],
  ];
  for (const args of runs) {
    const a = await runNode(BIN, [...args, '-c', onFile]);
    const b = await runNode(BIN, [...args, '-c', onPostgres]);
    t.equal(a.code, 0, a.stderr);
    t.equal(b.code, 0, b.stderr);
    t.equal(b.stdout, a.stdout, `${args.join(' ')}: the same bytes`);
    t.notMatch(b.stdout + b.stderr, cluster!.password, 'no password shown');
  }
  const rows = JSON.parse((await runNode(BIN, ['rewards', '--epoch', '20089', '--json', '-c', onPostgres])).stdout) as { node: string }[];
  t.same(
    rows.map((r) => r.node),
    ['alpha', 'beta', 'gamma'],
    'and it is not empty',
  );
});

t.test('PostgreSQL source: records of a range in the order written, a page at a time', { skip }, async (t) => {
  const records = fixedRecords();
  const { store } = await freshStore(t, 'source_pages');
  const writer = new PostgresLedgerWriter({ store, maxBatchRecords: 7 }); // 55 records: seq 1..55, past 9 and 10 (text order would differ)
  await Promise.all(records.map((r) => writer.append(r)));
  await writer.close();
  const dataDir = t.testdir({ 'ledger.ndjson': records.map((r) => `${JSON.stringify(r)}\n`).join('') });
  const read = async (source: ReturnType<typeof fileLedgerSource>, fromMs?: number, toMs?: number): Promise<string[]> => {
    const out: string[] = [];
    // jsonb keeps no key order: compare the records with their keys sorted.
    for await (const record of source.read({ fromMs, toMs })) out.push(JSON.stringify(record, Object.keys(record).sort()));
    return out;
  };
  const pages = postgresLedgerSource(store, 4);
  const file = fileLedgerSource(dataDir);
  t.same(await read(pages), await read(file), 'everything, pages of 4');
  t.equal((await read(pages)).length, records.length);
  const [from, to] = [T0 + 3_600_000, T0 + 12 * 3_600_000];
  t.same(await read(pages, from, to), await read(file, from, to), 'a range');
  t.same(await read(pages, T0 + 30 * DAY_MS), [], 'an empty range');
  t.equal(pages.where.includes(cluster!.password), false, 'where is redacted');
});
