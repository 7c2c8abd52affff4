import { once } from 'node:events';
import t from 'tap';
import type { MuxStream, Session } from '../../../src/mux/index.js';
import type { NodeSession, OpenStream } from '../../../src/server/control/node-session.js';
import type { RemotePeer } from '../../../src/server/node-directory.js';
import { openRegistry } from '../../../src/server/registry/open-registry.js';
import { blackholeRelay } from '../../fixtures/fakes/blackhole-relay.js';
import { runFixture, stopFixture } from '../../fixtures/processes/child-lines.js';
import {
  closedWithin,
  connectNode,
  nextEvent,
  online,
  register,
  startServer,
  tempDir,
  testServerConfig,
} from '../../fixtures/stacks/control-plane.js';
import { within } from '../../fixtures/store-helpers.js';
import { collect } from '../../fixtures/wire/mux-pair.js';

/** An opener standing in for the data plane: a bare mux stream, "opened" at once. */
function recordingOpener(calls: [Session, string, RemotePeer][]): OpenStream {
  return (session, service, remote) => {
    calls.push([session, service, remote]);
    return { stream: session.open(), opened: Promise.resolve() };
  };
}

/** A node's onStream that echoes each stream back, and hands it to the test. */
function echoing(streams: MuxStream[]): (stream: MuxStream) => void {
  return (stream) => {
    streams.push(stream);
    stream.pipe(stream);
  };
}

const REMOTE: RemotePeer = { address: '203.0.113.9', port: 40000, tls: false };

t.test('a node that logged in and advertised is live; its streams go through the injected opener', async (t) => {
  const calls: [Session, string, RemotePeer][] = [];
  const server = await startServer(t, { openStream: recordingOpener(calls) });
  const token = await register(server, 'alpha');
  await register(server, 'beta');
  t.equal(server.nodes.live('alpha'), undefined, 'offline before it connects');
  t.ok(server.nodes.isRegistered('beta'));
  t.notOk(server.nodes.isRegistered('gamma'));
  const services = [
    { name: 'web', kind: 'http' as const, hostHeader: 'localhost:3000' },
    { name: 'llm', kind: 'ollama' as const, maxConcurrent: 2 },
  ];
  const streams: MuxStream[] = [];
  await connectNode(t, server, 'alpha', { token, services, onStream: echoing(streams) });
  const node = await online(server, 'alpha');
  t.same(
    node.services,
    services.map((s) => ({ ...s, expose: s.kind === 'ollama' ? 'network' : 'public' })),
    'with the exposure of each kind filled in',
  );
  const { stream, opened } = node.openStream('llm', REMOTE);
  await opened;
  t.equal(calls.length, 1);
  t.same([calls[0]![1], calls[0]![2]], ['llm', REMOTE]);
  t.equal(calls[0]![0], node.session, 'the node session is passed to the opener');
  stream.end('ping');
  t.equal((await collect(stream)).toString(), 'ping', 'the bytes went to the node and back');
  t.equal(streams.length, 1);
});

t.test('a node that sends drain takes no new streams, finishes its streams, and the registry keeps its services', async (t) => {
  const dataDir = tempDir(t);
  const server = await startServer(t, { dataDir, openStream: recordingOpener([]) });
  const token = await register(server, 'alpha');
  const connection = await connectNode(t, server, 'alpha', { token, services: [{ name: 'site', kind: 'http' }], onStream: echoing([]) });
  const node = await online(server, 'alpha');
  const { stream } = node.openStream('site', REMOTE);
  stream.write('in flight, ');
  const echoed = collect(stream);
  await once(stream, 'data'); // the node has the stream: the drain comes after it
  const closing = connection.close();
  await within(
    new Promise<void>((resolve) => {
      const check = (): void => void (node.online ? setImmediate(check) : resolve());
      check();
    }),
    5_000,
    'the drain noticed',
  );
  t.equal(server.nodes.live('alpha'), undefined, 'draining: no new streams');
  t.equal(server.nodes.size, 1, 'its session is still open');
  stream.end('done');
  t.equal((await echoed).toString(), 'in flight, done');
  const [gone] = await Promise.all([nextEvent<NodeSession>(server.nodes, 'closed'), closing]);
  t.equal(gone, node);
  t.equal(server.nodes.size, 0);
  t.equal(await connection.closed, undefined, 'a clean close');
  await server.close();
  const registry = await openRegistry({ dataDir, watch: false, pollIntervalMs: 0 });
  t.teardown(() => registry.close());
  t.match(await registry.get('alpha'), { services: ['site'], lastSeenAt: /^\d{4}-/ });
});

