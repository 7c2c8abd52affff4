import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import t, { type Test } from 'tap';
import { parseToken } from '../../../src/proto/control/auth.js';
import { createNodesApi, type NodesApiOptions } from '../../../src/server/registry/nodes-api.js';
import { openRegistry } from '../../../src/server/registry/open-registry.js';
import type { Registry } from '../../../src/server/registry/registry.js';

const ADMIN = 'admin-token-for-tests';

interface Api {
  url: string;
  registry: Registry;
  clock: { nowMs: number };
  port: number;
}

/** A real HTTP server on 127.0.0.1:0 serving the nodes API; `x-test-client` stands in for distinct client addresses. */
async function serve(t: Test, options: Partial<NodesApiOptions> = {}): Promise<Api> {
  const registry = await openRegistry({ dataDir: t.testdir(), watch: false, pollIntervalMs: 0 });
  t.teardown(() => registry.close());
  const clock = { nowMs: 0 };
  const handle = createNodesApi({ registry, mode: 'open', adminToken: ADMIN, openRatePerMinute: 100, now: () => clock.nowMs, ...options });
  const server = http.createServer((req, res) => {
    const client = (req.headers['x-test-client'] as string | undefined) ?? req.socket.remoteAddress ?? '';
    void handle(req, res, client).then((handled) => {
      if (!handled) res.writeHead(404).end('not ours');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, registry, clock, port };
}

const admin = { authorization: `Bearer ${ADMIN}` };
const json = { 'content-type': 'application/json' };

async function post(api: Api, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${api.url}/nodes`, { method: 'POST', headers: { ...json, ...headers }, body });
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

t.test('open mode: POST registers, admins list and delete', async (t) => {
  const api = await serve(t);
  const res = await post(api, '{"name":"alpha"}');
  t.equal(res.status, 201);
  t.equal(res.headers.get('cache-control'), 'no-store');
  const created = (await res.json()) as Record<string, string>;
  t.same(Object.keys(created).sort(), ['createdAt', 'keyId', 'name', 'token']);
  t.equal(created.name, 'alpha');
  t.equal(parseToken(created.token).keyId, created.keyId);
  t.equal((await api.registry.get('alpha'))!.keyId, created.keyId);

  const list = await fetch(`${api.url}/nodes`, { headers: admin });
  t.equal(list.status, 200);
  const listed = (await list.json()) as { nodes: Record<string, unknown>[] };
  t.same(listed, { nodes: [{ name: 'alpha', keyId: created.keyId, createdAt: created.createdAt, lastSeenAt: null, services: [] }] });
  t.notOk(JSON.stringify(listed).includes('prx_'), 'no token in the list');

  const del = await fetch(`${api.url}/nodes/alpha`, { method: 'DELETE', headers: admin });
  t.equal(del.status, 204);
  t.equal(await del.text(), '');
  t.equal(await api.registry.get('alpha'), undefined);
  const again = await fetch(`${api.url}/nodes/alpha`, { method: 'DELETE', headers: admin });
  t.equal(again.status, 404);
  t.equal(await errorCode(again), 'PRX_ERR_NODE_NOT_FOUND');
});

t.test('bad requests get 400, 409 and 405 with their codes', async (t) => {
  const api = await serve(t);
  const cases: [string, number, string][] = [
    ['{"name":', 400, 'PRX_ERR_HTTP_BAD_REQUEST'],
    ['', 400, 'PRX_ERR_HTTP_BAD_REQUEST'],
    ['{}', 400, 'PRX_ERR_NAME_INVALID'],
    ['"alpha"', 400, 'PRX_ERR_NAME_INVALID'],
    ['{"name":"Not A Label"}', 400, 'PRX_ERR_NAME_INVALID'],
    ['{"name":"api"}', 400, 'PRX_ERR_NAME_RESERVED'],
  ];
  for (const [body, status, code] of cases) {
    const res = await post(api, body);
    t.equal(res.status, status, body);
    t.equal(await errorCode(res), code, body);
  }
  t.equal((await post(api, '{"name":"alpha"}')).status, 201);
  const taken = await post(api, '{"name":"alpha"}');
  t.equal(taken.status, 409);
  t.equal(await errorCode(taken), 'PRX_ERR_NAME_TAKEN');

  const put = await fetch(`${api.url}/nodes`, { method: 'PUT', headers: admin });
  t.equal(put.status, 405);
  t.equal(put.headers.get('allow'), 'GET, POST');
  t.equal(await errorCode(put), 'PRX_ERR_HTTP_METHOD_NOT_ALLOWED');
  const getOne = await fetch(`${api.url}/nodes/alpha`, { headers: admin });
  t.equal(getOne.status, 405);
  t.equal(getOne.headers.get('allow'), 'DELETE');
  const badEscape = await fetch(`${api.url}/nodes/%E0%A4%A`, { method: 'DELETE', headers: admin });
  t.equal(badEscape.status, 400);

  const notOurs = await fetch(`${api.url}/nodes/alpha/usage`, { headers: admin });
  t.equal(await notOurs.text(), 'not ours', 'deeper paths are left to other handlers');
  t.equal(await (await fetch(`${api.url}/v1/models`)).text(), 'not ours');
});

t.test('admin credentials: 401 for missing or wrong, 403 for POST in admin mode', async (t) => {
  const api = await serve(t, { mode: 'admin' });
  const anonymous = await post(api, '{"name":"alpha"}');
  t.equal(anonymous.status, 403);
  t.equal(await errorCode(anonymous), 'PRX_ERR_FORBIDDEN');
  for (const authorization of [`Bearer ${ADMIN}x`, `Bearer ${ADMIN.slice(0, -1)}`, 'Bearer', `Basic ${ADMIN}`, ADMIN]) {
    const res = await post(api, '{"name":"alpha"}', { authorization });
    t.equal(res.status, 401, authorization);
    t.equal(await errorCode(res), 'PRX_ERR_UNAUTHORIZED');
  }
  t.equal((await post(api, '{"name":"alpha"}', admin)).status, 201);
  for (const [method, path] of [
    ['GET', '/nodes'],
    ['DELETE', '/nodes/alpha'],
  ]) {
    for (const headers of [{}, { authorization: 'Bearer nope' }] as Record<string, string>[]) {
      const res = await fetch(`${api.url}${path}`, { method, headers });
      t.equal(res.status, 401, `${method} ${path}`);
      t.equal(await errorCode(res), 'PRX_ERR_UNAUTHORIZED');
    }
  }
  t.ok(await api.registry.get('alpha'), 'nothing was deleted');
  t.throws(() => createNodesApi({ registry: api.registry, mode: 'admin' }), { code: 'PRX_ERR_CONFIG_INVALID' });
});

t.test('open mode without an admin token: nobody lists or deletes', async (t) => {
  const api = await serve(t, { adminToken: undefined });
  t.equal((await post(api, '{"name":"alpha"}')).status, 201);
  t.equal((await fetch(`${api.url}/nodes`)).status, 401);
  t.equal((await fetch(`${api.url}/nodes`, { headers: { authorization: 'Bearer ' } })).status, 401);
  t.equal((await fetch(`${api.url}/nodes/alpha`, { method: 'DELETE', headers: admin })).status, 401);
});

t.test('open registration is rate limited per client address, with Retry-After', async (t) => {
  const api = await serve(t, { openRatePerMinute: 2 });
  const from = (client: string, name: string): Promise<Response> => post(api, JSON.stringify({ name }), { 'x-test-client': client });
  t.equal((await from('10.0.0.1', 'a1')).status, 201);
  t.equal((await from('10.0.0.1', 'a2')).status, 201);
  const limited = await from('10.0.0.1', 'a3');
  t.equal(limited.status, 429);
  t.equal(limited.headers.get('retry-after'), '30');
  t.equal(await errorCode(limited), 'PRX_ERR_RATE_LIMITED');
  t.equal(await api.registry.get('a3'), undefined, 'a limited request registers nothing');
  t.equal((await from('10.0.0.2', 'b1')).status, 201, 'another address is not limited');
  t.equal((await post(api, '{"name":"c1"}', { 'x-test-client': '10.0.0.1', ...admin })).status, 201, 'admins are not limited');
  api.clock.nowMs += 30_000;
  t.equal((await from('10.0.0.1', 'a3')).status, 201, 'allowed again once the bucket refilled');
});

t.test('bodies are capped in size (413) and time (408)', async (t) => {
  const api = await serve(t, { bodyTimeoutMs: 200 });
  const big = JSON.stringify({ name: 'alpha', pad: 'x'.repeat(5_000) });
  const declared = await post(api, big);
  t.equal(declared.status, 413);
  t.equal(await errorCode(declared), 'PRX_ERR_HTTP_BODY_TOO_LARGE');
  const streamed = await fetch(`${api.url}/nodes`, {
    method: 'POST',
    headers: json,
    body: new ReadableStream({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(1_000)));
        controller.close();
      },
    }),
    duplex: 'half',
  } as RequestInit);
  t.equal(streamed.status, 413, 'a chunked body without a length is cut off too');
  t.equal(await api.registry.get('alpha'), undefined);

  const socket = net.connect(api.port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await once(socket, 'connect');
  socket.write('POST /nodes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"name":');
  let reply = '';
  socket.on('data', (chunk: Buffer) => (reply += chunk.toString()));
  await once(socket, 'end');
  t.match(reply, /^HTTP\/1\.1 408 /);
  t.match(reply, /PRX_ERR_HTTP_BODY_TIMEOUT/);
});
