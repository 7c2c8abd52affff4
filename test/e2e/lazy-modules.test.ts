/**
 * What the programs do not load: a node started with `-c client.yaml` and a super node with `-c
 * server.yaml` load no yargs, neither loads undici (the node's guard and its connections to Ollama
 * speak HTTP/1.1 with the project's own parsers on plain sockets, the super node's to nodes with its
 * own HTTP/1.1 client, even after serving a chat), the node no node:http and no status page when it
 * is off (nor node:tls, node:https or node:dns dialling an address in plain TCP); the super node no
 * pg and no PostgreSQL stores without PostgreSQL,
 * no dashboard without an admin listener, and no prom-client until /metrics is scraped. Each costs resident memory for as long as the process lives
 * (docs/performance-notes.md, "Memory of the node and the super node"). The programs run from their
 * bundles (scripts/bundle.js), where a lazy part is a chunk of its own: the chunks loaded are mapped back
 * to the sources they hold through esbuild's metafile.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { startFakeOllama } from '../fixtures/fakes/ollama/fake-ollama.js';
import { repoPath } from '../fixtures/paths.js';
import { logLine, startBin } from '../fixtures/processes/bin-process.js';
import type { LineChild } from '../fixtures/processes/child-lines.js';
import { runNode } from '../fixtures/processes/run-bin.js';
import { postJson } from '../fixtures/wire/raw-http.js';

const MODULE_LOG = ['--import', repoPath('dist', 'test', 'fixtures', 'processes', 'module-log.js')];

/** The sources (`dist/src/...js`) each file of a program's bundle holds, from esbuild's metafile (scripts/bundle.js). */
function bundleSources(program: string): Map<string, string[]> {
  const meta = JSON.parse(fs.readFileSync(repoPath('dist', `${program}.meta.json`), 'utf8')) as {
    outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
  };
  const held = ([, input]: [string, { bytesInOutput: number }]): boolean => input.bytesInOutput > 0;
  return new Map(
    Object.entries(meta.outputs).map(([file, output]) => [
      pathToFileURL(repoPath(file)).href,
      Object.entries(output.inputs)
        .filter(held)
        .map(([source]) => pathToFileURL(repoPath(source)).href),
    ]),
  );
}

/**
 * Stops a program with SIGTERM (it drains and exits 0) and returns the modules it had loaded: each
 * file of its bundle it loaded (`esm <url>`) followed by the sources that file holds (`bundled <url>`).
 */
async function loadedBy(run: LineChild, logFile: string, program: string): Promise<string[]> {
  run.child.kill('SIGTERM');
  const { code } = await run.exited;
  if (code !== 0) throw new Error(`exited ${code}: ${run.lines.slice(-3).join('\n')}`);
  const sources = bundleSources(program);
  return fs
    .readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => [line, ...(sources.get(line.replace(/^esm /, '')) ?? []).map((url) => `bundled ${url}`)]);
}

/** Checks that `program` ran from its bundle: its entry file loaded, no compiled source loaded as a module of its own. */
function ranBundled(t: Test, modules: string[], program: string): void {
  t.ok(matching(modules, `/dist/${program}/${program}.js`).length > 0, `${program} ran from its bundle`);
  t.same(
    modules.filter((m) => m.startsWith('esm ') && m.includes('/dist/src/')),
    [],
    `${program} loaded no compiled source outside its bundle`,
  );
}

/** The loaded modules whose path contains `part`. */
const matching = (modules: string[], part: string): string[] => modules.filter((m) => m.includes(part));

