import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import t from 'tap';
import { JsonPresenceStore, readPresence } from '../../../src/server/presence/json-presence-store.js';
import { leaseLiveAt, nodeStatuses } from '../../../src/server/presence/node-status.js';
import type { NodePresence } from '../../../src/server/presence/presence-store.js';
import type { NodeRecord } from '../../../src/server/registry/node-store.js';

function row(name: string, instance: string, at = new Date()): NodePresence {
  return {
    name,
    instance,
    connectedAt: at.toISOString(),
    lastSeenAt: at.toISOString(),
    address: '203.0.113.7',
    clientVersion: '0.1.0',
    services: [{ name: 'ollama', kind: 'ollama', models: ['llama3.2'], maxConcurrent: 2 }],
  };
}

function record(name: string, lastSeenAt: string | null = null): NodeRecord {
  return { name, keyId: `k-${name}`, createdAt: '2025-01-01T00:00:00.000Z', lastSeenAt, services: ['web'] } as NodeRecord;
}

t.test('heartbeats of many nodes cost no writes of their own: the lease renewal carries them', async (t) => {
  const dataDir = t.testdir();
  const store = await JsonPresenceStore.open({ dataDir, leaseIntervalMs: 200, writeDelayMs: 50 });
  t.teardown(() => store.close());
  t.equal(store.writes, 1, 'a first file at open');
  for (let i = 0; i < 100; i++) store.put(row(`node-${i}`, store.instance));
  const started = Date.now();
  let beats = 0;
  let last = new Date();
  // 50 rounds of a heartbeat from each node, 20 ms apart: about a second.
  for (let round = 0; round < 50; round++) {
    last = new Date();
    for (let i = 0; i < 100; i++) store.seen(`node-${i}`, last);
    beats += 100;
    await delay(20);
  }
  const elapsed = Date.now() - started;
  await store.flush();
  const writes = store.writes;
  // The open, one write for the burst of 100 connects, one per lease interval, and the flush.
  t.ok(writes <= 3 + Math.ceil(elapsed / 200), `${writes} writes in ${elapsed} ms for ${beats} heartbeats`);
  const file = await readPresence(dataDir);
  t.equal(file!.nodes.length, 100);
  t.equal(file!.nodes[0]!.lastSeenAt, last.toISOString(), 'the file has the latest heartbeat');
  t.equal(file!.leases[0]!.instance, store.instance);
  t.equal(file!.leases[0]!.pid, process.pid);
});

t.test('connects and leaves are coalesced; close leaves a stopped lease and no nodes', async (t) => {
  const dataDir = t.testdir();
  const store = await JsonPresenceStore.open({ dataDir, leaseIntervalMs: 60_000, writeDelayMs: 100 });
  store.put(row('alpha', store.instance));
  store.put(row('beta', store.instance));
  store.remove('beta');
  t.equal(store.writes, 1, 'nothing written at once');
  for (let i = 0; i < 200 && store.writes < 2; i++) await delay(10);
  t.equal(store.writes, 2, 'one write for the three changes');
  t.same(
    (await readPresence(dataDir))!.nodes.map((n) => n.name),
    ['alpha'],
  );
  await store.close();
  await store.close();
  const file = (await readPresence(dataDir))!;
  t.same(file.nodes, []);
  t.match(file.leases[0], { stoppedAt: /^\d{4}-/ });
  t.same(
    fs.readdirSync(dataDir).filter((f) => f.includes('presence')),
    ['presence.json'],
    'no temp file left',
  );
});

t.test('a node is online only while its lease is renewed, not stopped, and its process runs', async (t) => {
  const now = Date.parse('2026-01-01T00:00:10.000Z');
  const lease = {
    instance: 'i1',
    pid: process.pid,
    host: (await import('node:os')).hostname(),
    startedAt: '2026-01-01T00:00:00.000Z',
    leaseIntervalMs: 1_000,
  };
  const nodes = [row('alpha', 'i1', new Date('2026-01-01T00:00:09.000Z'))];
  const records = [record('alpha', '2025-12-31T00:00:00.000Z'), record('beta')];
  const at = (updatedAt: string, extra = {}) =>
    nodeStatuses(records, { leases: [{ ...lease, updatedAt, ...extra }], nodes }, leaseLiveAt(now));

  const fresh = at('2026-01-01T00:00:08.000Z');
  t.match(fresh[0], {
    name: 'alpha',
    online: true,
    address: '203.0.113.7',
    clientVersion: '0.1.0',
    services: ['ollama'],
    models: ['llama3.2'],
    lastSeenAt: '2026-01-01T00:00:09.000Z',
  });
  t.match(fresh[1], { name: 'beta', online: false, lastSeenAt: null, services: ['web'], models: [] });
  t.match(at('2026-01-01T00:00:07.000Z')[0], { online: true }, '3 intervals old: still live');
  t.match(
    at('2026-01-01T00:00:06.900Z')[0],
    { online: false, address: null, lastSeenAt: '2026-01-01T00:00:09.000Z' },
    'older: stale, but last seen kept',
  );
  t.match(at('2026-01-01T00:00:09.000Z', { stoppedAt: '2026-01-01T00:00:09.500Z' })[0], { online: false }, 'stopped');
  t.match(at('2026-01-01T00:00:09.000Z', { pid: 2 ** 22 + 12345 })[0], { online: false }, 'its pid is gone');
  t.match(
    at('2026-01-01T00:00:09.000Z', { pid: 2 ** 22 + 12345, host: 'elsewhere' })[0],
    { online: true },
    'another host: the age decides',
  );
});

t.test('a presence file that is not one is PRX_ERR_STORE_CORRUPT; none at all is undefined', async (t) => {
  const dataDir = t.testdir();
  t.equal(await readPresence(dataDir), undefined);
  fs.writeFileSync(path.join(dataDir, 'presence.json'), '{"leases": 3}');
  await t.rejects(readPresence(dataDir), { code: 'PRX_ERR_STORE_CORRUPT' });
  fs.writeFileSync(path.join(dataDir, 'presence.json'), '{"lea');
  await t.rejects(readPresence(dataDir), { code: 'PRX_ERR_STORE_CORRUPT' });
  const good = row('alpha', 'i1');
  fs.writeFileSync(
    path.join(dataDir, 'presence.json'),
    JSON.stringify({ leases: [{ instance: 'i1', pid: 0 }], nodes: [{ name: 7 }, { ...good, services: 'web' }, good] }),
  );
  t.same(await readPresence(dataDir), { leases: [], nodes: [good] }, 'entries of another shape are left out');
});

t.test('a temp file a killed server left behind is swept at open', async (t) => {
  const dataDir = t.testdir({ '.presence.json.999999999.abcd1234.tmp': '{"half' });
  const store = await JsonPresenceStore.open({ dataDir, leaseIntervalMs: 60_000, writeDelayMs: 100 });
  t.teardown(() => store.close());
  t.same(fs.readdirSync(dataDir), ['presence.json']);
});
