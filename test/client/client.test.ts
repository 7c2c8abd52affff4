import { once } from 'node:events';
import t, { type Test } from 'tap';
import { advertisedServices, ProximaClient, type ProximaClientEvents, type ProximaClientOptions } from '../../src/client/client.js';
import type { ReconnectClock } from '../../src/client/reconnect.js';
import { createLogger } from '../../src/log.js';
import type { MuxStream } from '../../src/mux/index.js';
import type { ServiceAdvert } from '../../src/proto/control/messages.js';
import type { NodeSession } from '../../src/server/control/node-session.js';
import type { ProximaServer } from '../../src/server/server.js';
import { nextEvent, online, register, startServer, tempDir, testServerConfig } from '../fixtures/stacks/control-plane.js';
import { within } from '../fixtures/store-helpers.js';
import { collect } from '../fixtures/wire/mux-pair.js';
import { preambleBytes, rawListen } from '../fixtures/wire/raw-control.js';

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

t.test('advertise(): new services go out at once and on every later connection; too many models are trimmed', async (t) => {
  const server = await startServer(t);
  const token = await register(server, 'alpha');
  const lines: string[] = [];
  const logger = createLogger({ level: 'warn', stream: { write: (line: string) => lines.push(line) > 0 } });
  const client = start(t, server.controlAddress().port, token, { logger });
  const first = await online(server, 'alpha');
  t.same(first.services, [{ name: 'web', kind: 'http', expose: 'public' }], 'the super node fills in the default exposure');
  const services: ServiceAdvert[] = [
    { name: 'ollama', kind: 'ollama', models: [{ name: 'llama3.2:latest', digest: 'a'.repeat(64) }], maxConcurrent: 2, expose: 'network' },
  ];
  let next = nextEvent<NodeSession>(server.nodes, 'advertised');
  client.advertise(services);
  t.same((await next).services, services, 'at once, on the live connection');
  next = nextEvent<NodeSession>(server.nodes, 'advertised');
  await first.destroy();
  const second = await next;
  t.not(second, first);
  t.same(second.services, services, 'the new connection advertises them from the start');
  const models = Array.from({ length: 1000 }, (_, i) => ({
    name: `model-${i}:latest`,
    digest: 'b'.repeat(64),
    details: { family: 'llama' },
  }));
  next = nextEvent<NodeSession>(server.nodes, 'advertised');
  client.advertise([{ name: 'ollama', kind: 'ollama', models, maxConcurrent: 1 }]);
  const trimmed = (await next).services[0]!.models!;
  t.ok(trimmed.length > 100 && trimmed.length < 1000, `${trimmed.length} of 1000 models fit one message`);
  t.same(trimmed, models.slice(0, trimmed.length));
  const warning = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => /too many models/.test(String(l.msg)));
  t.match(warning, { level: 'warn', dropped: 1000 - trimmed.length });
});

t.test('advertised services carry name, kind, exposure, auth, hostHeader, and maxConcurrent for ollama', async (t) => {
  const auth = { bearer: [`sha256$${'a'.repeat(64)}`], allow: ['10.0.0.0/8'] };
  t.strictSame(
    advertisedServices([
      { name: 'web', kind: 'http', local: { host: '127.0.0.1', port: 3000 }, expose: 'public' },
      { name: 'site', kind: 'http', local: { host: '127.0.0.1', port: 8000 }, hostHeader: 'site.local', expose: 'protected', auth },
      {
        name: 'ollama',
        kind: 'ollama',
        local: { host: '127.0.0.1', port: 11434 },
        hostHeader: 'localhost:11434',
        share: '*',
        maxConcurrent: 2,
        expose: 'network',
      },
    ]),
    [
      { name: 'web', kind: 'http', expose: 'public' },
      { name: 'site', kind: 'http', expose: 'protected', auth, hostHeader: 'site.local' },
      { name: 'ollama', kind: 'ollama', expose: 'network', hostHeader: 'localhost:11434', maxConcurrent: 2 },
    ],
  );
  const models = [{ name: 'llama3.2:latest', digest: 'a'.repeat(64), size: 1 }];
  t.same(
    advertisedServices(
      [
        { name: 'web', kind: 'http', local: { host: '127.0.0.1', port: 3000 }, expose: 'public' },
        {
          name: 'ollama',
          kind: 'ollama',
          local: { host: '127.0.0.1', port: 11434 },
          hostHeader: 'localhost:11434',
          share: '*',
          maxConcurrent: 1,
          expose: 'network',
        },
        {
          name: 'down',
          kind: 'ollama',
          local: { host: '127.0.0.1', port: 11435 },
          hostHeader: 'localhost:11435',
          share: '*',
          maxConcurrent: 1,
          expose: 'network',
        },
      ],
      new Map([['ollama', models]]),
    ),
    [
      { name: 'web', kind: 'http', expose: 'public' },
      { name: 'ollama', kind: 'ollama', expose: 'network', hostHeader: 'localhost:11434', models, maxConcurrent: 1 },
      { name: 'down', kind: 'ollama', expose: 'network', hostHeader: 'localhost:11435', models: [], maxConcurrent: 1 },
    ],
    'with discovered models: each ollama service carries its own, none when nothing was found',
  );
});

t.test('TLS on one side only: the retry line says which way to set tls, and the client keeps trying', async (t) => {
  const lines: string[] = [];
  const logger = createLogger({ level: 'warn', stream: { write: (line: string) => lines.push(line) > 0 } });
  // A port that answers like a TLS server to a plain preamble: a fatal protocol_version alert.
  const port = await rawListen(t, (peer) => peer.socket.end(Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46])));
  const client = start(t, port, `prx_0123456789abcdef_${'A'.repeat(43)}`, { logger });
  const first = await nextEvent<Retry>(client, 'retry');
  t.match(first.err, { code: 'PRX_ERR_TLS_MISMATCH' });
  const second = await nextEvent<Retry>(client, 'retry');
  t.equal(second.attempt, 2, 'not fatal: it tries again');
  const line = JSON.parse(lines[0]!) as { msg: string; err: { code: string } };
  t.match(line.msg, /^not connected: the super node speaks TLS on this port \(127\.0\.0\.1:\d+\): set tls: true; trying again in \d+ ms$/);
  t.equal(line.err.code, 'PRX_ERR_TLS_MISMATCH');
});