async function startNetwork(t: Test) {
  const dir = t.testdir();
  const serverFile = path.join(dir, 'server.yaml');
  fs.writeFileSync(
    serverFile,
    [
      'domain: proxima.test',
      'dataDir: ./data',
      'control: { listen: "127.0.0.1:0" }',
      'http: { listen: "127.0.0.1:0" }',
      'admin: { listen: "127.0.0.1:0" }',
      'api: { open: true }',
      '',
    ].join('\n'),
  );
  const tokens: Record<string, string> = {};
  for (const name of ['web', 'gpu']) {
    const added = await runNode('bin/proxima-server.js', ['nodes', 'add', name, '--json', '-c', serverFile], dir);
    tokens[name] = (JSON.parse(added.stdout) as { token: string }).token;
  }
  const serverLog = path.join(dir, 'server-modules.txt');
  const server = startBin(t, 'proxima-server', ['-c', serverFile], dir, { ...process.env, PROXIMA_MODULE_LOG: serverLog }, MODULE_LOG);
  const { control, http, admin } = (await logLine(server, 'listening')) as Record<'control' | 'http' | 'admin', { port: number }>;
  const startNode = async (name: string, services: string[]): Promise<{ run: LineChild; log: string }> => {
    const file = path.join(dir, `client-${name}.yaml`);
    fs.writeFileSync(
      file,
      [`server: 127.0.0.1:${control.port}`, `name: ${name}`, `token: ${tokens[name]}`, 'status: false', 'services:', ...services, ''].join(
        '\n',
      ),
    );
    const log = path.join(dir, `client-${name}-modules.txt`);
    const run = startBin(t, 'proxima-client', ['-c', file], dir, { ...process.env, PROXIMA_MODULE_LOG: log }, MODULE_LOG);
    await logLine(server, 'node online', (line) => line.node === name);
    return { run, log };
  };
  return { dir, server, serverLog, startNode, base: `http://127.0.0.1:${http.port}`, admin: `http://127.0.0.1:${admin.port}` };
}

t.test('a node and a super node started with -c load only what their configuration uses', async (t) => {
  const fake = await startFakeOllama({ models: [{ name: 'llama3.2' }] });
  t.teardown(() => fake.destroy());
  const net = await startNetwork(t);
  const web = await net.startNode('web', ['  - { name: site, kind: http, local: "127.0.0.1:9" }']);
  const gpu = await net.startNode('gpu', [`  - { name: ollama, kind: ollama, local: "127.0.0.1:${fake.port}" }`]);

  const webModules = await loadedBy(web.run, web.log, 'proxima-client');
  ranBundled(t, webModules, 'proxima-client');
  t.ok(matching(webModules, '/dist/src/client/forwarder.js').length > 0, 'the log holds what the node loaded');
  // node:tls, node:https and node:dns load at a TLS dial, an earnings read over https, a name to look up: this node dials an address in plain TCP.
  for (const part of [
    '/node_modules/yargs',
    '/node_modules/undici/',
    '/client/status/status-server.js',
    'node:tls',
    'node:https',
    'esm node:dns', // node:net loads node:dns itself (its lookup), so only an import of ours would tell
  ])
    t.same(matching(webModules, part), [], `a node sharing one web service, status page off: no ${part}`);

  // A chat through the API: the node's guard and its connections to Ollama are in use, undici is still not.
  const answer = await postJson(`${net.base}/v1/chat/completions`, { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
  t.equal(answer.status, 200);
  const gpuModules = await loadedBy(gpu.run, gpu.log, 'proxima-client');
  t.ok(matching(gpuModules, '/client/ollama/model-discovery.js').length > 0, 'the Ollama node reads its models');
  for (const part of ['/node_modules/yargs', '/node_modules/undici/', '/client/status/status-server.js', 'node:http'])
    t.same(matching(gpuModules, part), [], `a node sharing its Ollama, status page off: no ${part}`);
  t.ok(matching(gpuModules, 'node:net').length > 0, 'the log holds the built-in modules too');

  const serverModules = await loadedBy(net.server, net.serverLog, 'proxima-server');
  ranBundled(t, serverModules, 'proxima-server');
  t.ok(matching(serverModules, '/dist/src/server/server.js').length > 0, 'the log holds what the super node loaded');
  const stores = [
    '/keys/postgres-key-store.js',
    '/ledger/postgres-ledger.js',
    '/presence/postgres-presence-store.js',
    '/registry/postgres-node-store.js',
  ];
  for (const part of ['/node_modules/yargs', '/node_modules/pg/', '/node_modules/prom-client/', ...stores])
    t.same(matching(serverModules, part), [], `a super node on its data folder, metrics on but never scraped: no ${part}`);
  t.ok(matching(serverModules, '/dist/src/http/h1-pool.js').length > 0, 'the super node sent the chat with its own HTTP client');
  t.same(matching(serverModules, '/node_modules/undici/'), [], 'a super node that served an API chat: no undici');
  t.ok(matching(serverModules, '/admin/dashboard/dashboard.js').length > 0, 'with an admin listener, the dashboard');
});

t.test('a super node with no admin listener loads no dashboard', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'server.yaml');
  const lines = ['domain: proxima.test', 'dataDir: ./data', 'control: { listen: "127.0.0.1:0" }', 'http: { listen: "127.0.0.1:0" }'];
  fs.writeFileSync(file, [...lines, 'admin: { listen: false }', ''].join('\n'));
  const log = path.join(dir, 'server-modules.txt');
  const server = startBin(t, 'proxima-server', ['-c', file], dir, { ...process.env, PROXIMA_MODULE_LOG: log }, MODULE_LOG);
  await logLine(server, 'listening');
  const modules = await loadedBy(server, log, 'proxima-server');
  ranBundled(t, modules, 'proxima-server');
  t.ok(matching(modules, '/dist/src/server/server.js').length > 0, 'the log holds what the super node loaded');
  for (const part of ['/admin/dashboard/', '/node_modules/prom-client/']) t.same(matching(modules, part), [], `no ${part}`);
  // node:tls (about 0.5 MiB) only with control.tls: imported where the control listener makes its TLS sockets.
  t.same(matching(modules, 'node:tls'), [], 'no control.tls: no node:tls');
  // node:http (about 1 MiB) only with an admin listener or peers: the API is served on the public connection.
  t.same(matching(modules, 'node:http'), [], 'no admin listener, no cluster: no node:http');
  t.ok(matching(modules, 'node:net').length > 0, 'the log holds the built-in modules too');
  // Each file of the bundle loaded is an import Node's loader resolves: 17 files at start made it hot
  // enough for TurboFan, 4 MiB of the idle super node (scripts/bundle.js, LAZY_GROUPS).
  t.same(
    matching(modules, 'esm file:///').filter((m) => m.includes('/node_modules/js-yaml/')),
    [],
    'js-yaml is inside the bundle (scripts/bundle.js, INSIDE)',
  );
  t.ok(
    matching(modules, 'bundled ').some((m) => m.includes('/node_modules/js-yaml/')),
    'loaded from the bundle',
  );
  const files = modules.filter((m) => m.startsWith('esm ') && m.includes('/dist/proxima-server/'));
  t.ok(files.length <= 6, `the idle super node loaded ${files.length} files of its bundle (at most 6)`);
});

