import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { loadOrCreateSecret, SECRET_BYTES } from '../../../src/server/registry/secret.js';
import { runFixture, stopFixture } from '../../fixtures/processes/child-lines.js';

t.test('first start creates the folder and a 32-byte secret, mode 0600; later starts read it', async (t) => {
  const dataDir = path.join(t.testdir(), 'a', 'data');
  const secret = await loadOrCreateSecret(dataDir);
  t.equal(secret.length, SECRET_BYTES);
  const file = path.join(dataDir, 'secret');
  t.same(fs.readFileSync(file), secret);
  if (process.platform !== 'win32') t.equal(fs.statSync(file).mode & 0o777, 0o600);
  t.same(await loadOrCreateSecret(dataDir), secret, 'the same secret on the next start');
  t.same(fs.readdirSync(dataDir), ['secret'], 'no temp files left');
});

t.test('concurrent first starts agree on one secret', async (t) => {
  const dataDir = t.testdir();
  const other = runFixture('print-secret.js', [dataDir]);
  t.teardown(() => stopFixture(other));
  const mine = await Promise.all(Array.from({ length: 10 }, () => loadOrCreateSecret(dataDir)));
  const theirs = (await other.waitForLine((line) => /^[0-9a-f]{64}$/.test(line))).trim();
  for (const s of mine) t.equal(s.toString('hex'), theirs);
});

t.test('a secret of the wrong size is PRX_ERR_STORE_CORRUPT and left untouched', async (t) => {
  const dataDir = t.testdir({ secret: 'short' });
  await t.rejects(loadOrCreateSecret(dataDir), { code: 'PRX_ERR_STORE_CORRUPT', message: /secret/ });
  t.equal(fs.readFileSync(path.join(dataDir, 'secret'), 'utf8'), 'short');
});
