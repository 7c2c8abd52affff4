import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startFakeOllama } from '../fixtures/fakes/ollama/fake-ollama.js';
import { startWebServer } from '../fixtures/fakes/web/web-server.js';
import { logLine, startBin } from '../fixtures/processes/bin-process.js';
import { runNode } from '../fixtures/processes/run-bin.js';
import { rawRequest } from '../fixtures/wire/raw-http.js';

t.test('the real programs: a node behind proxima-client is reachable through proxima-server by its hostname', async (t) => {
  const web = await startWebServer();
  t.teardown(() => web.destroy());
  const ollama = await startFakeOllama();
  t.teardown(() => ollama.destroy());

  const dir = t.testdir();
  const serverFile = path.join(dir, 'server.yaml');
  fs.writeFileSync(
    serverFile,
    [
      'domain: proxima.test',
      'dataDir: ./data',
      'control: { listen: "127.0.0.1:0" }',
      'admin: { listen: "127.0.0.1:0" }',
      'http: { listen: "127.0.0.1:0", drainTimeoutMs: 5000 }',
      '',
    ].join('\n'),
  );
  const added = await runNode('bin/proxima-server.js', ['nodes', 'add', 'alpha', '--json', '-c', serverFile]);
  const { token } = JSON.parse(added.stdout) as { token: string };
  t.equal((await runNode('bin/proxima-server.js', ['nodes', 'add', 'beta', '-c', serverFile])).code, 0);

  const server = startBin(t, 'proxima-server', ['-c', serverFile], dir);
  const { control, http } = (await logLine(server, 'listening')) as { control: { port: number }; http: { port: number } };
  const clientFile = path.join(dir, 'client.yaml');
  fs.writeFileSync(
    clientFile,
    [
      `server: 127.0.0.1:${control.port}`,
      'name: alpha',
      `token: ${token}`,
      'status: { listen: "127.0.0.1:0" }',
      'services:',
      `  - { name: web, local: "127.0.0.1:${web.port}" }`,
      `  - { name: ollama, kind: ollama, local: "127.0.0.1:${ollama.port}", expose: public }`,
      '',
    ].join('\n'),
  );
  const client = startBin(t, 'proxima-client', ['-c', clientFile], dir);
  await logLine(server, 'node online', (line) => line.node === 'alpha');

  const url = (p: string) => `http://127.0.0.1:${http.port}${p}`;
  const get = (host: string, p: string) => rawRequest(url(p), { headers: { Host: host }, agent: false });
  const echo = await get('alpha.proxima.test', '/echo/hello');
  t.equal(echo.status, 200);
  t.match(
    JSON.parse(echo.text),
    { url: '/echo/hello', headers: { host: 'alpha.proxima.test', 'x-forwarded-for': '127.0.0.1' } },
    'the default service, with the Host as sent',
  );
  const tags = await get('ollama--alpha.proxima.test', '/api/tags');
  t.equal(tags.status, 200, 'Ollama let the request in: its Host was rewritten');
  // The node reads /api/tags itself too (model discovery); the tunnelled request is the forwarded one.
  const tunnelled = ollama.requests.filter((r) => r.headers['x-forwarded-for'] !== undefined);
  t.same(
    tunnelled.map((r) => [r.path, r.host]),
    [['/api/tags', `localhost:${ollama.port}`]],
  );

  const cases: [string, number, string][] = [
    ['gamma.proxima.test', 404, 'PRX_ERR_UNKNOWN_HOST'],
    ['beta.proxima.test', 502, 'PRX_ERR_NODE_OFFLINE'],
    ['docs--alpha.proxima.test', 404, 'PRX_ERR_SERVICE_UNKNOWN'],
  ];
  for (const [host, status, code] of cases) {
    const res = await get(host, '/');
    t.same([res.status, res.headers['proxima-error']], [status, code], host);
  }
  t.match(
    JSON.parse((await get('proxima.test', '/nodes')).text),
    { error: { code: 'PRX_ERR_FORBIDDEN' } },
    'the bare domain is the API (no admin token here)',
  );

  client.child.kill('SIGTERM');
  t.same(await client.exited, { code: 0, signal: null });
  const gone = await get('alpha.proxima.test', '/echo');
  t.same([gone.status, gone.headers['proxima-error']], [502, 'PRX_ERR_NODE_OFFLINE'], 'a node that left is offline');
  server.child.kill('SIGTERM');
  t.same(await server.exited, { code: 0, signal: null });
});