t.test("the super node's PostgreSQL parts are one lazy chunk", async (t) => {
  const held = [...bundleSources('proxima-server').entries()].filter(([, sources]) =>
    sources.some((s) => /\/postgres-(pool|node-store|key-store|presence-store|ledger)\.js$/.test(s)),
  );
  t.equal(held.length, 1, held.map(([file]) => file).join(', '));
  const [file, sources] = held[0]!;
  t.match(file, /\/postgres-[^/]*\.js$/, 'a chunk of its own, loaded by import()');
  for (const part of [
    '/storage/postgres/postgres-pool.js',
    '/registry/postgres-node-store.js',
    '/keys/postgres-key-store.js',
    '/presence/postgres-presence-store.js',
    '/ledger/postgres-ledger.js',
    '/cli/store-migrate.js',
  ])
    t.equal(matching(sources, part).length, 1, `it holds ${part}`);
});

t.test('a super node loads prom-client at the first scrape of /metrics', async (t) => {
  const net = await startNetwork(t);
  const first = await fetch(`${net.admin}/metrics`);
  const text = await first.text();
  t.equal(first.status, 200);
  t.match(text, /^# HELP proxima_sessions_opened_total /, 'its own metrics first');
  t.match(text, /\nproxima_sessions_closed_total\{reason="closed"\} 0\n/);
  t.match(text, /\nproxima_tunnel_requests_total\{status_class="2xx"\} 0\n/);
  t.match(text, /\nnodejs_heap_size_total_bytes \d+\n/, 'then the process metrics');
  const again = await (await fetch(`${net.admin}/metrics`)).text();
  t.match(again, /\nproxima_nodes_registered 2\n/, 'the second scrape reads the gauges again');
  const serverModules = await loadedBy(net.server, net.serverLog, 'proxima-server');
  t.ok(matching(serverModules, '/node_modules/prom-client/').length > 0, 'prom-client is loaded once scraped');
});

t.test('the bundles are ASCII: V8 keeps a source with one non-Latin-1 character at two bytes a character', async (t) => {
  for (const program of ['proxima-server', 'proxima-client']) {
    for (const file of bundleSources(program).keys()) {
      const bytes = fs.readFileSync(new URL(file));
      t.equal(
        bytes.findIndex((b) => b > 0x7f),
        -1,
        `${path.basename(file)} of ${program}`,
      );
    }
  }
});
