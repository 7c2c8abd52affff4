import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ErrorCodes } from '../../../src/errors.js';
import { migrateDataDir } from '../../../src/server/cli/store-migrate.js';
import { migrate } from '../../../src/server/storage/postgres/migrate.js';
import { openPostgres } from '../../../src/server/storage/postgres/postgres-pool.js';
import { at, canary, DAY_MS, probe, request } from '../../fixtures/ledger-records.js';
import { POSTGRES_SKIP, startPostgres, type TestPostgres } from '../../fixtures/postgres.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { tempDir } from '../../fixtures/stacks/control-plane.js';

const skip = POSTGRES_SKIP;
const cluster: TestPostgres | undefined = skip === false ? await startPostgres(t) : undefined;
const BIN = 'bin/proxima-server.js';

/** A data folder made by the real CLI (secret, nodes.json, keys.json) and a ledger of 30 records. */
async function dataFolder(t: Parameters<typeof tempDir>[0]): Promise<{ dir: string; onFile: string; tokens: Record<string, string> }> {
  const dir = tempDir(t);
  const onFile = path.join(dir, 'file.yaml');
  fs.writeFileSync(onFile, 'dataDir: ./data\n');
  const tokens: Record<string, string> = {};
  for (const name of ['alpha', 'beta']) {
    const r = await runNode(BIN, ['nodes', 'add', name, '--json', '-c', onFile]);
    t.equal(r.code, 0, r.stderr);
    tokens[name] = (JSON.parse(r.stdout) as { token: string }).token;
  }
  const k = await runNode(BIN, ['keys', 'add', 'team', '-c', onFile]);
  t.equal(k.code, 0, k.stderr);
  const records = [];
  for (let i = 0; i < 28; i++) records.push(request({ id: `m-${i}`, node: i % 2 ? 'alpha' : 'beta', time: at(i * 40 * 60_000) }));
  records.push(probe({ node: 'beta', time: at(DAY_MS / 2) }), canary({ node: 'alpha', time: at(DAY_MS / 3) }));
  fs.writeFileSync(path.join(dir, 'data', 'ledger.ndjson'), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return { dir, onFile, tokens };
}

t.test('store migrate copies a data folder, says so, copies nothing new the second time; rewards are the same', { skip }, async (t) => {
  const { dir, onFile } = await dataFolder(t);
  const url = await cluster!.createDatabase('migrate_ok');
  const onPostgres = path.join(dir, 'postgres.yaml');
  fs.mkdirSync(path.join(dir, 'pg-data'));
  fs.writeFileSync(onPostgres, `dataDir: ./pg-data\nstore:\n  postgres:\n    url: ${url}\n`);
  const first = await runNode(BIN, ['store', 'migrate', '-c', onPostgres, '--from', path.join(dir, 'data')]);
  t.equal(first.code, 0, first.stderr);
  t.match(first.stdout, /^copying .*\/data into postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/migrate_ok\n/);
  t.match(
    first.stdout,
    'secret: copied\nnodes: 2 copied, 0 already there\nAPI keys: 1 copied, 0 already there\nledger records: 30 copied, 0 already there\n',
  );
  t.notMatch(first.stdout + first.stderr, cluster!.password);
  const second = await runNode(BIN, ['store', 'migrate', '-c', onPostgres, '--from', path.join(dir, 'data')]);
  t.equal(second.code, 0, second.stderr);
  t.match(
    second.stdout,
    'secret: already there (the same)\nnodes: 0 copied, 2 already there\nAPI keys: 0 copied, 1 already there\nledger records: 0 copied, 30 already there\nnothing new to copy',
  );

  const store = await openPostgres({ url, max: 1 });
  t.teardown(() => store.close());
  const secret = await store.pool.query<{ value: Buffer }>(`SELECT value FROM proxima_secrets WHERE name = 'registry'`);
  t.same(secret.rows[0]!.value, fs.readFileSync(path.join(dir, 'data', 'secret')), 'the same secret: the same node tokens');
  const nodes = await store.pool.query<{ name: string; key_id: string }>('SELECT name, key_id FROM proxima_nodes ORDER BY name');
  const file = JSON.parse(fs.readFileSync(path.join(dir, 'data', 'nodes.json'), 'utf8')) as { nodes: Record<string, { keyId: string }> };
  t.same(
    nodes.rows.map((r) => [r.name, r.key_id]),
    [
      ['alpha', file.nodes.alpha!.keyId],
      ['beta', file.nodes.beta!.keyId],
    ],
  );
  const keys = await store.pool.query<{ name: string }>('SELECT name FROM proxima_api_keys');
  t.same(
    keys.rows.map((r) => r.name),
    ['team'],
  );
  const order = await store.pool.query<{ id: string }>(`SELECT id FROM proxima_ledger WHERE type = 'request' ORDER BY seq`);
  t.same(
    order.rows.map((r) => r.id),
    Array.from({ length: 28 }, (_, i) => `m-${i}`),
    'the ledger in the order written',
  );
  for (const args of [
    ['rewards', '--epoch', '20089', '--json'],
    ['usage', '--epoch', '20089', '--json'],
  ]) {
    const a = await runNode(BIN, [...args, '-c', onFile]);
    const b = await runNode(BIN, [...args, '-c', onPostgres]);
    t.equal(b.code, 0, b.stderr);
    t.equal(b.stdout, a.stdout, `${args[0]}: the same bytes on the file and on PostgreSQL`);
  }
});

t.test('store migrate refuses a database holding a different secret, and copies nothing', { skip }, async (t) => {
  const { dir } = await dataFolder(t);
  const url = await cluster!.createDatabase('migrate_conflict');
  const store = await openPostgres({ url, max: 2 });
  t.teardown(() => store.close());
  await migrate(store);
  await store.pool.query(`INSERT INTO proxima_secrets (name, value) VALUES ('registry', $1)`, [randomBytes(32)]);
  const onPostgres = path.join(dir, 'postgres.yaml');
  fs.writeFileSync(onPostgres, `dataDir: ./data\nstore:\n  postgres:\n    url: ${url}\n`);
  const r = await runNode(BIN, ['store', 'migrate', '-c', onPostgres]);
  t.equal(r.code, 1);
  t.match(
    r.stderr,
    /proxima-server: PostgreSQL already holds a different registry secret: the node tokens issued from this data folder would stop working there\. Nothing was copied\./,
  );
  await t.rejects(migrateDataDir({ dataDir: path.join(dir, 'data'), store }), { code: ErrorCodes.STORE_CONFLICT });
  for (const table of ['proxima_nodes', 'proxima_api_keys', 'proxima_ledger']) {
    const { rows } = await store.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
    t.equal(rows[0]!.n, 0, `nothing in ${table}`);
  }
});

t.test('store migrate without store.postgres is a usage error', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'server.yaml'), 'dataDir: ./data\n');
  const r = await runNode(BIN, ['store', 'migrate', '-c', path.join(dir, 'server.yaml')], dir);
  t.equal(r.code, 2);
  t.match(r.stderr, 'store migrate needs store.postgres.url');
});
