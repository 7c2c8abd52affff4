import { execFile } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { JsonKeyStore } from '../../../src/server/keys/json-key-store.js';
import { checkKeyPatch, type KeyRecord, makeKey } from '../../../src/server/keys/key-record.js';
import type { KeyStoreEvents } from '../../../src/server/keys/key-store.js';
import { repoPath } from '../../fixtures/paths.js';
import { literal, within } from '../../fixtures/store-helpers.js';

const T = new Date('2026-12-01T00:00:00.000Z');

async function open(t: Test, dataDir: string, watch = false): Promise<JsonKeyStore> {
  const store = await JsonKeyStore.open({ dataDir, watch, pollIntervalMs: watch ? 200 : 0 });
  t.teardown(() => store.close());
  return store;
}

const key = (name: string, patch = {}): { record: KeyRecord; key: string } => makeKey(name, checkKeyPatch(patch), T);

const nextChange = (store: JsonKeyStore): Promise<KeyStoreEvents['change'][0]> =>
  within(new Promise((resolve) => store.once('change', resolve)), 5_000, 'a change');

t.test('keys persist as digests with their limits; set and revoke; the clear key is nowhere on disk', async (t) => {
  const dataDir = t.testdir();
  const store = await open(t, dataDir);
  const alice = key('alice', { tokensPerMinute: 100, budget: { credits: 2.5, per: 'day' }, models: ['Llama3.2'] });
  t.match(alice.key, /^prx-[A-Za-z0-9_-]{43}$/, 'prx- and 32 random bytes');
  t.match(alice.record, { id: /^key-[0-9a-f]{12}$/, models: ['registry.ollama.ai/library/llama3.2:latest'], revokedAt: null });
  await store.add(alice.record);
  await store.add(key('bob').record);
  await t.rejects(store.add(key('alice').record), { code: 'PRX_ERR_NAME_TAKEN' }, 'names are unique among working keys');
  const changed = await store.update('alice', { budget: null, requestsPerMinute: 5 });
  t.match(changed, { name: 'alice', budget: null, requestsPerMinute: 5, tokensPerMinute: 100 });
  const revoked = await store.revoke(alice.record.id, new Date('2026-12-02T00:00:00Z'));
  t.equal(revoked.revokedAt, '2026-12-02T00:00:00.000Z');
  await t.rejects(
    store.update('alice', { tokensPerMinute: 1 }),
    { code: 'PRX_ERR_KEY_NOT_FOUND' },
    'a revoked key is found by its id only',
  );
  await store.add(key('alice').record);
  t.pass('a revoked key frees its name');

  const reopened = await open(t, dataDir);
  const listed = await reopened.list();
  t.same(
    listed.map((k) => [k.name, k.revokedAt !== null]),
    [
      ['alice', true],
      ['bob', false],
      ['alice', false],
    ],
  );
  const text = fs.readFileSync(path.join(dataDir, 'keys.json'), 'utf8');
  t.notOk(text.includes(alice.key), 'no clear key in the file');
  t.ok(text.includes(alice.record.sha256), 'its SHA-256 is');
  t.equal(fs.statSync(path.join(dataDir, 'keys.json')).mode & 0o777, 0o600);
  t.same(
    fs.readdirSync(dataDir).filter((f) => f !== 'keys.json'),
    [],
    'no temp or lock file left',
  );
});

t.test('bad limits are refused naming the field', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ tokensPerMinute: 0 }, /^tokensPerMinute: must be a whole number/],
    [{ requestsPerMinute: 1.5 }, /^requestsPerMinute: /],
    [{ budget: { credits: 5 } }, /^budget.per: must be "day" or "month"/],
    [{ budget: { credits: -1, per: 'day' } }, /^budget.credits: /],
    [{ models: ['ok', 'bad model'] }, /^models: "bad model" is not a model name/],
    [{ nodes: ['Bad_Node'] }, /^nodes: "Bad_Node" /],
    [{ name: 'key-0123456789ab' }, /^name: must not look like a key id/],
    [{ colour: 'red' }, /^colour: is not a field of a key/],
  ];
  for (const [patch, message] of cases)
    t.throws(() => checkKeyPatch(patch), { code: 'PRX_ERR_HTTP_BAD_REQUEST', message }, JSON.stringify(patch));
});

t.test('concurrent writers in this process and in others: nothing is lost', async (t) => {
  const dataDir = t.testdir();
  const file = path.join(dataDir, 'server.yaml');
  fs.writeFileSync(file, `dataDir: ${JSON.stringify(path.join(dataDir, 'data'))}\n`);
  const store = await open(t, path.join(dataDir, 'data'));
  const others = Array.from(
    { length: 4 },
    (_, i) =>
      new Promise<number>((resolve) => {
        const args = [repoPath('bin/proxima-server.js'), 'keys', 'add', `cli-${i}`, '-c', file];
        execFile(process.execPath, args, { timeout: 30_000 }, (err) => resolve(err === null ? 0 : Number(err.code)));
      }),
  );
  const ours = Array.from({ length: 30 }, (_, i) => store.add(key(`here-${i}`).record));
  t.same(await Promise.all(others), [0, 0, 0, 0], 'every keys add exited 0');
  await Promise.all(ours);
  const names = (await store.list()).map((k) => k.name).sort();
  t.equal(names.length, 34);
  t.same(
    names.filter((n) => n.startsWith('cli-')),
    ['cli-0', 'cli-1', 'cli-2', 'cli-3'],
  );
});

t.test('a watching store sees another writer within a second', async (t) => {
  const dataDir = t.testdir();
  const server = await open(t, dataDir, true);
  const cli = await open(t, dataDir);
  const started = performance.now();
  const seen = nextChange(server);
  await cli.add(key('carol').record);
  const keys = await seen;
  t.same(
    keys.map((k) => k.name),
    ['carol'],
  );
  t.ok(performance.now() - started < 1000, 'within a second');
  t.same(
    server.current.map((k) => k.name),
    ['carol'],
  );
  const revoked = nextChange(server);
  await cli.revoke('carol', new Date());
  t.not((await revoked)[0]!.revokedAt, null);
});

t.test('a corrupt file: a clear error at open; a running store keeps its keys, refuses writes, and recovers', async (t) => {
  const dataDir = t.testdir({ 'keys.json': '{"version":1,"keys":[{"id":"nope"}]}' });
  const file = path.join(dataDir, 'keys.json');
  await t.rejects(JsonKeyStore.open({ dataDir, watch: false, pollIntervalMs: 0 }), {
    code: 'PRX_ERR_STORE_CORRUPT',
    message: literal(`key file ${file} is corrupt (key 0: id is not key- and 12 hex characters)`),
  });
  fs.unlinkSync(file);
  const store = await open(t, dataDir, true);
  const dave = key('dave').record;
  await store.add(dave);
  const failed = within(once(store, 'error'), 5_000, 'an error event');
  fs.writeFileSync(file, 'not json');
  const [err] = await failed;
  t.match(err, { code: 'PRX_ERR_STORE_CORRUPT', message: /not valid JSON/ });
  t.same(
    store.current.map((k) => k.name),
    ['dave'],
    'the last good keys stay in use',
  );
  await t.rejects(store.add(key('erin').record), { code: 'PRX_ERR_STORE_CORRUPT' });
  t.equal(fs.readFileSync(file, 'utf8'), 'not json', 'never overwritten');
  fs.writeFileSync(file, JSON.stringify({ version: 1, keys: [dave] }));
  await store.add(key('erin').record);
  t.same(
    (await store.list()).map((k) => k.name),
    ['dave', 'erin'],
    'fixed by hand, it works again',
  );
});
