/**
 * What an operator sees of their node, with the real proxima-server and proxima-client processes:
 * the URLs the client prints at start (the super node's `http.publicUrl` template included), the
 * local status page and its JSON after real requests (served, in flight, this epoch's earnings read
 * with the node's token), a model name carrying HTML shown escaped, `proxima-client status`, and a
 * taken status port moving the page to the next one.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t, { type Test } from 'tap';
import { type FakeOllama, startFakeOllama } from '../fixtures/fakes/ollama/fake-ollama.js';
import { logLine } from '../fixtures/processes/bin-process.js';
import { runNode } from '../fixtures/processes/run-bin.js';
import { startProcessNetwork } from '../fixtures/stacks/process-network.js';
import { rawRequest } from '../fixtures/wire/raw-http.js';

/** An HTML payload that is still a valid Ollama model name (no spaces): it must never reach a page as markup. */
const EVIL = '<img/src=x/onerror=alert(1)>';
const CHAT = { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] };
const QUIET_REWARDS = 'rewards: { canaryShare: 0, newNodeCanaryShare: 0, probeIntervalMs: 1h }';

async function fake(t: Test): Promise<FakeOllama> {
  const f = await startFakeOllama({ models: [{ name: 'llama3.2', answerTokens: 4 }, { name: EVIL }] });
  t.teardown(() => f.destroy());
  return f;
}

/** Polls `read` until `done` holds or `ms` pass; the last value either way. */
async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (done(v) || Date.now() > deadline) return v;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A port nothing listens on now. */
async function freePort(t: Test): Promise<net.Server> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.teardown(() => {
    if (server.listening) server.close();
  });
  return server;
}