t.test('a second login replaces the first at once; the old session closes cleanly after its streams', async (t) => {
  const calls: [Session, string, RemotePeer][] = [];
  const server = await startServer(t, { openStream: recordingOpener(calls) });
  const token = await register(server, 'alpha');
  const oldStreams: MuxStream[] = [];
  const old = await connectNode(t, server, 'alpha', { token, onStream: echoing(oldStreams) });
  const oldNode = await online(server, 'alpha');
  const { stream } = oldNode.openStream('web', REMOTE);
  stream.write('before ');
  await connectNode(t, server, 'alpha', { token });
  const freshNode = await online(server, 'alpha');
  t.not(freshNode, oldNode, 'the new session is live');
  t.equal(server.nodes.size, 2, 'the old session is still finishing');
  stream.end('after');
  t.equal((await collect(stream)).toString(), 'before after', 'the stream in flight finished');
  const why = await closedWithin(old, 5_000);
  t.match(why, { code: 'PRX_ERR_SESSION_REPLACED' });
  await oldNode.closed;
  t.equal(oldNode.closeReason, 'replaced');
  t.equal(freshNode.closeReason, undefined, 'the live one has no close reason');
  t.equal(server.nodes.size, 1);
  t.equal(server.nodes.live('alpha'), freshNode);
});

t.test('a half-open old session neither blocks the new login nor leaks (frp #5391)', async (t) => {
  const dataDir = tempDir(t);
  // A long close timeout: the new login must not wait for it; a short heartbeat ends the dead one.
  const config = testServerConfig(dataDir, {
    control: { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 300 },
    http: { drainTimeoutMs: 60_000 },
  });
  const server = await startServer(t, { dataDir, config });
  const token = await register(server, 'alpha');
  const relay = await blackholeRelay(t, server.controlAddress().port);
  const dead = await connectNode(t, server, 'alpha', { token, server: { host: '127.0.0.1', port: relay.port } });
  const deadNode = await online(server, 'alpha');
  relay.freeze();
  const started = Date.now();
  await connectNode(t, server, 'alpha', { token });
  const liveNode = await online(server, 'alpha');
  t.not(liveNode, deadNode);
  t.ok(Date.now() - started < 5_000, 'the new login was not held up');
  await within(relay.upstreamClosed, 5_000, 'the half-open session ended by keepalive');
  await deadNode.closed;
  t.equal(deadNode.closeReason, 'replaced', 'the first reason stays: it was replaced before its keepalive gave up');
  t.equal(server.nodes.size, 1, 'only the live session is left');
  t.equal(server.nodes.live('alpha'), liveNode);
  await dead.destroy();
});

t.test('revoking or rotating from another process closes the live session within a second', async (t) => {
  const dataDir = tempDir(t);
  const server = await startServer(t, { dataDir });
  for (const [command, name] of [
    ['revoke', 'alpha'],
    ['rotate', 'beta'],
  ] as const) {
    const token = await register(server, name);
    const connection = await connectNode(t, server, name, { token });
    const node = await online(server, name);
    const cli = runFixture('registry-writer.js', [command, dataDir, name]);
    t.teardown(() => stopFixture(cli));
    await cli.waitForLine((line) => line.startsWith(command === 'revoke' ? 'revoked ' : 'rotated '));
    const why = await closedWithin(connection, 1_000);
    t.match(why, { code: 'PRX_ERR_AUTH_FAILED' }, `${command}: the node is told why`);
    t.equal(server.nodes.live(name), undefined);
    t.equal(server.nodes.isRegistered(name), command === 'rotate', `${command}: registered afterwards`);
    await node.closed;
    t.equal(node.closeReason, command === 'revoke' ? 'revoked' : 'rotated');
  }
});

t.test('close reasons: the node closed, its keepalive went unanswered, the super node stopped', async (t) => {
  const dataDir = tempDir(t);
  const config = testServerConfig(dataDir, { control: { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 300 } });
  const server = await startServer(t, { dataDir, config });
  const tokens = { alpha: await register(server, 'alpha'), beta: await register(server, 'beta'), gamma: await register(server, 'gamma') };
  const alpha = await connectNode(t, server, 'alpha', { token: tokens.alpha });
  const alphaNode = await online(server, 'alpha');
  await alpha.close();
  await within(alphaNode.closed, 5_000, 'alpha closed');
  t.equal(alphaNode.closeReason, 'closed', 'the node closed its session');

  const relay = await blackholeRelay(t, server.controlAddress().port);
  const beta = await connectNode(t, server, 'beta', { token: tokens.beta, server: { host: '127.0.0.1', port: relay.port } });
  const betaNode = await online(server, 'beta');
  relay.freeze();
  await within(betaNode.closed, 5_000, 'beta ended by keepalive');
  t.equal(betaNode.closeReason, 'keepalive_timeout');
  await beta.destroy();

  await connectNode(t, server, 'gamma', { token: tokens.gamma });
  const gammaNode = await online(server, 'gamma');
  await server.close();
  t.equal(gammaNode.closeReason, 'shutdown');
});
