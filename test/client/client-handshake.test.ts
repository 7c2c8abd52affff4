import { once } from 'node:events';
import net from 'node:net';
import t, { type Test } from 'tap';
import { type ClientHandshakeOptions, clientHandshake } from '../../src/client/client-handshake.js';
import { ControlConnection } from '../../src/client/control-connection.js';
import { createLogger } from '../../src/log.js';
import { makeCertificate } from '../fixtures/processes/tls-files.js';
import { nodeOptions, online, register, startServer, tempDir, testServerConfig } from '../fixtures/stacks/control-plane.js';
import { frame, preambleBytes, rawListen } from '../fixtures/wire/raw-control.js';

const TOKEN = `prx_0123456789abcdef_${'A'.repeat(43)}`;

function options(port: number, extra: Partial<ClientHandshakeOptions> = {}): ClientHandshakeOptions {
  return { server: { host: '127.0.0.1', port }, tls: false, name: 'alpha', token: TOKEN, timeoutMs: 5_000, ...extra };
}

/** A port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function tlsServer(t: Test) {
  const dataDir = tempDir(t);
  const files = makeCertificate(dataDir);
  const server = await startServer(t, { dataDir, config: testServerConfig(dataDir, { control: { tls: files } }) });
  return { server, ca: files.cert, token: await register(server, 'alpha') };
}

t.test('TLS: a node that trusts the certificate logs in and advertises', async (t) => {
  const { server, ca, token } = await tlsServer(t);
  for (const tls of [{ ca, servername: 'localhost' }, { ca }]) {
    const connection = await ControlConnection.open(nodeOptions(server, 'alpha', { token, tls }));
    t.teardown(() => connection.destroy());
    t.match(connection.welcome, { type: 'welcome', name: 'alpha' }, `tls ${JSON.stringify(Object.keys(tls))}`);
    const node = await online(server, 'alpha');
    t.equal(node.session.isOpen, true);
    await connection.close();
  }
});

t.test('TLS: an untrusted certificate, a wrong name, or TLS on one side only fail to connect', async (t) => {
  const { server, ca, token } = await tlsServer(t);
  const port = server.controlAddress().port;
  const cases: [string, Partial<ClientHandshakeOptions>, RegExp | undefined][] = [
    ['an untrusted self-signed certificate', { tls: {} }, /SELF_SIGNED/],
    ['a name the certificate does not carry', { tls: { ca, servername: 'example.com' } }, /ALTNAME/],
  ];
  for (const [why, extra, cause] of cases) {
    const err = await clientHandshake(options(port, { token, ...extra })).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.match(err, { code: 'PRX_ERR_CONNECT_FAILED' }, why);
    if (cause !== undefined) t.match((err as Error).cause, { code: cause }, `${why}: the cause says so`);
  }
});

t.test('TLS on one side only: the node is told which way to set tls, and the super node logs a hint', async (t) => {
  const dataDir = tempDir(t);
  const files = makeCertificate(dataDir);
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', stream: { write: (line: string) => lines.push(line) > 0 } });
  const secure = await startServer(t, { dataDir, logger, config: testServerConfig(dataDir, { control: { tls: files } }) });
  const token = await register(secure, 'alpha');
  const plainToTls = await clientHandshake(options(secure.controlAddress().port, { token, tls: false })).catch((e: unknown) => e);
  t.match(plainToTls, { code: 'PRX_ERR_TLS_MISMATCH', message: /speaks TLS on this port .*: set tls: true$/ }, 'plain TCP to the TLS port');
  t.ok(
    lines.some((l) => l.includes('connected without TLS to this TLS control port: set tls: true')),
    'the TLS super node logs what the node should change',
  );
  const plainDir = tempDir(t);
  const plain = await startServer(t, { dataDir: plainDir, logger, config: testServerConfig(plainDir) });
  const tlsToPlain = await clientHandshake(options(plain.controlAddress().port, { tls: { ca: files.cert } })).catch((e: unknown) => e);
  t.match(
    tlsToPlain,
    { code: 'PRX_ERR_TLS_MISMATCH', message: /does not speak TLS on this port .*: set tls: false$/ },
    'TLS to a plain port',
  );
  t.ok(
    lines.some((l) => l.includes('spoke TLS to this plain control port: set tls: false')),
    'the plain super node logs a hint',
  );
  t.notOk(
    lines.some((l) => l.includes(token)),
    'no token in the logs',
  );
});

t.test('a TLS alert or a ClientHello read where the preamble should be means TLS on the other side', async (t) => {
  for (const first of [Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]), Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])]) {
    const port = await rawListen(t, (peer) => peer.socket.end(first));
    const err = await clientHandshake(options(port)).catch((e: unknown) => e);
    t.match(err, { code: 'PRX_ERR_TLS_MISMATCH', message: /set tls: true/ }, `first byte 0x${first[0]!.toString(16)}`);
  }
});

t.test('what the node hears: refused token, other version, silence, nothing listening, abort', async (t) => {
  const server = await startServer(t);
  await register(server, 'alpha');
  const port = server.controlAddress().port;
  await t.rejects(clientHandshake(options(port)), { code: 'PRX_ERR_AUTH_FAILED' }, 'a token the super node did not issue');
  await t.rejects(
    clientHandshake(options(port, { token: 'prx_nonsense' })),
    { code: 'PRX_ERR_AUTH_FAILED' },
    'a malformed token, before dialing',
  );

  const newer = await rawListen(t, async (peer) => {
    await peer.preamble();
    peer.socket.write(preambleBytes(2));
  });
  await t.rejects(clientHandshake(options(newer)), { code: 'PRX_ERR_VERSION_MISMATCH', message: /upgrade proxima-client/ });

  const silent = await rawListen(t, () => undefined);
  await t.rejects(clientHandshake(options(silent, { timeoutMs: 100 })), { code: 'PRX_ERR_HANDSHAKE_TIMEOUT' });

  const err = await clientHandshake(options(await closedPort())).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.match(err, { code: 'PRX_ERR_CONNECT_FAILED', cause: { code: 'ECONNREFUSED' } });

  const abort = new AbortController();
  const attempt = clientHandshake(options(silent, { signal: abort.signal }));
  abort.abort(new Error('stop'));
  await t.rejects(attempt, { message: 'stop' }, 'an abort ends the attempt at once');

  const drained = await rawListen(t, async (peer) => {
    await peer.preamble();
    peer.socket.end(Buffer.concat([preambleBytes(), frame({ type: 'error', code: 'PRX_ERR_SERVER_DRAINING', message: 'bye' })]));
  });
  await t.rejects(clientHandshake(options(drained)), { code: 'PRX_ERR_SERVER_DRAINING' }, "the super node's own error code");
});
