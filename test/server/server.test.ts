import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t, { type Test } from 'tap';
import { ControlConnection } from '../../src/client/control-connection.js';
import { createLogger } from '../../src/log.js';
import type { MuxStream } from '../../src/mux/index.js';
import type { NodeSession } from '../../src/server/control/node-session.js';
import { ProximaServer } from '../../src/server/server.js';
import { request } from '../fixtures/ledger-records.js';
import {
  closedWithin,
  connectNode,
  httpListener,
  nextEvent,
  nodeOptions,
  online,
  register,
  startServer,
  tempDir,
  testServerConfig,
  unusedOpenStream,
} from '../fixtures/stacks/control-plane.js';
import { literal, within } from '../fixtures/store-helpers.js';
import { collect } from '../fixtures/wire/mux-pair.js';
import { rawConnect } from '../fixtures/wire/raw-control.js';

async function call(port: number, method: string, urlPath: string, body?: object, headers: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${urlPath}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as Record<string, any>) };
}

async function withApi(t: Test, extra: Record<string, unknown>) {
  const dataDir = tempDir(t);
  const server = await startServer(t, { dataDir, config: testServerConfig(dataDir, extra), publicListener: httpListener });
  return { server, port: server.httpAddress()!.port };
}

t.test('the API handler: /nodes registers in open mode; the token logs in; /v1 is the model API; other paths are 404', async (t) => {
  const { server, port } = await withApi(t, { registration: { mode: 'open' } });
  const created = await call(port, 'POST', '/nodes', { name: 'alpha' });
  t.equal(created.status, 201);
  t.match(created.body, { name: 'alpha', token: /^prx_/ });
  const connection = await ControlConnection.open(nodeOptions(server, 'alpha', { token: created.body!.token as string }));
  t.teardown(() => connection.destroy());
  t.equal(connection.welcome.publicUrl, `http://alpha.localhost:${port}`, 'the public URL carries the public port');
  t.match(
    await call(port, 'GET', '/v1/models'),
    { status: 401, body: { error: { code: 'invalid_api_key' } } },
    'the model API wants a key',
  );
  t.match(await call(port, 'GET', '/elsewhere'), { status: 404, body: { error: { code: 'PRX_ERR_HTTP_NOT_FOUND' } } });
  t.match(await call(port, 'GET', '/nodes'), { status: 401, body: { error: { code: 'PRX_ERR_UNAUTHORIZED' } } });
});

t.test('admin mode without an admin token: registration over HTTP is off (403); with one it needs it', async (t) => {
  const off = await withApi(t, {});
  t.match(await call(off.port, 'POST', '/nodes', { name: 'alpha' }), { status: 403, body: { error: { code: 'PRX_ERR_FORBIDDEN' } } });
  t.match(await call(off.port, 'GET', '/nodes/alpha'), { status: 403 });
  const adminToken = 'a'.repeat(32);
  const on = await withApi(t, { admin: { token: adminToken } });
  t.match(await call(on.port, 'POST', '/nodes', { name: 'alpha' }), { status: 403 });
  t.match(await call(on.port, 'POST', '/nodes', { name: 'alpha' }, { authorization: `Bearer ${adminToken}` }), { status: 201 });
});

