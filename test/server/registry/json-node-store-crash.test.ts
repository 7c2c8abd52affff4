import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { isKeyId } from '../../../src/proto/control/auth.js';
import { JsonNodeStore } from '../../../src/server/registry/json-node-store.js';
import { runFixture, stopFixture } from '../../fixtures/processes/child-lines.js';

const ACKS_BEFORE_KILL = 300;

t.test('SIGKILL in the middle of 1,000 registrations loses no acknowledged one', async (t) => {
  const dataDir = t.testdir();
  const acked: string[] = [];
  const writer = runFixture('registry-writer.js', ['register', dataDir, 'n', '1000', '25'], (line) => {
    if (line.startsWith('ack ')) acked.push(line.slice(4));
    if (acked.length === ACKS_BEFORE_KILL) writer.child.kill('SIGKILL');
  });
  t.teardown(() => stopFixture(writer));
  const { signal } = await writer.exited;
  t.equal(signal, 'SIGKILL', 'the writer was killed, not finished');
  t.notOk(writer.lines.includes('done'), 'killed before it finished');
  t.ok(acked.length >= ACKS_BEFORE_KILL && acked.length < 1000, `${acked.length} acknowledged before the kill`);

  const text = fs.readFileSync(path.join(dataDir, 'nodes.json'), 'utf8');
  const doc = JSON.parse(text) as { version: number; nodes: Record<string, { name: string; keyId: string }> };
  t.equal(doc.version, 1);
  const missing = acked.filter((name) => !isKeyId(doc.nodes[name]?.keyId) || doc.nodes[name]!.name !== name);
  t.same(missing, [], 'every acknowledged name is in the file with a valid key id');
  t.comment(`${acked.length} acked, ${Object.keys(doc.nodes).length} in the file`);

  // The writer may have died holding the lock: a new writer takes the stale lock over.
  const store = await JsonNodeStore.open({ dataDir, watch: false, pollIntervalMs: 0, lockWaitMs: 2_000 });
  t.teardown(() => store.close());
  t.equal((await store.list()).length, Object.keys(doc.nodes).length);
  await store.add({ name: 'after-crash', keyId: '0123456789abcdef', createdAt: new Date().toISOString(), lastSeenAt: null, services: [] });
  t.ok(await store.get('after-crash'));
  t.same(
    fs.readdirSync(dataDir).filter((f) => f.endsWith('.tmp')),
    [],
    'temp files of the killed writer are swept',
  );
});

t.test('two processes writing one store at once lose nothing', async (t) => {
  const dataDir = t.testdir();
  const store = await JsonNodeStore.open({ dataDir, watch: false, pollIntervalMs: 0 });
  t.teardown(() => store.close());
  const writer = runFixture('registry-writer.js', ['register', dataDir, 'child', '200', '10']);
  t.teardown(() => stopFixture(writer));
  await writer.waitForLine((line) => line.startsWith('ack '));
  const mine = Array.from({ length: 200 }, (_, i) => `parent-${i}`);
  for (let i = 0; i < mine.length; i += 10) {
    await Promise.all(
      mine
        .slice(i, i + 10)
        .map((name) => store.add({ name, keyId: '0123456789abcdef', createdAt: new Date().toISOString(), lastSeenAt: null, services: [] })),
    );
  }
  const { code } = await writer.exited;
  t.equal(code, 0, 'the child finished');
  const fresh = await JsonNodeStore.open({ dataDir, watch: false, pollIntervalMs: 0 });
  t.teardown(() => fresh.close());
  const names = new Set((await fresh.list()).map((r) => r.name));
  t.equal(names.size, 400);
  t.same(
    [...mine, ...Array.from({ length: 200 }, (_, i) => `child-${i}`)].filter((n) => !names.has(n)),
    [],
    'no write was lost',
  );
});
