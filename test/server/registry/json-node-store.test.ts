import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { change, literal, nextEvent, openStore, record } from '../../fixtures/store-helpers.js';

t.test('records persist across a reopen; answers are copies', async (t) => {
  const dataDir = t.testdir();
  const store = await openStore(t, dataDir);
  t.same(await store.list(), []);
  const added = await store.add(record('alpha'));
  added.keyId = 'ffffffffffffffff';
  t.equal((await store.get('alpha'))!.keyId, '0123456789abcdef', 'changing an answer changes nothing');
  await store.add(record('beta'));
  await store.update('beta', { keyId: '1111111111111111', services: ['web'] });
  await store.remove('alpha');
  const reopened = await openStore(t, dataDir);
  t.same(await reopened.list(), [{ ...record('beta', '1111111111111111'), services: ['web'] }]);
  t.equal(await reopened.get('alpha'), undefined);
  const doc = JSON.parse(fs.readFileSync(path.join(dataDir, 'nodes.json'), 'utf8')) as { version: number };
  t.equal(doc.version, 1);
});

t.test('a failed mutation fails alone; the rest of its batch is written', async (t) => {
  const store = await openStore(t, t.testdir());
  await store.add(record('alpha'));
  const results = await Promise.allSettled([
    store.add(record('alpha')),
    store.add(record('beta')),
    store.update('ghost', { keyId: '1111111111111111' }),
    store.remove('ghost'),
    store.remove('alpha'),
  ]);
  t.match(results, [
    { status: 'rejected', reason: { code: 'PRX_ERR_NAME_TAKEN' } },
    { status: 'fulfilled', value: { name: 'beta' } },
    { status: 'rejected', reason: { code: 'PRX_ERR_NODE_NOT_FOUND' } },
    { status: 'rejected', reason: { code: 'PRX_ERR_NODE_NOT_FOUND' } },
    { status: 'fulfilled', value: { name: 'alpha' } },
  ]);
  t.same(
    (await store.list()).map((r) => r.name),
    ['beta'],
  );
});

t.test('mutations that arrive together, or during a write, share writes (group commit)', async (t) => {
  const dataDir = t.testdir();
  const store = await openStore(t, dataDir);
  await Promise.all(Array.from({ length: 100 }, (_, i) => store.add(record(`n-${i}`))));
  t.equal(store.writeCount, 1, '100 simultaneous adds, one write');
  const trickled: Promise<unknown>[] = [];
  for (let i = 0; i < 100; i++) {
    trickled.push(store.add(record(`m-${i}`)));
    await fs.promises.stat(dataDir);
  }
  await Promise.all(trickled);
  t.ok(store.writeCount - 1 < 100, `100 adds one file stat apart took ${store.writeCount - 1} writes`);
  t.equal((await store.list()).length, 200);
});

t.test('last-seen times are coalesced and written on flush or close', async (t) => {
  const dataDir = t.testdir();
  const store = await openStore(t, dataDir, { touchFlushMs: 60_000 });
  await store.add(record('alpha'));
  const writes = store.writeCount;
  for (let i = 0; i < 50; i++) store.touch('alpha', new Date(Date.UTC(2025, 0, 1, 0, 0, i)), i === 10 ? ['web', 'ollama'] : undefined);
  store.touch('ghost', new Date());
  t.equal(store.writeCount, writes, 'nothing written yet');
  await store.flush();
  t.equal(store.writeCount, writes + 1, 'one write for fifty touches');
  t.match(await store.get('alpha'), { lastSeenAt: '2025-01-01T00:00:49.000Z', services: ['web', 'ollama'] });
  t.equal(await store.get('ghost'), undefined, 'a touch creates nothing');
  store.touch('alpha', new Date(Date.UTC(2026, 0, 1)));
  await store.close();
  const reopened = await openStore(t, dataDir);
  t.match(await reopened.get('alpha'), { lastSeenAt: '2026-01-01T00:00:00.000Z', services: ['web', 'ollama'] });
});

t.test('unknown fields written by a newer version survive our writes', async (t) => {
  const dataDir = t.testdir({
    'nodes.json': JSON.stringify({ version: 1, cluster: { id: 7 }, nodes: { alpha: { ...record('alpha'), tier: 'gold' } } }),
  });
  const store = await openStore(t, dataDir);
  await store.add(record('beta'));
  await store.update('alpha', { keyId: '2222222222222222' });
  const doc = JSON.parse(fs.readFileSync(path.join(dataDir, 'nodes.json'), 'utf8')) as Record<string, any>;
  t.same(doc.cluster, { id: 7 });
  t.equal(doc.nodes.alpha.tier, 'gold');
  t.equal(doc.nodes.alpha.keyId, '2222222222222222');
});

