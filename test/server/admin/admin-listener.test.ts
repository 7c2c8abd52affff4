/**
 * The admin listener of a real ProximaServer over real sockets: /healthz, /readyz (ready, draining,
 * a ledger whose writes fail), HEAD, methods, unknown paths.
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { startAdminListener } from '../../../src/server/admin/admin-listener.js';
import type { PublicListenerFactory } from '../../../src/server/public/public-listener.js';
import type { ProximaServer } from '../../../src/server/server.js';
import { startServer, tempDir, testServerConfig } from '../../fixtures/stacks/control-plane.js';

const ADMIN_LISTEN = { admin: { listen: '127.0.0.1:0' } };

async function withAdmin(
  t: Test,
  extra: Partial<Parameters<typeof startServer>[1]> = {},
  dataDir = tempDir(t),
): Promise<{ server: ProximaServer; base: string }> {
  const server = await startServer(t, {
    dataDir,
    config: testServerConfig(dataDir, ADMIN_LISTEN),
    adminListener: startAdminListener,
    ...extra,
  });
  const address = server.adminAddress();
  if (address === undefined) throw new Error('no admin listener');
  return { server, base: `http://127.0.0.1:${address.port}` };
}

async function get(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) };
}

t.test('without the factory there is no admin listener (library use)', async (t) => {
  const dataDir = tempDir(t);
  const server = await startServer(t, { dataDir, config: testServerConfig(dataDir, ADMIN_LISTEN) });
  t.equal(server.adminAddress(), undefined);
});

t.test('admin.listen: false starts none, even with the factory', async (t) => {
  const dataDir = tempDir(t);
  const server = await startServer(t, {
    dataDir,
    config: testServerConfig(dataDir, { admin: { listen: false } }),
    adminListener: startAdminListener,
  });
  t.equal(server.adminAddress(), undefined);
});

t.test('/healthz and /readyz answer GET and HEAD; other methods 405; other paths 404 in JSON', async (t) => {
  const { base } = await withAdmin(t);
  const health = await get(`${base}/healthz`);
  t.same([health.status, health.body], [200, { status: 'ok' }]);
  t.equal(health.headers.get('content-type'), 'application/json; charset=utf-8');
  const head = await fetch(`${base}/healthz`, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(await head.text(), '', 'HEAD has no body');
  t.equal(head.headers.get('content-length'), String(JSON.stringify({ status: 'ok' }).length), 'but the length of the GET');
  const ready = await get(`${base}/readyz`);
  t.same([ready.status, ready.body], [200, { status: 'ready', checks: { listeners: 'ok', draining: 'ok', store: 'ok', ledger: 'ok' } }]);
  t.equal((await fetch(`${base}/readyz?verbose=1`, { method: 'HEAD' })).status, 200);
  const post = await get(`${base}/healthz`, { method: 'POST', body: 'x' });
  t.same([post.status, post.body], [405, { error: { code: 'PRX_ERR_HTTP_METHOD_NOT_ALLOWED', message: '/healthz answers GET and HEAD' } }]);
  t.equal(post.headers.get('allow'), 'GET, HEAD');
  const missing = await get(`${base}/v1/models`);
  t.same(
    [missing.status, missing.body],
    [404, { error: { code: 'PRX_ERR_HTTP_NOT_FOUND', message: 'nothing here: /v1/models' } }],
    'the API is not on the admin port',
  );
});

t.test('/readyz is 503 while the server drains, and the admin listener closes last', async (t) => {
  let release = (): void => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  // A public listener whose drain the test holds open.
  const slowPublic: PublicListenerFactory = async () => ({
    address: () => ({ host: '127.0.0.1', port: 1 }),
    close: () => held,
    destroy: async () => release(),
  });
  const { server, base } = await withAdmin(t, { publicListener: slowPublic });
  t.equal((await get(`${base}/readyz`)).status, 200);
  const closing = server.close();
  const draining = await get(`${base}/readyz`);
  t.equal(draining.status, 503);
  t.match(draining.body, { status: 'unavailable', checks: { draining: 'the super node is draining', store: 'ok', ledger: 'ok' } });
  t.equal((await get(`${base}/healthz`)).status, 200, 'the process still answers');
  release();
  await closing;
  await t.rejects(fetch(`${base}/healthz`), 'closed once the server is');
});

t.test('/readyz is 503 naming the ledger when it cannot take records', async (t) => {
  // A write that fails sets the same state (ledger-writer.test.ts, on /dev/full); the server cannot
  // start on /dev/full: its start reads the ledger back, and /dev/full reads as endless zeros.
  const { server, base } = await withAdmin(t);
  t.equal((await get(`${base}/readyz`)).status, 200);
  await server.ledger.destroy(new Error('test'));
  const ready = await get(`${base}/readyz`);
  t.equal(ready.status, 503);
  t.match(ready.body, { status: 'unavailable', checks: { ledger: 'the ledger is closed', store: 'ok', draining: 'ok' } });
});

t.test('/readyz is 503 naming the store when the registry file is corrupt', async (t) => {
  const dataDir = tempDir(t);
  const { server, base } = await withAdmin(t, {}, dataDir);
  server.on('error', () => undefined);
  fs.writeFileSync(path.join(dataDir, 'nodes.json'), '{ not json');
  const ready = await get(`${base}/readyz`);
  t.equal(ready.status, 503);
  t.match(ready.body, { checks: { store: 'PRX_ERR_STORE_CORRUPT', ledger: 'ok' } });
});
