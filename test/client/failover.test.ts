import net from 'node:net';
import t, { type Test } from 'tap';
import { ProximaClient, type ProximaClientEvents, type ProximaClientOptions } from '../../src/client/client.js';
import { systemLookup } from '../../src/client/server-list.js';
import type { ProximaServer } from '../../src/server/server.js';
import { nextEvent, online, register, startServer, tempDir, testServerConfig } from '../fixtures/stacks/control-plane.js';

type Retry = ProximaClientEvents['retry'][0];

/** A port nothing listens on (it did a moment ago). */
async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function start(t: Test, token: string, options: Partial<ProximaClientOptions>): ProximaClient {
  const client = ProximaClient.start({
    server: { host: '127.0.0.1', port: 1 },
    tls: false,
    name: 'alpha',
    token,
    services: [{ name: 'web', kind: 'http' }],
    onStream: (stream) => stream.destroy(),
    reconnect: { initialDelayMs: 500, maxDelayMs: 30_000 }, // client.yaml's defaults
    handshakeTimeoutMs: 5_000,
    ...options,
  });
  t.teardown(() => client.destroy());
  return client;
}

/** A second super node on the same data folder (so it knows the node), on `port` or any. */
function another(t: Test, dataDir: string, port = 0): Promise<ProximaServer> {
  return startServer(t, { dataDir, config: testServerConfig(dataDir, { control: { listen: `127.0.0.1:${port}` } }) });
}

t.test(
  'a list: the first refuses, the node logs in at the second; the first comes back, the second dies: over in well under a second',
  async (t) => {
    const dataDir = tempDir(t);
    const b = await startServer(t, { dataDir });
    const token = await register(b, 'alpha');
    const portA = await freePort();
    const portB = b.controlAddress().port;
    const retries: Retry[] = [];
    const client = start(t, token, {
      servers: [
        { host: '127.0.0.1', port: portA },
        { host: '127.0.0.1', port: portB },
      ],
    });
    client.on('retry', (r) => retries.push(r));
    await nextEvent(client, 'online');
    await online(b, 'alpha');
    t.equal(retries.length, 1, 'one failed try');
    t.match(retries[0], { attempt: 1, err: { code: 'PRX_ERR_CONNECT_FAILED', message: new RegExp(`127\\.0\\.0\\.1:${portA}`) } });
    t.ok(retries[0]!.delayMs <= 500, `the first wait is at most initialDelayMs: ${retries[0]!.delayMs} ms`);

    const a = await another(t, dataDir, portA);
    const cameBack = nextEvent(client, 'online');
    const began = performance.now();
    await (await online(b, 'alpha')).destroy(); // the session in use ends without a word
    await cameBack;
    await online(a, 'alpha');
    const tookMs = performance.now() - began;
    t.match(retries[1], { attempt: 1 }, 'the backoff started again: a session was established');
    t.ok(retries[1]!.delayMs <= 500, `waited ${retries[1]!.delayMs} ms`);
    t.ok(tookMs < 1_500, `back online at the other super node ${tookMs.toFixed(0)} ms after losing the session`);
    t.comment(`failover: ${tookMs.toFixed(0)} ms, of which ${retries[1]!.delayMs} ms backoff`);
  },
);

t.test('the backoff resets after every established session, however short', async (t) => {
  const dataDir = tempDir(t);
  const server = await startServer(t, { dataDir });
  const token = await register(server, 'alpha');
  const client = start(t, token, {
    server: { host: '127.0.0.1', port: server.controlAddress().port },
    reconnect: { initialDelayMs: 20, maxDelayMs: 1_000 },
    clock: { random: () => 0.99 },
  });
  const attempts: number[] = [];
  client.on('retry', (r) => attempts.push(r.attempt));
  for (let i = 0; i < 3; i++) {
    await nextEvent(client, 'online');
    const retry = nextEvent<Retry>(client, 'retry');
    await (await online(server, 'alpha')).destroy();
    t.ok((await retry).delayMs <= 20, 'the first delay again');
  }
  t.same(attempts, [1, 1, 1]);
});

