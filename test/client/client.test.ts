import t, { type Test } from 'tap';
import { once } from 'node:events';
import { advertisedServices, ProximaClient, type ProximaClientEvents, type ProximaClientOptions } from '../../src/client/client.js';
import type { ReconnectClock } from '../../src/client/reconnect.js';
import type { MuxStream } from '../../src/mux/index.js';
import type { NodeSession } from '../../src/server/node-session.js';
import type { ProximaServer } from '../../src/server/server.js';
import { nextEvent, online, register, startServer, tempDir, testServerConfig } from '../fixtures/control-plane.js';
import { collect } from '../fixtures/mux-pair.js';
import { preambleBytes, rawListen } from '../fixtures/raw-control.js';
import { within } from '../fixtures/store-helpers.js';

type Retry = ProximaClientEvents['retry'][0];

function start(t: Test, port: number, token: string, extra: Partial<ProximaClientOptions> = {}): ProximaClient {
  const client = ProximaClient.start({
    server: { host: '127.0.0.1', port },
    tls: false,
    name: 'alpha',
    token,
    services: [{ name: 'web', kind: 'http' }],
    onStream: (stream) => stream.destroy(),
    reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
    handshakeTimeoutMs: 5_000,
    ...extra,
  });
  t.teardown(() => client.destroy());
  return client;
}

/** A super node on a fixed port (the one an earlier instance had), on the same data folder. */
function restart(t: Test, dataDir: string, port: number): Promise<ProximaServer> {
  return startServer(t, { dataDir, config: testServerConfig(dataDir, { control: { listen: `127.0.0.1:${port}` } }) });
}

/** A clock whose timers fire only when the test says so; random numbers are always 0.5. */
function manualClock() {
  let nowMs = 0;
  const timers: (() => void)[] = [];
  const clock: ReconnectClock = {
    now: () => nowMs,
    random: () => 0.5,
    schedule(fn) {
      timers.push(fn);
      return () => timers.splice(timers.indexOf(fn) >>> 0, 1);
    },
  };
  return { clock, advance: (ms: number) => void (nowMs += ms), fire: () => timers.shift()!() };
}

t.test('the backoff schedule: doubling delays while down, reset after a stable session, not after a short one', async (t) => {
  const dataDir = tempDir(t);
  const first = await startServer(t, { dataDir });
  const token = await register(first, 'alpha');
  const port = first.controlAddress().port;
  await first.close();
  const { clock, advance, fire } = manualClock();
  const client = start(t, port, token, { clock, reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 }, stableAfterMs: 60_000 });
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    const retry = await nextEvent<Retry>(client, 'retry');
    t.match(retry.err, { code: 'PRX_ERR_CONNECT_FAILED' });
    delays.push(retry.delayMs);
    if (i < 4) fire();
  }
  t.same(delays, [50, 100, 200, 400, 500], 'half of each ceiling: 100, 200, 400, 800, 1000 (max)');
  const server = await restart(t, dataDir, port);
  const cameBack = nextEvent(client, 'online');
  fire();
  await cameBack;
  advance(60_000); // a session that lived stableAfterMs resets the schedule
  let retry = nextEvent<Retry>(client, 'retry');
  await (await online(server, 'alpha')).destroy();
  t.equal((await retry).delayMs, 50, 'reset: back to the first delay');
  const again = nextEvent(client, 'online');
  fire();
  await again;
  retry = nextEvent<Retry>(client, 'retry');
  await (await online(server, 'alpha')).destroy();
  t.equal((await retry).delayMs, 100, 'a short session does not reset it');
});

t.test('a node comes back by itself after the super node restarts on the same port', async (t) => {
  const dataDir = tempDir(t);
  const first = await startServer(t, { dataDir });
  const token = await register(first, 'alpha');
  const port = first.controlAddress().port;
  const client = start(t, port, token);
  await nextEvent(client, 'online');
  await online(first, 'alpha');
  const offline = nextEvent<Error | undefined>(client, 'offline');
  await first.close();
  t.match(await offline, { code: 'PRX_ERR_SERVER_DRAINING' }, 'the node was told the super node drains');
  await nextEvent(client, 'retry');
  const second = await restart(t, dataDir, port);
  const welcome = await nextEvent<{ publicUrl: string }>(client, 'online');
  t.match(welcome.publicUrl, /^http:\/\/alpha\.localhost:\d+$/);
  t.ok(await online(second, 'alpha'), 'live on the new instance');
});

