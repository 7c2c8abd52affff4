import net from 'node:net';
import t from 'tap';
import { allClosed, servedService } from '../../fixtures/fakes/served-service.js';
import { startWebServer, type WebServer } from '../../fixtures/fakes/web/web-server.js';
import { attachNode, parseResponses, rawConnect, startTunnel } from '../../fixtures/stacks/tunnel.js';
import { settle, trackTimers, until } from '../../fixtures/timers.js';

type Teardown = { teardown(fn: () => unknown): void };

async function web(t: Teardown): Promise<WebServer> {
  const server = await startWebServer();
  t.teardown(() => server.destroy());
  return server;
}

const get = (host: string, path: string) => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;

function refused(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
  });
}

t.test('close(): requests in flight finish, idle connections close at once, no new connections', async (t) => {
  const site = await web(t);
  const tunnel = await startTunnel(t, { nodes: [{ name: 'alpha', services: [{ name: 'web', port: site.port }] }] });
  const host = tunnel.host('alpha');
  const idle = await rawConnect(t, tunnel.port);
  idle.socket.write(get(host, '/echo/idle'));
  await idle.waitFor('"connectionRequests"');
  const api = await rawConnect(t, tunnel.port);
  api.socket.write(get(tunnel.domain, '/api-idle'));
  await api.waitFor('/api-idle');
  const busy = await rawConnect(t, tunnel.port);
  const served = new Promise((resolve) => site.once('request', resolve));
  busy.socket.write(get(host, '/delay?ms=100'));
  await served;

  const closing = tunnel.listener.close();
  const idleEnd = await idle.closed;
  t.equal(parseResponses(idleEnd.bytes).length, 1, 'the idle connection closed with nothing more said');
  await api.closed;
  t.pass('the idle API connection closed too');
  t.equal(await refused(tunnel.port), 'ECONNREFUSED', 'no new connections');
  const busyEnd = await busy.closed;
  t.same(
    parseResponses(busyEnd.bytes).map((r) => [r.status, r.text]),
    [[200, 'waited 100 ms']],
    'the request in flight finished',
  );
  await closing;
  t.same(tunnel.listener.stats().open, 0);
});

t.test('close() cuts what is still running after drainTimeoutMs; destroy() cuts at once; both idempotent', async (t) => {
  const site = await web(t);
  const tunnel = await startTunnel(t, {
    nodes: [{ name: 'alpha', services: [{ name: 'web', port: site.port }] }],
    listener: { drainTimeoutMs: 50 },
  });
  const hanging = await rawConnect(t, tunnel.port);
  const served = new Promise((resolve) => site.once('request', resolve));
  hanging.socket.write(get(tunnel.host('alpha'), '/hang'));
  await served;
  await Promise.all([tunnel.listener.close(), tunnel.listener.close()]);
  t.equal((await hanging.closed).reset, true, 'the hanging request was cut after the drain timeout');

  const other = await startTunnel(t, { nodes: [{ name: 'alpha', services: [{ name: 'web', port: site.port }] }] });
  const conn = await rawConnect(t, other.port);
  conn.socket.write(get(other.host('alpha'), '/hang'));
  await new Promise((resolve) => site.once('request', resolve));
  await Promise.all([other.listener.destroy(), other.listener.destroy()]);
  await conn.closed;
  t.same(other.listener.stats().open, 0);
});

t.test('at most maxConnections at once: the rest are dropped and counted', async (t) => {
  const tunnel = await startTunnel(t, { listener: { maxConnections: 2 } });
  const first = await rawConnect(t, tunnel.port);
  const second = await rawConnect(t, tunnel.port);
  first.socket.write(get(tunnel.domain, '/1'));
  second.socket.write(get(tunnel.domain, '/2'));
  await Promise.all([first.waitFor('/1'), second.waitFor('/2')]);
  const third = await rawConnect(t, tunnel.port);
  const { bytes } = await third.closed;
  t.equal(bytes.length, 0, 'the third connection was closed unanswered');
  t.match(tunnel.listener.stats(), { open: 2, accepted: 2, dropped: 1 });
});

t.test('deadlines: an idle keep-alive connection closes quietly; a silent new one too; no timer outlives them', async (t) => {
  const timers = trackTimers();
  t.teardown(() => timers.stop());
  const local = await servedService(t);
  const tunnel = await startTunnel(t, {
    nodes: [{ name: 'alpha', services: [{ name: 'web', port: local.port }] }],
    listener: { idleTimeoutMs: 50, headTimeoutMs: 50 },
  });
  await settle();
  const before = timers.live();
  const kept = await rawConnect(t, tunnel.port);
  kept.socket.write(get(tunnel.host('alpha'), '/kept'));
  const { bytes } = await kept.closed;
  t.same(
    parseResponses(bytes).map((r) => r.text),
    ['served /kept'],
    'one answer, then a quiet close',
  );
  const silent = await rawConnect(t, tunnel.port);
  t.equal((await silent.closed).bytes.length, 0, 'a connection that never sends a byte closes without an answer');
  // The node's side winds down too: the tunnel stream, and the service's end of its connection.
  await tunnel.directory.nodes.get('alpha')!.forwarder.close();
  await allClosed(local.sockets);
  // The super node's ends close after the user's (their linger timers go with them): on a busy
  // machine that can take more than the few turns settle() waits.
  await until(() => tunnel.listener.stats().open === 0);
  await settle();
  t.ok(timers.live() <= before, 'no timer left behind');
});

t.test('the node closes an idle local connection: the next request on the public one opens a new stream', async (t) => {
  const local = await servedService(t, 1); // Node's server closes idle keep-alive connections on its own
  const tunnel = await startTunnel(t, { nodes: [{ name: 'alpha', services: [{ name: 'web', port: local.port }] }] });
  const conn = await rawConnect(t, tunnel.port);
  conn.socket.write(get(tunnel.host('alpha'), '/one'));
  await conn.waitFor('served /one');
  await allClosed(local.sockets);
  conn.socket.write(get(tunnel.host('alpha'), '/two'));
  await conn.waitFor('served /two');
  t.equal(local.sockets.length, 2, 'a second local connection served the second request');
  await allClosed(local.sockets);
  // The node reconnects meanwhile: the next stream goes on its new session.
  const old = tunnel.directory.nodes.get('alpha')!;
  await attachNode(t, tunnel.directory, { name: 'alpha', services: [{ name: 'web', port: local.port }] });
  await old.server.destroy();
  conn.socket.write(get(tunnel.host('alpha'), '/three'));
  await conn.waitFor('served /three');
  t.equal(local.sockets.length, 3);
  t.equal(tunnel.listener.stats().accepted, 1, 'all on the same public connection');
});

t.test('close(): an API request in flight finishes, then its connection closes without waiting for the drain timeout', async (t) => {
  t.setTimeout(10_000); // the drain timeout below is a minute: only a connection left open would take that long
  let arrived!: () => void;
  const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
  let answer = (): void => undefined;
  const tunnel = await startTunnel(t, {
    listener: { drainTimeoutMs: 60_000 },
    api: (req, res) => {
      answer = () => res.end(`late ${req.url}`);
      arrived();
    },
  });
  const conn = await rawConnect(t, tunnel.port);
  conn.socket.write(get(tunnel.domain, '/slow'));
  await requestArrived;
  const closing = tunnel.listener.close();
  answer();
  const { bytes } = await conn.closed;
  t.same(
    parseResponses(bytes).map((r) => r.text),
    ['late /slow'],
    'answered as usual, then closed',
  );
  await closing;
});
