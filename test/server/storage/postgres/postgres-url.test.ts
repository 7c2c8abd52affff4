import path from 'node:path';
import t, { type Test } from 'tap';
import { ConfigError } from '../../../../src/errors.js';
import { DEFAULT_SERVER_CONFIG, loadServerConfig, parseServerConfig } from '../../../../src/server/config.js';
import { redactUrl, scrub, secretsOf } from '../../../../src/server/storage/postgres/postgres-url.js';

const SECRET = 's3cr3t-Pa55';
const GOOD = `postgres://proxima:${SECRET}@db.example.com:5432/proxima`;

/** The ConfigError `load` throws (failing the test when it throws none or another). */
function configError(t: Test, load: () => unknown): ConfigError {
  try {
    load();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  t.fail('no ConfigError');
  return new ConfigError([]);
}

t.test('absent: no store key, the JSON data folder as today', async (t) => {
  t.notOk('store' in DEFAULT_SERVER_CONFIG);
  t.notOk('store' in loadServerConfig(undefined, {}));
  t.same(parseServerConfig({ store: {} }).store, {}, 'an empty store section is the data folder too');
});

t.test('store.postgres.url: a postgres: or postgresql: URL, kept as written', async (t) => {
  t.equal(parseServerConfig({ store: { postgres: { url: GOOD } } }).store?.postgres?.url, GOOD);
  const socket = 'postgresql:///proxima?host=/var/run/postgresql&user=proxima';
  t.equal(parseServerConfig({ store: { postgres: { url: socket } } }).store?.postgres?.url, socket, 'a Unix socket by ?host=');
});

t.test('store.postgres.pollIntervalMs: 1000 by default, 100 ms .. 60 s, a bad one named', async (t) => {
  t.equal(parseServerConfig({ store: { postgres: { url: GOOD } } }).store?.postgres?.pollIntervalMs, 1000);
  t.equal(parseServerConfig({ store: { postgres: { url: GOOD, pollIntervalMs: 250 } } }).store?.postgres?.pollIntervalMs, 250);
  const err = configError(t, () => parseServerConfig({ store: { postgres: { url: GOOD, pollIntervalMs: 5 } } }));
  t.same(
    err.problems.map((p) => p.path),
    ['store.postgres.pollIntervalMs'],
  );
});

t.test('a bad URL names store.postgres.url and never echoes the value', async (t) => {
  const bad = [
    `mysql://proxima:${SECRET}@db:3306/x`,
    `postgres://proxima:${SECRET}@/proxima`,
    `not a url ${SECRET}`,
    `postgres://proxima:${SECRET}@db:99999/x`,
    42,
    '',
  ];
  for (const url of bad) {
    const err = configError(t, () => parseServerConfig({ store: { postgres: { url } } }));
    t.same(
      err.problems.map((p) => p.path),
      ['store.postgres.url'],
      String(url),
    );
    t.match(err.message, /must be a PostgreSQL URL, e\.g\. postgres:\/\/proxima:PASSWORD@127\.0\.0\.1:5432\/proxima/);
    t.notMatch(err.message, SECRET, 'the password is not in the message');
  }
  const missing = configError(t, () => parseServerConfig({ store: { postgres: {} } }));
  t.same(missing.problems, [{ path: 'store.postgres.url', message: 'required' }]);
  const typo = configError(t, () => parseServerConfig({ store: { postgress: { url: GOOD } } }));
  t.match(typo.problems, [{ path: 'store.postgress', message: /did you mean "postgres"/ }]);
});

t.test('PROXIMA_DATABASE_URL sets the URL, and wins over the file', async (t) => {
  const dir = t.testdir({ 'server.yaml': `store:\n  postgres:\n    url: postgres://file@db.example.com/file\n`, 'empty.yaml': '' });
  const env = { PROXIMA_DATABASE_URL: GOOD };
  t.equal(loadServerConfig(undefined, env).store?.postgres?.url, GOOD, 'no file');
  t.equal(loadServerConfig(path.join(dir, 'empty.yaml'), env).store?.postgres?.url, GOOD, 'an empty file');
  t.equal(loadServerConfig(path.join(dir, 'server.yaml'), env).store?.postgres?.url, GOOD, 'over the file');
  t.equal(
    loadServerConfig(path.join(dir, 'server.yaml'), { PROXIMA_DATABASE_URL: '' }).store?.postgres?.url,
    'postgres://file@db.example.com/file',
  );
  const err = configError(t, () => loadServerConfig(undefined, { PROXIMA_DATABASE_URL: `http://u:${SECRET}@db/x` }));
  t.same(
    err.problems.map((p) => p.path),
    ['store.postgres.url'],
  );
  t.match(err.message, /\(from PROXIMA_DATABASE_URL\) must be a PostgreSQL URL/);
  t.notMatch(err.message, SECRET);
});

t.test('redactUrl hides the password; scrub removes it from any text', async (t) => {
  t.equal(redactUrl(GOOD), 'postgres://proxima:***@db.example.com:5432/proxima');
  t.equal(redactUrl('postgres://proxima@db/x'), 'postgres://proxima@db/x', 'nothing to hide');
  t.equal(redactUrl(`postgres://db/x?user=u&password=${SECRET}`), 'postgres://db/x?user=u&password=***');
  t.equal(redactUrl(`not a url ${SECRET}`), '(a malformed URL)');
  const encoded = 'postgres://u:p%40ss%2Fw0rd@db/x';
  t.same(secretsOf(encoded).sort(), ['p%40ss%2Fw0rd', 'p@ss/w0rd'].sort(), 'as written and decoded');
  t.equal(scrub('auth failed for p@ss/w0rd and p%40ss%2Fw0rd', secretsOf(encoded)), 'auth failed for *** and ***');
});
