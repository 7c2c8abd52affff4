import path from 'node:path';
import t from 'tap';
import { loadClientConfig } from '../../src/client/config.js';
import { loadServerConfig } from '../../src/server/config.js';
import { yamlFilesIn } from '../fixtures/config-fixtures.js';
import { repoPath } from '../fixtures/paths.js';

// config/nginx/ belongs to the nginx examples; only the files directly in config/ are ours.
const examples = yamlFilesIn(repoPath('config'));

t.test('config/ ships a server.yaml and a client.yaml', async (t) => {
  const names = examples.map((f) => path.basename(f));
  t.ok(names.includes('server.yaml'));
  t.ok(names.includes('client.yaml'));
});

t.test('every example in config/ validates with the loader its name calls for', async (t) => {
  for (const file of examples) {
    const name = path.basename(file);
    if (name.startsWith('server')) t.doesNotThrow(() => loadServerConfig(file), name);
    else if (name.startsWith('client')) t.doesNotThrow(() => loadClientConfig(file), name);
    else t.fail(`${name}: example names start with server or client, so the right loader checks them`);
  }
});

t.test('the client example with no services shares the local Ollama', async (t) => {
  const c = loadClientConfig(repoPath('config/client-minimal.yaml'));
  t.same(
    c.services.map((s) => [s.name, s.kind, s.local.port, s.hostHeader]),
    [['ollama', 'ollama', 11434, 'localhost:11434']],
  );
});

t.test('the documented server.yaml states the embedded defaults', async (t) => {
  const documented = loadServerConfig(repoPath('config/server.yaml'));
  const embedded = loadServerConfig();
  t.same({ ...documented, dataDir: '' }, { ...embedded, dataDir: '' });
  t.equal(documented.dataDir, repoPath('config', 'data'), 'dataDir is relative to the file');
});
