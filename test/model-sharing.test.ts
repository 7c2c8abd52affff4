import t from 'tap';
import { startFakeOllama } from './fixtures/fake-ollama.js';
import { modelNames, startModelNode } from './fixtures/model-node.js';

t.test('proxima-client advertises exactly the shared models, with digests and maxConcurrent, and every change', async (t) => {
  const fake = await startFakeOllama();
  t.teardown(() => fake.destroy());
  const { port } = fake;
  const node = await startModelNode(t, { ollamaPort: port, share: ['llama3.2', 'QWEN2.5:0.5b', 'absent:7b'], maxConcurrent: 2, models: { refreshIntervalMs: 100 } });

  const first = await node.advertised();
  const advert = (name: string) => {
    const m = fake.models.find((model) => model.name === name)!;
    return {
      name, digest: m.digest, size: m.sizeBytes, modifiedAt: m.modifiedAt,
      details: { format: 'gguf', family: m.family, families: [m.family], parameter_size: m.parameterSize, quantization_level: m.quantizationLevel, parent_model: '' },
    };
  };
  t.same(first, [{
    name: 'ollama', kind: 'ollama', hostHeader: `localhost:${port}`, models: [advert('llama3.2:latest'), advert('qwen2.5:0.5b')], maxConcurrent: 2,
  }], 'the first advertisement already has the models: all-minilm is not shared, absent:7b is not there');

  fake.addModel({ name: 'absent:7b', parameterSize: '7B' });
  const added = await node.advertised((s) => modelNames(s[0]).includes('absent:7b'));
  t.same(modelNames(added[0]), ['absent:7b', 'llama3.2:latest', 'qwen2.5:0.5b']);
  t.equal(added[0]!.models![0]!.details!.parameter_size, '7B');

  fake.removeModel('llama3.2');
  const removed = await node.advertised((s) => !modelNames(s[0]).includes('llama3.2:latest'));
  t.same(modelNames(removed[0]), ['absent:7b', 'qwen2.5:0.5b']);

  await fake.destroy();
  const down = await node.advertised((s) => modelNames(s[0]).length === 0);
  t.same(down, [{ name: 'ollama', kind: 'ollama', hostHeader: `localhost:${port}`, models: [], maxConcurrent: 2 }], 'Ollama down: the service stays, without models');
  const back = await startFakeOllama({ port });
  t.teardown(() => back.destroy());
  const up = await node.advertised((s) => modelNames(s[0]).length > 0);
  t.same(modelNames(up[0]), ['llama3.2:latest', 'qwen2.5:0.5b'], 'back up: the models are back (the restarted fake has the default ones)');
  const warnings = node.client.lines.filter((l) => l.includes('cannot read the models of ollama'));
  t.equal(warnings.length, 1, 'the outage was logged once, however many reads failed');
  t.ok(node.client.lines.some((l) => l.includes('ollama answers again')));
  t.ok(back.requests.every((r) => r.path === '/api/tags' && r.host === `localhost:${port}`), 'discovery reads /api/tags with the Host Ollama wants');
});
