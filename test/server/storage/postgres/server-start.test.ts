import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import t, { type Test } from 'tap';
import { MIGRATIONS } from '../../../../src/server/storage/postgres/migrations.js';
import { POSTGRES_SKIP, startPostgres, type TestPostgres } from '../../../fixtures/postgres.js';
import { logLine, startBin } from '../../../fixtures/processes/bin-process.js';

const skip = POSTGRES_SKIP;
const cluster: TestPostgres | undefined = skip === false ? await startPostgres(t) : undefined;

/** A folder with a server.yaml on free ports (its own data folder), and the environment to run it with `url`. */
function serverDir(t: Test, url: string): { dir: string; file: string; env: NodeJS.ProcessEnv } {
  const dir = t.testdir();
  const file = path.join(dir, 'server.yaml');
  fs.writeFileSync(
    file,
    'dataDir: ./data\ncontrol: { listen: "127.0.0.1:0" }\nhttp: { listen: "127.0.0.1:0", drainTimeoutMs: 5000 }\nadmin: { listen: false }\n',
  );
  return { dir, file, env: { ...process.env, PROXIMA_DATABASE_URL: url } };
}

t.test('two proxima-server started together on one database: the schema is migrated once, both serve', { skip }, async (t) => {
  const url = await cluster!.createDatabase('start_together');
  const servers = [serverDir(t, url), serverDir(t, url)].map(({ dir, file, env }) => startBin(t, 'proxima-server', ['-c', file], dir, env));
  const ready = await Promise.all(servers.map((s) => logLine(s, 'store: PostgreSQL schema ready')));
  t.same(
    ready.map((r) => r.applied).sort((a, b) => b.length - a.length),
    [MIGRATIONS.map((m) => m.version), []],
    'one applied every version, the other found it done',
  );
  for (const r of ready)
    t.match(r, { version: MIGRATIONS.length, url: `postgres://postgres:***@127.0.0.1:${cluster!.port}/start_together` });
  for (const s of servers) {
    await logLine(s, 'store: the registry, API keys and canary passes are in PostgreSQL');
    await logLine(s, 'listening');
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  t.teardown(() => client.end());
  t.same(
    (await client.query('SELECT version FROM proxima_schema_migrations')).rows,
    MIGRATIONS.map((m) => ({ version: m.version })),
  );
  for (const s of servers) s.child.kill('SIGTERM');
  for (const s of servers) t.same(await s.exited, { code: 0, signal: null });
  for (const s of servers)
    t.notOk(
      s.lines.some((l) => l.includes(cluster!.password)),
      'the password is in no log line',
    );
});

t.test('a wrong password stops the start: exit 1, the reason names store.postgres.url, never the password', { skip }, async (t) => {
  const { dir, file, env } = serverDir(t, cluster!.url().replace(cluster!.password, 'not-the-Pa55word'));
  const server = startBin(t, 'proxima-server', ['-c', file], dir, env);
  t.same(await server.exited, { code: 1, signal: null });
  const said = [...server.lines, server.otherOutput()].join('\n');
  t.match(
    said,
    `proxima-server: cannot connect to the store (PostgreSQL at postgres://postgres:***@127.0.0.1:${cluster!.port}/postgres, store.postgres.url)`,
  );
  t.match(said, /password authentication failed/);
  t.notMatch(said, 'not-the-Pa55word');
  t.notMatch(said, /"msg":"listening"/, 'it never listened');
});
