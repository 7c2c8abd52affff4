import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { ConfigError } from '../../../src/errors.js';
import { parseServerConfig } from '../../../src/server/config.js';

const SECRET = 'a-cluster-secret-of-at-least-32-characters';
const STORE = { postgres: { url: 'postgres://proxima@127.0.0.1:5432/proxima' } };

function problems(raw: unknown, baseDir?: string): { path: string; message: string }[] {
  try {
    parseServerConfig(raw, { baseDir });
  } catch (err) {
    return [...(err as ConfigError).problems];
  }
  throw new Error('the config was accepted');
}

t.test('absent: no cluster, nothing else changes', async (t) => {
  t.equal(parseServerConfig({}).cluster, undefined);
});

t.test('listen, advertise (listen by default) and the secret', async (t) => {
  const c = parseServerConfig({ store: STORE, cluster: { listen: '10.0.0.5:7400', secret: SECRET } }).cluster!;
  t.same(c.listen, { host: '10.0.0.5', port: 7400 });
  t.same(c.advertise, { host: '10.0.0.5', port: 7400 }, 'advertise defaults to listen');
  t.equal(c.secret, SECRET);
  const d = parseServerConfig({ store: STORE, cluster: { listen: ':7400', advertise: 'sn1.internal:7400', secret: SECRET } }).cluster!;
  t.same(d.advertise, { host: 'sn1.internal', port: 7400 });
});

t.test('the secret from a file, trimmed', async (t) => {
  const dir = t.testdir({ 'cluster.secret': `${SECRET}\n` });
  const c = parseServerConfig({ store: STORE, cluster: { listen: '10.0.0.5:7400', secretFile: 'cluster.secret' } }, { baseDir: dir })
    .cluster!;
  t.equal(c.secret, SECRET);
  fs.writeFileSync(path.join(dir, 'short'), 'short');
  const found = problems({ store: STORE, cluster: { listen: '10.0.0.5:7400', secretFile: 'short' } }, dir);
  t.equal(found[0]!.path, 'cluster.secretFile');
  t.notMatch(found[0]!.message, /short$/, 'the secret itself is not in the message');
});

t.test('each bad field is named', async (t) => {
  t.same(
    problems({ cluster: { listen: '10.0.0.5:7400', secret: SECRET } }).map((p) => p.path),
    ['cluster'],
    'cluster requires store.postgres',
  );
  t.match(problems({ cluster: { listen: '10.0.0.5:7400', secret: SECRET } })[0]!.message, /store\.postgres/);
  t.same(
    problems({ store: STORE, cluster: { listen: '0.0.0.0:7400', secret: SECRET } }).map((p) => p.path),
    ['cluster.listen'],
    'a wildcard listen needs an advertise',
  );
  t.same(
    problems({ store: STORE, cluster: { listen: ':7400', advertise: '0.0.0.0:7400', secret: SECRET } }).map((p) => p.path),
    ['cluster.advertise'],
  );
  t.same(
    problems({ store: STORE, cluster: { listen: '10.0.0.5:7400', secret: 'too-short' } }).map((p) => p.path),
    ['cluster.secret'],
  );
  t.same(
    problems({ store: STORE, cluster: { listen: '10.0.0.5:7400' } }).map((p) => p.path),
    ['cluster.secret'],
    'a secret is required',
  );
  t.same(
    problems({ store: STORE, cluster: { listen: '10.0.0.5:7400', secret: SECRET, secretFile: 'x' } }).map((p) => p.path),
    ['cluster.secretFile'],
  );
  t.same(
    problems({ store: STORE, cluster: { secret: SECRET } }).map((p) => p.path),
    ['cluster.listen'],
  );
  t.same(
    problems({ store: STORE, cluster: { listen: '10.0.0.5:7400', secret: SECRET, peers: [] } }).map((p) => p.path),
    ['cluster.peers'],
  );
});
