import net from 'node:net';
import t from 'tap';
import { clientHandshake } from '../../src/client/client-handshake.js';
import { ServerList, systemLookup } from '../../src/client/server-list.js';
import { makeCertificate } from '../fixtures/processes/tls-files.js';
import { register, startServer, tempDir, testServerConfig } from '../fixtures/stacks/control-plane.js';

t.test('addresses are tried in turn, round and round', async (t) => {
  const list = new ServerList([
    { host: '127.0.0.1', port: 1 },
    { host: '::1', port: 2 },
  ]);
  const seen = [];
  for (let i = 0; i < 5; i++) seen.push(await list.next());
  t.same(
    seen.map((s) => `${s.host}:${s.port}`),
    ['127.0.0.1:1', '::1:2', '127.0.0.1:1', '::1:2', '127.0.0.1:1'],
  );
  t.equal(seen[0]!.address, undefined, 'an address is dialled as it is');
});

t.test('a name with several addresses is one try per address, looked up again at each pass', async (t) => {
  const asked: string[] = [];
  const lookup = async (host: string): Promise<string[]> => {
    asked.push(host);
    if (host === 'gone.test') throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return ['10.0.0.1', '10.0.0.2', '10.0.0.1'];
  };
  const list = new ServerList(
    [
      { host: 'many.test', port: 7000 },
      { host: 'gone.test', port: 7001 },
    ],
    lookup,
  );
  const seen = [];
  for (let i = 0; i < 4; i++) seen.push(await list.next());
  t.same(seen, [
    { host: 'many.test', port: 7000, address: '10.0.0.1' },
    { host: 'many.test', port: 7000, address: '10.0.0.2' },
    { host: 'gone.test', port: 7001 },
    { host: 'many.test', port: 7000, address: '10.0.0.1' },
  ]);
  t.same(asked, ['many.test', 'gone.test', 'many.test', 'gone.test'], 'a name that failed is kept: its dial reports why');
});

t.test('a lookup that hangs counts as failed after its deadline', async (t) => {
  const list = new ServerList([{ host: 'slow.test', port: 7000 }], () => new Promise(() => undefined), 50);
  t.same(await list.next(), { host: 'slow.test', port: 7000 });
});

t.test('the system resolver: localhost has a loopback address', async (t) => {
  const addresses = await systemLookup('localhost');
  t.ok(
    addresses.some((a) => a === '127.0.0.1' || a === '::1'),
    addresses.join(', '),
  );
  t.ok(addresses.every((a) => net.isIP(a) !== 0));
});

t.test('TLS to a resolved address checks the certificate against the entry name, not the address', async (t) => {
  const dataDir = tempDir(t);
  const files = makeCertificate(dataDir); // names localhost and 127.0.0.1
  const server = await startServer(t, { dataDir, config: testServerConfig(dataDir, { control: { tls: files } }) });
  const token = await register(server, 'alpha');
  const port = server.controlAddress().port;
  const options = { tls: { ca: files.cert }, name: 'alpha', token, timeoutMs: 5_000 };
  const { socket, welcome } = await clientHandshake({ ...options, server: { host: 'localhost', port, address: '127.0.0.1' } });
  t.equal(welcome.name, 'alpha', 'the name localhost is on the certificate');
  socket.destroy();
  // 127.0.0.1 is on the certificate too: checking the address dialled would wrongly pass.
  const err = await clientHandshake({ ...options, server: { host: 'proxima.example.com', port, address: '127.0.0.1' } }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.match(err, { code: 'PRX_ERR_CONNECT_FAILED', message: /proxima\.example\.com:\d+ \(127\.0\.0\.1\)/ });
  t.match((err as Error).cause, { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
});