t.test('after real requests the status page and its JSON show the node; HTML in a model name is escaped', async (t) => {
  const network = await startProcessNetwork(t, { alpha: await fake(t) }, ['domain: localhost', QUIET_REWARDS]);
  const client = network.clients.alpha!;
  const api = `http://api.localhost:${network.port}`;
  t.equal((await logLine(client, /^the network's API: /)).msg, `the network's API: ${api}`, 'the client prints the API URL');
  t.equal(
    (await logLine(client, /^service ollama /)).msg,
    `service ollama (ollama, network): reachable only through the API at ${api}`,
    'a network-only service says where it is reached instead',
  );
  const { statusUrl } = (await logLine(client, /^status page at /)) as { statusUrl: string };
  t.match(statusUrl, /^http:\/\/127\.0\.0\.1:\d+$/);

  for (let i = 0; i < 3; i++) t.equal((await network.post('/v1/chat/completions', CHAT)).status, 200, `request ${i + 1}`);
  const read = async () => JSON.parse((await rawRequest(`${statusUrl}/api/status`)).text);
  const status = await until(read, (s) => s.totals.served >= 3 && s.totals.inFlight === 0);
  t.match(status, {
    node: 'alpha',
    connected: true,
    server: /^127\.0\.0\.1:\d+$/,
    tls: false,
    publicUrl: `http://alpha.localhost:${network.port}`,
    apiUrl: api,
    totals: { inFlight: 0, failed: 0 },
    errors: [],
  });
  t.ok(status.totals.served >= 3, `served ${status.totals.served} (the 3 requests; probes count too)`);
  t.same(status.services[0].models.sort(), [`${EVIL}:latest`, 'llama3.2:latest'].sort(), 'the models shared');
  t.match(status.earnings, { earnings: { line: { node: 'alpha', requests: Number } } }, "this epoch's line, read with the node's token");
  t.ok(status.earnings.earnings.line.requests >= 3, `the super node counted ${status.earnings.earnings.line.requests} requests`);

  const page = await rawRequest(`${statusUrl}/`);
  t.equal(page.status, 200);
  t.match(page.headers['content-security-policy'], /default-src 'none'; script-src 'self'/);
  t.notMatch(page.text, EVIL, 'the raw markup never reaches the page');
  t.match(page.text, '&lt;img/src=x/onerror=alert(1)&gt;:latest', 'it is shown escaped');
  t.notMatch(page.text, /<script>|<[^>]*\bon\w+=/i, 'no inline script, no handler attribute');
  const json = await rawRequest(`${statusUrl}/api/status`);
  t.match(json.headers, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff' });
  const script = await rawRequest(`${statusUrl}/status.js`);
  t.notMatch(script.text, /innerHTML|insertAdjacentHTML|document\.write/, 'the script writes text only');
  const rebound = await rawRequest(`${statusUrl}/api/status`, { headers: { host: `evil.example:${new URL(statusUrl).port}` } });
  t.equal(rebound.status, 403, 'a foreign Host (DNS rebinding) is refused');
  const log = fs.readFileSync(network.clientFiles.alpha!, 'utf8');
  const token = /^token: (\S+)$/m.exec(log)![1]!;
  t.notOk(
    client.lines.some((l) => l.includes(token)),
    'the token is in no log line',
  );
});

t.test('publicUrl template in the welcome, the printed lines and `nodes add`; a taken port moves the page; status CLI', async (t) => {
  const taken = await freePort(t);
  const port = (taken.address() as net.AddressInfo).port;
  const network = await startProcessNetwork(
    t,
    { alpha: await fake(t) },
    ['http: { listen: "127.0.0.1:0", publicUrl: "https://{host}" }', QUIET_REWARDS],
    [`status: { listen: "127.0.0.1:${port}" }`],
  );
  const client = network.clients.alpha!;
  t.equal((await logLine(client, /^online at /)).publicUrl, 'https://alpha.proxima.test', 'the welcome carries the template');
  t.equal((await logLine(client, /^the network's API: /)).msg, "the network's API: https://api.proxima.test");
  const moved = (await logLine(client, /^status page at /)) as { status: { port: number } };
  t.ok(moved.status.port > port && moved.status.port < port + 10, `port ${port} is taken: the page is at ${moved.status.port}`);

  const added = await runNode('bin/proxima-server.js', ['nodes', 'add', 'beta', '-c', network.serverFile], network.dir);
  t.equal(added.code, 0);
  t.match(added.stdout, "Its default service will be at https://beta.proxima.test; the network's API is at https://api.proxima.test");
  const addedJson = await runNode('bin/proxima-server.js', ['nodes', 'add', 'gamma', '--json', '-c', network.serverFile], network.dir);
  t.match(JSON.parse(addedJson.stdout), { name: 'gamma', url: 'https://gamma.proxima.test' });

  const shown = await runNode('bin/proxima-client.js', ['status', '-c', network.clientFiles.alpha!], network.dir);
  t.equal(shown.code, 0, shown.stderr);
  t.match(shown.stdout, /^node alpha: connected since \d{4}-/);
  t.match(shown.stdout, 'public URL:    https://alpha.proxima.test');
  t.match(shown.stdout, "network's API: https://api.proxima.test");
  t.match(shown.stdout, 'ollama (ollama, network): reachable only through the API at https://api.proxima.test');
  t.match(shown.stdout, `models: ${EVIL}:latest, llama3.2:latest`);
  const asJson = await runNode('bin/proxima-client.js', ['status', '--json', '-c', network.clientFiles.alpha!], network.dir);
  t.match(JSON.parse(asJson.stdout), { node: 'alpha', connected: true, publicUrl: 'https://alpha.proxima.test' });
});

t.test('`proxima-client status` with no client running says so and exits 1; with status: false, 2', async (t) => {
  const dir = t.testdir();
  const idle = await freePort(t);
  const port = (idle.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => idle.close(() => resolve()));
  const base = ['server: 127.0.0.1:7000', 'name: alpha', `token: prx_0123456789abcdef_${'A'.repeat(43)}`];
  const file = path.join(dir, 'client.yaml');
  fs.writeFileSync(file, [...base, `status: { listen: "127.0.0.1:${port}" }`, ''].join('\n'));
  const none = await runNode('bin/proxima-client.js', ['status', '-c', file], dir);
  t.equal(none.code, 1);
  t.equal(none.stdout, '');
  t.match(none.stderr, `no proxima-client for node alpha answers at 127.0.0.1:${port} to ${port + 9}: is it running?`);
  fs.writeFileSync(file, [...base, 'status: false', ''].join('\n'));
  const off = await runNode('bin/proxima-client.js', ['status', '-c', file], dir);
  t.equal(off.code, 2);
  t.match(off.stderr, 'the status page is off');
});
