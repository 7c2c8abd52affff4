import net from 'node:net';
import t, { type Test } from 'tap';
import type { StatusSnapshot } from '../../../src/client/status/node-status.js';
import { PORT_TRIES, StatusServer } from '../../../src/client/status/status-server.js';
import { createLogger } from '../../../src/log.js';
import { rawRequest } from '../../fixtures/wire/raw-http.js';

const SNAPSHOT = {
  node: 'alpha',
  version: 'test',
  server: '127.0.0.1:7000',
  tls: false,
  connected: false,
  since: '2026-01-01T00:00:00.000Z',
  services: [],
  totals: { served: 0, failed: 0, inFlight: 0 },
  errors: [{ at: '2026-01-01T00:00:00.000Z', message: '<b>"quoted" & \'single\'</b>' }],
  earnings: { error: 'the super node did not say where its API is' },
} satisfies StatusSnapshot;

function logs(): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level: 'debug', stream: { write: (l: string) => lines.push(l) > 0 } }) };
}

async function listen(t: Test, port: number): Promise<boolean> {
  const server = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) t.teardown(() => void server.close());
  return ok;
}

async function start(t: Test, port: number, logger = logs().logger): Promise<StatusServer | undefined> {
  const status = await StatusServer.listen({ host: '127.0.0.1', port, snapshot: async () => SNAPSHOT, logger });
  t.teardown(() => status?.close());
  return status;
}

t.test('the page escapes what it shows and carries a strict CSP; only GET; unknown paths 404', async (t) => {
  const { lines, logger } = logs();
  const status = (await start(t, 0, logger))!;
  t.match(JSON.parse(lines[0]!), { msg: `status page at ${status.url}`, status: status.address() }, 'the address is logged');
  const page = await rawRequest(`${status.url}/`);
  t.match(page.text, '&lt;b&gt;&quot;quoted&quot; &amp; &#39;single&#39;&lt;/b&gt;');
  t.notMatch(page.text, '<b>');
  t.match(page.headers, { 'content-security-policy': /^default-src 'none'/, 'cache-control': 'no-store' });
  t.same(JSON.parse((await rawRequest(`${status.url}/api/status`)).text), SNAPSHOT);
  t.equal((await rawRequest(`${status.url}/api/status`, { method: 'POST' })).status, 405);
  t.equal((await rawRequest(`${status.url}/nope`)).status, 404);
  t.equal(
    (await rawRequest(`${status.url}/`, { headers: { host: `localhost:${status.address().port}` } })).status,
    200,
    'localhost is its own name',
  );
  await status.close();
  await status.close();
});

t.test('a taken port moves the page to the next; all ten taken, the node goes on without it', async (t) => {
  let base = 0;
  // Ten free ports in a row, held: probed from a random free port (other tests run beside this one).
  for (let attempt = 0; attempt < 20 && base === 0; attempt++) {
    const probe = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => probe.once('listening', resolve));
    const first = (probe.address() as net.AddressInfo).port;
    probe.close();
    if (first + PORT_TRIES >= 65536) continue;
    const held: boolean[] = [];
    for (let i = 0; i < PORT_TRIES; i++) held.push(await listen(t, first + i));
    if (held.every(Boolean)) base = first;
  }
  if (base === 0) {
    t.comment('no ten free ports in a row: skipped');
    return;
  }
  const { lines, logger } = logs();
  t.equal(await start(t, base, logger), undefined, 'all taken: no page');
  t.match(lines.join(''), `ports ${base} to ${base + PORT_TRIES - 1} are all taken; going on without it`);
});

t.test('one taken port: the next one', async (t) => {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => probe.once('listening', resolve));
  t.teardown(() => void probe.close());
  const port = (probe.address() as net.AddressInfo).port;
  const status = await start(t, port);
  t.ok(
    status !== undefined && status.address().port > port && status.address().port < port + PORT_TRIES,
    `moved to ${status?.address().port}`,
  );
});