t.test('a refused token stops the client at once: no retry', async (t) => {
  const server = await startServer(t);
  const token = await register(server, 'alpha');
  const forged = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
  const refused = start(t, server.controlAddress().port, forged);
  let retries = 0;
  refused.on('retry', () => retries++);
  const err = await within(refused.done, 5_000, 'the client stopping');
  t.match(err, { code: 'PRX_ERR_AUTH_FAILED', message: /node "alpha".*token/ });
  t.equal(retries, 0);

  const client = start(t, server.controlAddress().port, token);
  client.on('retry', () => retries++);
  await nextEvent(client, 'online');
  await server.registry.revoke('alpha');
  t.match(await within(client.done, 5_000, 'the revoked client stopping'), { code: 'PRX_ERR_AUTH_FAILED', message: /revoked/ });
  t.equal(retries, 0, 'a revoked node does not retry either');
});

t.test('another protocol version stops the client at once', async (t) => {
  let connections = 0;
  const port = await rawListen(t, async (peer) => {
    connections++;
    await peer.preamble();
    peer.socket.end(preambleBytes(9));
  });
  const client = start(t, port, `prx_0123456789abcdef_${'A'.repeat(43)}`);
  t.match(await within(client.done, 5_000, 'stopping'), { code: 'PRX_ERR_VERSION_MISMATCH', message: /upgrade proxima-client/ });
  t.equal(connections, 1);
});

t.test('close() drains: the super node is told, a stream in flight finishes, then the client stops', async (t) => {
  const server = await startServer(t, {
    openStream: (session) => ({ stream: session.open(), opened: Promise.resolve() }),
  });
  const token = await register(server, 'alpha');
  const streams: MuxStream[] = [];
  const client = start(t, server.controlAddress().port, token, {
    onStream: (stream) => {
      streams.push(stream);
      stream.pipe(stream);
    },
  });
  await nextEvent(client, 'online');
  const node = await online(server, 'alpha');
  const { stream } = node.openStream('web', { address: '203.0.113.1', port: 1, tls: false });
  const echoed = collect(stream);
  stream.write('first ');
  await once(stream, 'data');
  const closing = client.close();
  const gone = nextEvent<NodeSession>(server.nodes, 'closed');
  stream.end('last');
  t.equal((await echoed).toString(), 'first last', 'the stream finished');
  await closing;
  t.equal(await client.done, undefined, 'a clean stop');
  t.equal(await gone, node);
  t.equal(client.connection, undefined);
});

t.test('close() while waiting to retry, or during a handshake, stops at once', async (t) => {
  const silent = await rawListen(t, () => undefined);
  const connecting = start(t, silent, `prx_0123456789abcdef_${'A'.repeat(43)}`);
  await connecting.close();
  t.equal(await connecting.done, undefined);
  const server = await startServer(t);
  const token = await register(server, 'alpha');
  const port = server.controlAddress().port;
  await server.close();
  const waiting = start(t, port, token, { reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 } });
  await nextEvent(waiting, 'retry');
  await waiting.close();
  t.equal(await waiting.done, undefined);
});

t.test('advertised services carry name, kind, hostHeader, and maxConcurrent for ollama', async (t) => {
  t.same(advertisedServices([
    { name: 'web', kind: 'http', local: { host: '127.0.0.1', port: 3000 } },
    { name: 'site', kind: 'http', local: { host: '127.0.0.1', port: 8000 }, hostHeader: 'site.local' },
    { name: 'ollama', kind: 'ollama', local: { host: '127.0.0.1', port: 11434 }, hostHeader: 'localhost:11434', share: '*', maxConcurrent: 2 },
  ]), [
    { name: 'web', kind: 'http' },
    { name: 'site', kind: 'http', hostHeader: 'site.local' },
    { name: 'ollama', kind: 'ollama', hostHeader: 'localhost:11434', maxConcurrent: 2 },
  ]);
});
