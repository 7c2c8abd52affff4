import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { silentLogger } from '../../../src/log.js';
import { JsonKeyStore } from '../../../src/server/keys/json-key-store.js';
import { createKeysApi } from '../../../src/server/keys/keys-api.js';

const ADMIN = 'admin-token-for-tests';

/** A real HTTP server on 127.0.0.1:0 serving /keys over a fresh store. */
async function serve(t: Test, adminToken: string | null = ADMIN): Promise<{ url: string; store: JsonKeyStore }> {
  const store = await JsonKeyStore.open({ dataDir: t.testdir(), watch: false, pollIntervalMs: 0 });
  t.teardown(() => store.close());
  const part = createKeysApi({
    store,
    adminToken: adminToken ?? undefined,
    configuredIds: ['ops'],
    now: () => Date.UTC(2026, 11, 7),
    logger: silentLogger,
  });
  const server = http.createServer((req, res) => {
    void part(req, res, '127.0.0.1').then((handled) => {
      if (!handled) res.writeHead(404).end('not ours');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, store };
}

const send = (url: string, method: string, body?: unknown, token = ADMIN): Promise<Response> =>
  fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

t.test('add, list, change and revoke over HTTP; the key only in the answer of POST', async (t) => {
  const { url, store } = await serve(t);
  const created = await send(`${url}/keys`, 'POST', { name: 'bob', tokensPerMinute: 500, models: ['llama3.2'], nodes: ['beta'] });
  t.equal(created.status, 201);
  const bob = (await created.json()) as Record<string, unknown>;
  t.same(Object.keys(bob).sort(), [
    'budget',
    'createdAt',
    'id',
    'key',
    'models',
    'name',
    'nodes',
    'requestsPerMinute',
    'revokedAt',
    'tokensPerMinute',
  ]);
  t.match(bob, { name: 'bob', key: /^prx-/, models: ['llama3.2:latest'], createdAt: '2026-12-07T00:00:00.000Z' });
  t.equal(created.headers.get('location'), `/keys/${bob.id}`);
  t.equal(created.headers.get('cache-control'), 'no-store');
  t.equal((await store.list())[0]!.name, 'bob', 'durable before the answer');

  const patched = await send(`${url}/keys/bob`, 'PATCH', { budget: { credits: 5, per: 'month' }, models: null });
  t.match(await patched.json(), { id: bob.id, budget: { credits: 5, per: 'month' }, models: null, tokensPerMinute: 500 });
  const listed = (await (await send(`${url}/keys`, 'GET')).json()) as { keys: Record<string, unknown>[] };
  t.equal(listed.keys.length, 1);
  t.notOk('sha256' in listed.keys[0]! || 'key' in listed.keys[0]!, 'neither the key nor its digest is listed');
  const revoked = await send(`${url}/keys/${bob.id}`, 'DELETE');
  t.match(await revoked.json(), { name: 'bob', revokedAt: '2026-12-07T00:00:00.000Z' });
  t.equal((await send(`${url}/keys/bob`, 'DELETE')).status, 404, 'a revoked key has no name to be found by');
});

t.test('refusals: credentials, bad values, taken names, unknown keys, methods', async (t) => {
  const { url } = await serve(t);
  const code = async (res: Promise<Response>): Promise<[number, string]> => {
    const r = await res;
    return [r.status, ((await r.json()) as { error: { code: string } }).error.code];
  };
  t.same(await code(send(`${url}/keys`, 'GET', undefined, 'wrong-token-000000000')), [401, 'PRX_ERR_UNAUTHORIZED']);
  t.same(await code(fetch(`${url}/keys`)), [401, 'PRX_ERR_UNAUTHORIZED']);
  t.same(await code(send(`${url}/keys`, 'POST', { tokensPerMinute: 5 })), [400, 'PRX_ERR_HTTP_BAD_REQUEST']);
  t.same(await code(send(`${url}/keys`, 'POST', { name: 'x', budget: { credits: 1, per: 'week' } })), [400, 'PRX_ERR_HTTP_BAD_REQUEST']);
  t.same(await code(send(`${url}/keys`, 'POST', { name: 'ops' })), [409, 'PRX_ERR_NAME_TAKEN'], "a server.yaml key's id");
  t.same(await code(send(`${url}/keys/ghost`, 'PATCH', { tokensPerMinute: 5 })), [404, 'PRX_ERR_KEY_NOT_FOUND']);
  t.same(await code(send(`${url}/keys/a/b`, 'DELETE')), [404, 'PRX_ERR_HTTP_NOT_FOUND']);
  const wrong = await send(`${url}/keys`, 'DELETE');
  t.same([wrong.status, wrong.headers.get('allow')], [405, 'GET, POST']);
  t.equal((await fetch(`${url}/keysmith`)).status, 404, 'not a path of ours');
  t.equal(await (await fetch(`${url}/keysmith`)).text(), 'not ours');
});

t.test('without an admin token, /keys is off', async (t) => {
  const { url } = await serve(t, null);
  const res = await send(`${url}/keys`, 'GET');
  t.equal(res.status, 403);
  t.match(await res.json(), { error: { code: 'PRX_ERR_FORBIDDEN', message: /use "proxima-server keys"/ } });
});
