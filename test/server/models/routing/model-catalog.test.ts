import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { silentLogger } from '../../../../src/log.js';
import type { ModelAdvert, ServiceAdvert } from '../../../../src/proto/control/messages.js';
import { openNodeStream } from '../../../../src/server/control/node-stream.js';
import { ModelCatalog, type ModelNode } from '../../../../src/server/models/routing/model-catalog.js';
import { startPublicListener } from '../../../../src/server/public/public-listener.js';
import { connectNode, register, startServer, tempDir, testServerConfig } from '../../../fixtures/stacks/control-plane.js';
import { postJson, rawRequest } from '../../../fixtures/wire/raw-http.js';

/** A node session as the catalog sees one. */
function node(name: string, services: ServiceAdvert[]): ModelNode & { online: boolean } {
  return {
    name,
    services,
    online: true,
    openStream: () => {
      throw new Error('not here');
    },
  };
}

const LLAMA: ModelAdvert = { name: 'llama3.2:latest', digest: 'a'.repeat(64), details: { parameter_size: '3.2B' } };
const QWEN: ModelAdvert = { name: 'qwen2.5:0.5b', digest: 'b'.repeat(64) };

async function openCatalog(records: { name: string; models?: unknown }[] = []) {
  const nodes = new EventEmitter<{ advertised: [ModelNode]; draining: [ModelNode]; closed: [ModelNode] }>();
  const registry = new EventEmitter<{ revoked: [string] }>();
  const remembered: [string, readonly ModelAdvert[]][] = [];
  const memory = Object.assign(registry, {
    list: async () => records,
    rememberModels: async (name: string, models: readonly ModelAdvert[]) => void remembered.push([name, models]),
  });
  const catalog = await ModelCatalog.open({ nodes, memory, logger: silentLogger });
  t.teardown(() => catalog.close());
  return { catalog, nodes, registry, remembered };
}

const KEY = 'registry.ollama.ai/library/llama3.2:latest';

t.test('the union of ollama services, by normalised name; a node that leaves or drains is offline', async (t) => {
  const { catalog, nodes, remembered } = await openCatalog();
  const alpha = node('alpha', [
    { name: 'web', kind: 'http' },
    { name: 'ollama', kind: 'ollama', models: [LLAMA, QWEN], maxConcurrent: 2 },
  ]);
  const beta = node('beta', [
    { name: 'gpu', kind: 'ollama', hostHeader: 'localhost:9999', models: [{ name: 'LLAMA3.2', digest: 'c'.repeat(64) }] },
  ]);
  nodes.emit('advertised', alpha);
  nodes.emit('advertised', beta);
  const found = catalog.lookup(KEY);
  t.equal(found.status, 'online');
  t.same(
    found.status === 'online' && found.hosts.map((h) => [h.node.name, h.service, h.hostHeader, h.maxConcurrent]),
    [
      ['alpha', 'ollama', 'localhost:11434', 2],
      ['beta', 'gpu', 'localhost:9999', 1],
    ],
    'Host and maxConcurrent default as Ollama needs',
  );
  t.same(
    catalog.online().map((m) => [m.key, m.hosts.length]),
    [
      [KEY, 2],
      ['registry.ollama.ai/library/qwen2.5:0.5b', 1],
    ],
  );
  t.same(
    remembered.map(([name, models]) => [name, models.length]),
    [
      ['alpha', 2],
      ['beta', 1],
    ],
    'each advertisement is kept',
  );
  nodes.emit('advertised', alpha);
  t.equal(remembered.length, 2, 'the same models again are not written again');
  beta.online = false;
  nodes.emit('draining', beta);
  t.equal(
    catalog.lookup(KEY).status === 'online' && (catalog.lookup(KEY) as { hosts: unknown[] }).hosts.length,
    1,
    'a draining node takes no new work',
  );
  nodes.emit('closed', alpha);
  t.same(catalog.lookup(KEY), { status: 'offline' }, 'only offline nodes have it: 503, not 404');
  t.same(catalog.lookup('registry.ollama.ai/library/mistral:latest'), { status: 'unknown' });
});

t.test('a replaced session: the old one closing changes nothing; revoking forgets the node', async (t) => {
  const { catalog, nodes, registry } = await openCatalog([{ name: 'gamma', models: [QWEN] }, { name: 'delta' }]);
  t.same(catalog.lookup('registry.ollama.ai/library/qwen2.5:0.5b'), { status: 'offline' }, 'remembered from the registry at start');
  const first = node('alpha', [{ name: 'ollama', kind: 'ollama', models: [LLAMA] }]);
  const second = node('alpha', [{ name: 'ollama', kind: 'ollama', models: [LLAMA] }]);
  nodes.emit('advertised', first);
  nodes.emit('advertised', second);
  nodes.emit('closed', first);
  const found = catalog.lookup(KEY);
  t.ok(found.status === 'online' && found.hosts[0]!.node === second, 'the new session serves');
  registry.emit('revoked', 'alpha');
  registry.emit('revoked', 'gamma');
  t.same([catalog.lookup(KEY), catalog.lookup('registry.ollama.ai/library/qwen2.5:0.5b')], [{ status: 'unknown' }, { status: 'unknown' }]);
});

t.test('the last advertisement survives a restart: a model only an offline node shares is 503, not 404', async (t) => {
  const dataDir = tempDir(t);
  const config = testServerConfig(dataDir, { api: { open: true } });
  const start = () => startServer(t, { dataDir, config, openStream: openNodeStream, publicListener: startPublicListener });
  const server = await start();
  const token = await register(server, 'alpha');
  const changed = new Promise<void>((resolve) => server.models.catalog.once('change', () => resolve()));
  const connection = await connectNode(t, server, 'alpha', { token, services: [{ name: 'ollama', kind: 'ollama', models: [LLAMA] }] });
  await changed;
  t.equal(server.models.catalog.lookup(KEY).status, 'online');
  await connection.close();
  await server.close();
  const stored = JSON.parse(fs.readFileSync(path.join(dataDir, 'nodes.json'), 'utf8')) as { nodes: Record<string, { models?: unknown }> };
  t.same(stored.nodes.alpha!.models, [LLAMA], 'kept in the node record');

  const again = await start();
  const url = `http://127.0.0.1:${again.httpAddress()!.port}`;
  const chat = await postJson(`${url}/v1/chat/completions`, { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
  t.same(
    [chat.status, JSON.parse(chat.text).error.code, chat.headers['proxima-error']],
    [503, 'model_unavailable', 'PRX_ERR_MODEL_UNAVAILABLE'],
  );
  t.equal((await rawRequest(`${url}/v1/models/llama3.2`)).status, 503);
  const other = await postJson(`${url}/api/chat`, { model: 'mistral', messages: [] });
  t.same([other.status, JSON.parse(other.text)], [404, { error: 'no node shares the model mistral:latest' }]);
});

t.test('a node that advertises no models (its Ollama down at start) keeps its remembered ones: offline, not unknown', async (t) => {
  const { catalog, nodes, remembered } = await openCatalog([{ name: 'alpha', models: [LLAMA] }]);
  nodes.emit('advertised', node('alpha', [{ name: 'ollama', kind: 'ollama', models: [] }]));
  t.equal(catalog.lookup(KEY).status, 'offline', '503, not 404');
  t.same(remembered, [], 'the memory is not overwritten with nothing');
  nodes.emit('advertised', node('alpha', [{ name: 'ollama', kind: 'ollama', models: [QWEN] }]));
  t.equal(catalog.lookup(KEY).status, 'unknown', 'a real list replaces it: a model it stopped sharing is unknown');
});