t.test('reads and writes see another writer at once; watchers report what changed', async (t) => {
  const dataDir = t.testdir();
  for (const [mode, options] of [
    ['fs.watch', { watch: true }],
    ['stat poll', { pollIntervalMs: 20 }],
  ] as const) {
    const watching = await openStore(t, dataDir, options);
    const other = await openStore(t, dataDir);
    const added = nextEvent(watching, 'change');
    await other.add(record(`alpha-${mode === 'fs.watch' ? 1 : 2}`));
    t.same(await added, change({ added: [`alpha-${mode === 'fs.watch' ? 1 : 2}`] }), `${mode}: added`);
    const rotated = nextEvent(watching, 'change');
    await other.update(`alpha-${mode === 'fs.watch' ? 1 : 2}`, { keyId: '3333333333333333' });
    t.same(await rotated, change({ rotated: [`alpha-${mode === 'fs.watch' ? 1 : 2}`] }), `${mode}: rotated`);
    const removed = nextEvent(watching, 'change');
    await other.remove(`alpha-${mode === 'fs.watch' ? 1 : 2}`);
    t.same(await removed, change({ removed: [`alpha-${mode === 'fs.watch' ? 1 : 2}`] }), `${mode}: removed`);
    await watching.close();
  }
  const quiet = await openStore(t, dataDir);
  const other = await openStore(t, dataDir);
  await other.add(record('beta'));
  t.ok(await quiet.get('beta'), 'a read sees a write made elsewhere, without any watcher');
  await t.rejects(quiet.add(record('beta')), { code: 'PRX_ERR_NAME_TAKEN' }, 'a write re-reads under the lock');
});

t.test('a corrupt file is reported, refused and never overwritten', async (t) => {
  const garbage = '{"version":1,"nodes":{"alpha":';
  const dataDir = t.testdir({ 'nodes.json': garbage });
  const file = path.join(dataDir, 'nodes.json');
  await t.rejects(openStore(t, dataDir), { code: 'PRX_ERR_STORE_CORRUPT', message: literal(file) });
  t.equal(fs.readFileSync(file, 'utf8'), garbage);

  fs.writeFileSync(file, JSON.stringify({ version: 1, nodes: { alpha: record('alpha') } }));
  const store = await openStore(t, dataDir, { pollIntervalMs: 20 });
  const errors: Error[] = [];
  store.on('error', (err) => errors.push(err));
  const failed = nextEvent(store, 'error');
  fs.writeFileSync(file, garbage);
  t.match(await failed, { code: 'PRX_ERR_STORE_CORRUPT' }, 'noticed by the poll');
  const attempts: Promise<unknown>[] = [
    store.add(record('beta')),
    store.update('alpha', { keyId: '4444444444444444' }),
    store.remove('alpha'),
    store.get('alpha'),
    store.list(),
  ];
  for (const attempt of attempts) await t.rejects(attempt, { code: 'PRX_ERR_STORE_CORRUPT' });
  store.touch('alpha', new Date());
  await t.rejects(store.flush(), { code: 'PRX_ERR_STORE_CORRUPT' });
  t.equal(fs.readFileSync(file, 'utf8'), garbage, 'byte for byte unchanged');
  t.equal(errors.length, 1, 'reported once');

  fs.writeFileSync(file, JSON.stringify({ version: 1, nodes: { alpha: record('alpha') } }));
  await store.add(record('beta'));
  t.same(
    (await store.list()).map((r) => r.name),
    ['alpha', 'beta'],
    'a repaired file is used again',
  );
});

t.test('a removed file reads as empty; close and destroy are idempotent and refuse later writes', async (t) => {
  const dataDir = t.testdir();
  const store = await openStore(t, dataDir);
  await store.add(record('alpha'));
  fs.rmSync(path.join(dataDir, 'nodes.json'));
  t.same(await store.list(), []);
  const queued = store.add(record('beta'));
  await Promise.all([store.destroy(), store.destroy(), store.close()]);
  await t.rejects(queued, { code: 'PRX_ERR_SERVER_DRAINING' }, 'destroy fails what is still queued');
  await t.rejects(store.add(record('gamma')), { code: 'PRX_ERR_SERVER_DRAINING' });

  const other = await openStore(t, t.testdir());
  const pending = other.add(record('alpha'));
  await other.destroy(new Error('boom'));
  await t.rejects(pending, { message: 'boom' }, 'with the error given');
});