t.test('a corrupt registry stops the start naming the file, and nothing is left listening', async (t) => {
  const dataDir = t.testdir({ 'nodes.json': '{"version":1,' });
  let listenerStarted = false;
  const err = await ProximaServer.start({
    config: testServerConfig(dataDir),
    openStream: unusedOpenStream,
    publicListener: async (context) => {
      listenerStarted = true;
      return httpListener(context);
    },
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.match(err, { code: 'PRX_ERR_STORE_CORRUPT', message: literal(path.join(dataDir, 'nodes.json')) });
  t.equal(listenerStarted, false);
  t.equal(fs.readFileSync(path.join(dataDir, 'nodes.json'), 'utf8'), '{"version":1,', 'left as it was');
});

t.test('a control port that is taken fails the start; what had started is closed', async (t) => {
  const taken = net.createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  t.teardown(() => taken.close());
  const dataDir = tempDir(t);
  const config = testServerConfig(dataDir, { control: { listen: `127.0.0.1:${(taken.address() as net.AddressInfo).port}` } });
  let publicClosed = false;
  const err = await ProximaServer.start({
    config,
    openStream: unusedOpenStream,
    publicListener: async (context) => {
      const listener = await httpListener(context);
      return {
        ...listener,
        destroy: async () => {
          publicClosed = true;
          await listener.destroy();
        },
      };
    },
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.match(err, { code: 'PRX_ERR_CONFIG_INVALID', cause: { code: 'EADDRINUSE' } });
  t.equal(publicClosed, true);
  t.notOk(fs.existsSync(path.join(dataDir, 'nodes.json.lock')), 'the registry was closed');
});

t.test('close() drains: handshakes refused, nodes told, streams finish, then everything is gone', async (t) => {
  const server = await startServer(t, { openStream: (session) => ({ stream: session.open(), opened: Promise.resolve() }) });
  const token = await register(server, 'alpha');
  const connection = await connectNode(t, server, 'alpha', { token, onStream: (s: MuxStream) => s.pipe(s) });
  const node = await online(server, 'alpha');
  const { stream } = node.openStream('web', { address: '203.0.113.1', port: 1, tls: false });
  const echoed = collect(stream);
  stream.write('first ');
  await once(stream, 'data');
  const pending = await rawConnect(t, server.controlAddress().port);
  const closing = server.close();
  t.equal(server.close(), closing, 'idempotent');
  await within(pending.closed, 5_000, 'the handshake in progress refused');
  t.equal(server.nodes.live('alpha'), undefined, 'no new streams to a draining node');
  stream.end('last');
  t.equal((await echoed).toString(), 'first last', 'the stream in flight finished');
  await closing;
  t.match(await closedWithin(connection, 1_000), { code: 'PRX_ERR_SERVER_DRAINING' });
  t.equal(server.nodes.size, 0);
  const refused = net.connect(server.controlAddress().port, '127.0.0.1');
  const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
  t.equal(err.code, 'ECONNREFUSED', 'the control port is closed');
  await server.destroy();
});

t.test('destroy() cuts nodes at once; a registry that goes corrupt is reported as an error', async (t) => {
  const dataDir = tempDir(t);
  const server = await startServer(t, { dataDir });
  const token = await register(server, 'alpha');
  const connection = await connectNode(t, server, 'alpha', { token });
  await online(server, 'alpha');
  const failed = nextEvent<Error>(server, 'error');
  fs.writeFileSync(path.join(dataDir, 'nodes.json'), 'garbage');
  t.match(await failed, { code: 'PRX_ERR_STORE_CORRUPT' });
  const gone = nextEvent<NodeSession>(server.nodes, 'closed');
  await server.destroy();
  await gone;
  t.ok(await closedWithin(connection, 1_000), 'the node saw its session end abnormally');
  t.equal(server.destroy(), server.destroy(), 'idempotent');
});

t.test('the ledger: handed to the public listener, written out on close, closed with the server', async (t) => {
  const dataDir = tempDir(t);
  let handed: unknown;
  const server = await startServer(t, {
    dataDir,
    publicListener: async (context) => {
      handed = context.ledger;
      return httpListener(context);
    },
  });
  t.equal(handed, server.ledger);
  const appended = server.ledger.append(request({ id: 'last-before-close' }));
  await server.close();
  await appended;
  t.match(
    fs.readFileSync(path.join(dataDir, 'ledger.ndjson'), 'utf8'),
    /"id":"last-before-close"/,
    'a record waiting for its batch is written on close',
  );
  await t.rejects(server.ledger.append(request()), { code: 'PRX_ERR_SERVER_DRAINING' });
});

t.test('ledger.flushIntervalMs is accepted from older files, has no effect, and the server says so', async (t) => {
  const dataDir = tempDir(t);
  const lines: { level: string; msg: string }[] = [];
  const logger = createLogger({ level: 'info', stream: { write: (line: string) => lines.push(JSON.parse(line)) > 0 } });
  const server = await startServer(t, { dataDir, config: testServerConfig(dataDir, { ledger: { flushIntervalMs: 60_000 } }), logger });
  t.same(
    lines.filter((l) => l.level === 'warn').map((l) => l.msg),
    ['ledger.flushIntervalMs has no effect: a batch is written as soon as the disk is free'],
  );
  await server.ledger.append(request({ id: 'not-a-minute-later' }));
  t.pass('a record is durable at once, not after the old interval');
});
