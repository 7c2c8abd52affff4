import t from 'tap';
import { displayName, modelKey, modelOwner } from '../../../src/server/models/model-name.js';

t.test('model names: keys as Ollama matches them, short names for lists, owners', async (t) => {
  t.equal(modelKey('Llama3.2'), 'registry.ollama.ai/library/llama3.2:latest');
  t.equal(modelKey('registry.ollama.ai/library/llama3.2:latest'), modelKey('llama3.2'));
  for (const bad of ['', '  ', 'a b', 'a//b', '/a', 'x@sha256:1', 42, null, 'x'.repeat(257)]) t.equal(modelKey(bad), undefined, JSON.stringify(bad));
  t.same(['llama3.2', 'me/tuned:v2', 'hf.co/u/m:q4'].map((n) => displayName(modelKey(n)!)), ['llama3.2:latest', 'me/tuned:v2', 'hf.co/u/m:q4']);
  t.same(['llama3.2', 'me/tuned:v2', 'hf.co/u/m:q4'].map((n) => modelOwner(modelKey(n)!)), ['library', 'me', 'u']);
});
