/**
 * Two in-process super nodes, each with its own data folder, sharing their registry, API keys and
 * canary passes in one PostgreSQL database: a node registered at one logs in at the other, a
 * revocation or rotation at either closes the live session wherever it is (timed), a key added at
 * one is accepted by the other, and /readyz reports the store.
 */
import t, { type Test } from 'tap';
import { silentLogger } from '../../../../src/log.js';
import { startAdminListener } from '../../../../src/server/admin/admin-listener.js';
import { openNodeStream } from '../../../../src/server/control/node-stream.js';
import { makeKey } from '../../../../src/server/keys/key-record.js';
import { startPublicListener } from '../../../../src/server/public/public-listener.js';
import { ProximaServer } from '../../../../src/server/server.js';
import { openSharedStore, type SharedStore } from '../../../../src/server/storage/postgres/shared-store.js';
import { POSTGRES_SKIP, startPostgres, type TestPostgres } from '../../../fixtures/postgres.js';
import { connectNode, online, tempDir, testServerConfig } from '../../../fixtures/stacks/control-plane.js';
import { within } from '../../../fixtures/store-helpers.js';

const skip = POSTGRES_SKIP;
const cluster: TestPostgres | undefined = skip === false ? await startPostgres(t) : undefined;
const TEST_KEY = 'sk-proxima-test-0123456789';
let databases = 0;

interface Instance {
  server: ProximaServer;
  shared: SharedStore;
  api: string;
  admin: string;
}

/** Two instances on one fresh database; torn down servers first, then their stores. */
async function twoInstances(t: Test, on = cluster!): Promise<[Instance, Instance]> {
  const url = await on.createDatabase(`shared_${++databases}`);
  const instances: Instance[] = [];
  t.teardown(async () => {
    for (const i of instances) await i.server.destroy();
    for (const i of instances) await i.shared.close();
  });
  for (const name of ['i-a', 'i-b']) {
    const shared = await openSharedStore(url, { logger: silentLogger, instance: name, pollIntervalMs: 500 });
    const dataDir = tempDir(t);
    const config = testServerConfig(dataDir, {
      domain: 'proxima.test',
      api: { keys: [{ id: 'tester', key: TEST_KEY }] },
      admin: { listen: '127.0.0.1:0' },
      rewards: { canaryShare: 0, newNodeCanaryShare: 0 },
    });
    try {
      const server = await ProximaServer.start({
        config,
        openStream: openNodeStream,
        publicListener: startPublicListener,
        adminListener: startAdminListener,
        shared,
      });
      instances.push({
        server,
        shared,
        api: `http://127.0.0.1:${server.httpAddress()!.port}`,
        admin: `http://127.0.0.1:${server.adminAddress()!.port}`,
      });
    } catch (err) {
      await shared.close();
      throw err;
    }
  }
  return [instances[0]!, instances[1]!];
}

/** How long `action` takes to close `connection`, in ms; fails past 5 s. */
async function msToClose(connection: { closed: Promise<unknown> }, action: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await action();
  await within(connection.closed, 5_000, 'the session closed');
  return performance.now() - started;
}

t.test('registered at one instance, online at the other; revoked or rotated anywhere, closed within 1 s', { skip }, async (t) => {
  const [a, b] = await twoInstances(t);
  const one = await a.server.registry.add('gpu-one');
  const two = await b.server.registry.add('gpu-two');
  t.equal(one.token.length > 0 && two.token.length > 0, true);

  // Each logs in at the instance it was not registered at, straight after the add.
  const atB = await connectNode(t, b.server, 'gpu-one', { token: one.token });
  const atA = await connectNode(t, a.server, 'gpu-two', { token: two.token });
  await online(b.server, 'gpu-one');
  await online(a.server, 'gpu-two');

  const revokeMs = await msToClose(atA, () => b.server.registry.revoke('gpu-two'));
  t.ok(revokeMs < 1000, `revoked at B, the session at A closed in ${revokeMs.toFixed(0)} ms`);
  const rotateMs = await msToClose(atB, () => a.server.registry.rotate('gpu-one'));
  t.ok(rotateMs < 1000, `rotated at A, the session at B closed in ${rotateMs.toFixed(0)} ms`);
  t.comment(`revoke -> closed elsewhere: ${revokeMs.toFixed(1)} ms; rotate -> closed elsewhere: ${rotateMs.toFixed(1)} ms`);

  await t.rejects(
    connectNode(t, a.server, 'gpu-one', { token: one.token }),
    { code: 'PRX_ERR_AUTH_FAILED' },
    'the old token no longer works anywhere',
  );
  t.same(
    (await a.server.registry.list()).map((r) => r.name),
    ['gpu-one'],
    'the registry is one for both',
  );
  t.same(
    (await b.server.registry.list()).map((r) => r.name),
    ['gpu-one'],
  );
});

t.test('an API key added at one instance is accepted at the other; revoked there, refused here', { skip }, async (t) => {
  const [a, b] = await twoInstances(t);
  const { record, key } = makeKey('alice', {}, new Date());
  const ownKey = (base: string): Promise<number> =>
    fetch(`${base}/v1/key`, { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status);
  t.equal(await ownKey(b.api), 401, 'unknown before');
  await a.server.keys.add(record);
  await within(
    (async () => {
      while (!b.server.keys.current.some((k) => k.id === record.id)) await new Promise((r) => b.server.keys.once('change', r));
    })(),
    1_000,
    'the key at B',
  );
  t.equal(await ownKey(b.api), 200, 'accepted at B');
  await b.server.keys.revoke('alice', new Date());
  await within(
    (async () => {
      while (a.server.keys.current.find((k) => k.id === record.id)?.revokedAt === null)
        await new Promise((r) => a.server.keys.once('change', r));
    })(),
    1_000,
    'the revocation at A',
  );
  t.equal(await ownKey(a.api), 401, 'refused at A');
});

t.test('/readyz: the store is ready while PostgreSQL answers', { skip }, async (t) => {
  const [a] = await twoInstances(t);
  const res = await fetch(`${a.admin}/readyz`);
  t.equal(res.status, 200);
  t.match(await res.json(), { status: 'ready', checks: { store: 'ok' } });
});

t.test('PostgreSQL stopped: /readyz is 503 naming the store (redacted); held nodes stay, known nodes still log in', { skip }, async (t) => {
  const own = await startPostgres(t);
  const [a] = await twoInstances(t, own);
  const held = await a.server.registry.add('held');
  const again = await a.server.registry.add('again');
  await connectNode(t, a.server, 'held', { token: held.token });
  await online(a.server, 'held');
  await own.stop();
  let body: { status: string; checks: Record<string, string> } | undefined;
  let status = 0;
  await within(
    (async () => {
      // The last answer stands for a second; then the next probe asks again and fails.
      for (;;) {
        const res = await fetch(`${a.admin}/readyz`);
        status = res.status;
        body = (await res.json()) as typeof body;
        if (status === 503) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    })(),
    5_000,
    '/readyz 503',
  );
  t.equal(status, 503);
  t.match(body!.checks.store, `the shared store did not answer (PostgreSQL at postgres://postgres:***@127.0.0.1:${own.port}/`);
  t.notMatch(JSON.stringify(body), own.password, 'no password');
  t.ok(a.server.nodes.live('held'), 'the node it holds is still online');
  await connectNode(t, a.server, 'again', { token: again.token });
  await online(a.server, 'again');
  t.pass('a node registered before the outage logs in from the last known registry');
});