t.test('a DNS name with several addresses: one that refuses, then one that answers', async (t) => {
  const dataDir = tempDir(t);
  const server = await startServer(t, { dataDir });
  const token = await register(server, 'alpha');
  const port = server.controlAddress().port;
  const portRefused = await freePort();
  const asked: string[] = [];
  const client = start(t, token, {
    servers: [{ host: 'proxima.test', port: portRefused }],
    // proxima.test has two addresses; the server listens on 127.0.0.1 only
    lookup: async (host) => {
      asked.push(host);
      return ['127.0.0.2', '127.0.0.1'];
    },
  });
  const retry = await nextEvent<Retry>(client, 'retry');
  t.match(retry.err, { code: 'PRX_ERR_CONNECT_FAILED', message: `proxima.test:${portRefused} (127.0.0.2)` });
  t.comment('both addresses refuse on this port; now the name points at the live port');
  await client.destroy();
  const second = start(t, token, {
    servers: [{ host: 'proxima.test', port }],
    lookup: async () => ['::1', '127.0.0.1'],
  });
  const failed = await nextEvent<Retry>(second, 'retry');
  t.match(failed.err, { code: 'PRX_ERR_CONNECT_FAILED', message: `proxima.test:${port} (::1)` });
  await nextEvent(second, 'online');
  t.ok(await online(server, 'alpha'), 'logged in at the second address of the name');
  t.same(asked, ['proxima.test']);
});

t.test('a real name: localhost, through the system resolver, one try per address it has', async (t) => {
  const dataDir = tempDir(t);
  const server = await startServer(t, { dataDir });
  const token = await register(server, 'alpha');
  const port = server.controlAddress().port;
  const addresses = await systemLookup('localhost');
  const client = start(t, token, { servers: [{ host: 'localhost', port }] });
  const tried: string[] = [];
  client.on('retry', (r) => tried.push(r.err?.message ?? ''));
  await nextEvent(client, 'online');
  t.ok(await online(server, 'alpha'));
  // The server listens on 127.0.0.1 only: an address before it in the resolver's answer (::1) was refused first.
  const before = addresses.indexOf('127.0.0.1');
  t.equal(tried.length, before, `localhost is ${addresses.join(', ')} here`);
  t.ok(tried.every((m) => /^cannot connect to localhost:\d+ \(/.test(m)));
});

t.test('the keepalive timeout is honoured: a super node that stops answering pings is left', async (t) => {
  const dataDir = tempDir(t);
  const server = await startServer(t, { dataDir });
  const token = await register(server, 'alpha');
  // A relay that can go silent: bytes stop flowing both ways, the sockets stay open.
  let silent = false;
  const sockets: net.Socket[] = [];
  const relay = net.createServer((inbound) => {
    const outbound = net.connect(server.controlAddress().port, '127.0.0.1');
    sockets.push(inbound, outbound);
    inbound.on('data', (chunk) => silent || outbound.write(chunk));
    outbound.on('data', (chunk) => silent || inbound.write(chunk));
    for (const [s, other] of [
      [inbound, outbound],
      [outbound, inbound],
    ] as const) {
      s.on('error', () => undefined);
      s.on('close', () => other.destroy());
    }
  });
  relay.listen(0, '127.0.0.1');
  await new Promise((resolve) => relay.once('listening', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    relay.close();
  });
  const client = start(t, token, {
    server: { host: '127.0.0.1', port: (relay.address() as net.AddressInfo).port },
    keepaliveIntervalMs: 100,
    keepaliveTimeoutMs: 300,
  });
  await nextEvent(client, 'online');
  const offline = nextEvent<Error | undefined>(client, 'offline');
  const began = performance.now();
  silent = true;
  t.match(await offline, { code: 'PRX_ERR_MUX_KEEPALIVE_TIMEOUT', message: /300 ms/ });
  const tookMs = performance.now() - began;
  t.ok(tookMs >= 250 && tookMs < 1_000, `left ${tookMs.toFixed(0)} ms after the super node went silent (ping every 100, timeout 300)`);
});
