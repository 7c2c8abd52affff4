/**
 * Strangers at the control port, against a real super node over real sockets: thousands of idle
 * connections from one address, idle connections spread over many addresses up to the global
 * cap, and wrong node tokens. Real node code (ControlConnection, ProximaClient) logs in meanwhile.
 * The strangers dial from other loopback addresses (127.0.0.2, 127.0.1.x) than the nodes (127.0.0.1).
 */
import net from 'node:net';
import t, { type Test } from 'tap';
import { ProximaClient } from '../../../src/client/client.js';
import { ControlConnection } from '../../../src/client/control-connection.js';
import { createLogger, type LogFields } from '../../../src/log.js';
import { AuthThrottle } from '../../../src/server/api-host/auth-throttle.js';
import type { ProximaServer } from '../../../src/server/server.js';
import { nodeOptions, register, startServer, tempDir, testServerConfig } from '../../fixtures/stacks/control-plane.js';
import { within } from '../../fixtures/store-helpers.js';
import { frame, loginFor, preambleBytes, rawPeer } from '../../fixtures/wire/raw-control.js';

/** Idle connections: how many the server has closed, and a promise of the moment `n` are. */
interface Idle {
  closed(): number;
  whenClosed(n: number): Promise<void>;
}

/** Counts closes over several groups of idle connections. */
function closeCounter(): { count: () => void; idle: Idle } {
  let closed = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const count = (): void => {
    closed++;
    for (const w of waiters.filter((w) => closed >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  const idle: Idle = {
    closed: () => closed,
    whenClosed: (n) => (closed >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
  return { count, idle };
}

/** `count` connections from `localAddress` that send nothing; resolves once all are connected (or refused). */
async function idleConnections(t: Test, port: number, localAddress: string, count: number, counter = closeCounter()): Promise<Idle> {
  const sockets: net.Socket[] = [];
  t.teardown(() => {
    for (const s of sockets) s.destroy();
  });
  // In batches, so the test's own accept backlog is not the limit.
  for (let i = 0; i < count; i += 200) {
    const batch = Array.from({ length: Math.min(200, count - i) }, () => {
      const socket = net.connect({ port, host: '127.0.0.1', localAddress });
      sockets.push(socket);
      socket.on('error', () => undefined);
      socket.once('close', counter.count);
      return new Promise<void>((resolve) => {
        socket.once('connect', () => resolve());
        socket.once('close', () => resolve());
      });
    });
    await Promise.all(batch);
  }
  return counter.idle;
}

/** Logs in `count` registered nodes at once with the real node code; resolves with their connections. */
async function logIn(t: Test, server: ProximaServer, names: string[]): Promise<ControlConnection[]> {
  const tokens = await Promise.all(names.map((name) => register(server, name)));
  const connections = await Promise.all(names.map((name, i) => ControlConnection.open(nodeOptions(server, name, { token: tokens[i]! }))));
  for (const c of connections) t.teardown(() => c.destroy());
  return connections;
}

function capture(): { logger: ReturnType<typeof createLogger>; lines: LogFields[] } {
  const lines: LogFields[] = [];
  const logger = createLogger({ level: 'info', stream: { write: (line: string) => lines.push(JSON.parse(line) as LogFields) > 0 } });
  return { logger, lines };
}

t.test('3,000 idle connections from one address: 16 nodes log in at once, and the log stays short', async (t) => {
  const log = capture();
  const dataDir = tempDir(t);
  // A long preamble deadline: on a slow machine the first idle connections must not time out while
  // the rest connect, or the count below would not be exact.
  const config = testServerConfig(dataDir, { control: { preambleTimeoutMs: 60_000 } });
  const server = await startServer(t, { dataDir, config, logger: log.logger });
  const port = server.controlAddress().port;
  const idle = await idleConnections(t, port, '127.0.0.2', 3000);
  await within(idle.whenClosed(3000 - 16), 10_000, 'all but 16 of the idle connections closed by the server');
  t.equal(idle.closed(), 3000 - 16, 'one address holds at most 16 handshakes (control.maxHandshakesPerAddress)');
  const names = Array.from({ length: 16 }, (_, i) => `node${i}`);
  const connections = await logIn(t, server, names);
  t.same(
    connections.map((c) => c.welcome.name),
    names,
    'every node logged in',
  );
  const refusals = log.lines.filter((l) => l.msg === 'connection refused');
  // A burst of 10, then 30 a minute; each line after the burst says how many it stands for.
  t.ok(refusals.length <= 20, `${refusals.length} lines for 2,984 refusals`);
});

t.test('idle connections from 200 addresses fill the global cap: the oldest idle are shed for nodes logging in', async (t) => {
  const dataDir = tempDir(t);
  const config = testServerConfig(dataDir, { control: { maxHandshakes: 64, maxHandshakesPerAddress: 4, preambleTimeoutMs: 60_000 } });
  const server = await startServer(t, { dataDir, config });
  const port = server.controlAddress().port;
  const counter = closeCounter();
  for (let i = 1; i <= 200; i++) await idleConnections(t, port, `127.0.1.${i}`, 4, counter);
  await within(counter.idle.whenClosed(800 - 64), 10_000, 'the oldest idle connections shed');
  t.equal(counter.idle.closed(), 800 - 64, 'at most 64 handshakes in progress: each new connection shed the oldest idle one');
  // In waves of 4: nodes share 127.0.0.1, whose own cap is 4 handshakes at once here.
  const names = Array.from({ length: 40 }, (_, i) => `node${i}`);
  for (let i = 0; i < 40; i += 4) await logIn(t, server, names.slice(i, i + 4));
  await within(counter.idle.whenClosed(800 - 64 + 40), 5_000, 'each login shed one idle connection');
  t.pass('each login shed one idle connection');
});

t.test('a connection that sends nothing is closed after control.preambleTimeoutMs', async (t) => {
  const dataDir = tempDir(t);
  const server = await startServer(t, { dataDir, config: testServerConfig(dataDir, { control: { preambleTimeoutMs: 200 } }) });
  const socket = net.connect({ port: server.controlAddress().port, host: '127.0.0.1', localAddress: '127.0.0.2' });
  t.teardown(() => socket.destroy());
  const peer = rawPeer(socket);
  const started = performance.now();
  await within(peer.closed, 5_000, 'closed by the server');
  t.ok(performance.now() - started >= 150, 'not before the deadline');
  t.equal(peer.unread().length, 0, 'without a word: it never spoke Proxima');
});

/** One login attempt over a raw socket from `localAddress`; the server's last message. */
async function tryLogin(port: number, localAddress: string, name: string, token: string): Promise<Record<string, unknown>> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  const peer = rawPeer(socket);
  try {
    socket.write(preambleBytes());
    await peer.preamble();
    const first = await peer.message();
    if (first.type !== 'challenge') return first;
    socket.write(frame(loginFor(name, token, first.nonce as string)));
    return await peer.message();
  } finally {
    socket.destroy();
  }
}

t.test('wrong node tokens from one address: 10 refused, then PRX_ERR_RATE_LIMITED with the wait; nodes elsewhere log in', async (t) => {
  const server = await startServer(t, { authThrottles: { nodes: new AuthThrottle({ delayStepMs: 10 }) } });
  const port = server.controlAddress().port;
  const token = await register(server, 'alpha');
  const wrong = `${token.slice(0, -4)}AAAA`;
  const codes: unknown[] = [];
  for (let i = 0; i < 10; i++) codes.push((await tryLogin(port, '127.0.0.2', 'alpha', wrong)).code);
  t.same(codes, Array(10).fill('PRX_ERR_AUTH_FAILED'));
  const refused = await tryLogin(port, '127.0.0.2', 'alpha', token);
  t.match(refused, { type: 'error', code: 'PRX_ERR_RATE_LIMITED' }, 'refused before the challenge, even with the right token');
  t.ok((refused.retryAfterMs as number) > 0 && (refused.retryAfterMs as number) <= 6000, `told to wait ${refused.retryAfterMs} ms`);
  t.match(await tryLogin(port, '127.0.0.1', 'alpha', token), { type: 'welcome' }, 'the node from its own address logs in');
});

t.test('proxima-client waits as long as the super node asks before it tries again', async (t) => {
  const throttle = new AuthThrottle();
  const server = await startServer(t, { authThrottles: { nodes: throttle } });
  const token = await register(server, 'alpha');
  for (let i = 0; i < 10; i++) throttle.fail('127.0.0.1');
  const client = ProximaClient.start({
    ...nodeOptions(server, 'alpha', { token }),
    reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
  });
  t.teardown(() => client.destroy());
  const info = await within(
    new Promise<{ delayMs: number; err: Error | undefined }>((resolve) => client.once('retry', resolve)),
    5_000,
    'retry',
  );
  const retry = info as unknown as { delayMs: number; err: { code: string; retryAfterMs: number } };
  t.equal(retry.err.code, 'PRX_ERR_RATE_LIMITED');
  t.ok(
    retry.delayMs >= retry.err.retryAfterMs,
    `waits ${retry.delayMs} ms, asked ${retry.err.retryAfterMs} ms (backoff alone: at most 50)`,
  );
});
