import t from 'tap';
import { canonicalModelName, displayName, modelKey, modelOwner, sameModel } from '../../../src/proto/llm/model-name.js';

t.test('the defaults Ollama fills in: registry, namespace and tag', async (t) => {
  t.equal(canonicalModelName('llama3.2'), 'registry.ollama.ai/library/llama3.2:latest');
  t.equal(canonicalModelName('qwen2.5:0.5b'), 'registry.ollama.ai/library/qwen2.5:0.5b');
  t.equal(canonicalModelName('me/tuned:v2'), 'registry.ollama.ai/me/tuned:v2');
  t.equal(canonicalModelName('hf.co/bartowski/Llama-3.2-1B-GGUF:Q4_K_M'), 'hf.co/bartowski/llama-3.2-1b-gguf:q4_k_m');
  t.equal(canonicalModelName('localhost:5000/me/m'), 'localhost:5000/me/m:latest', "a host's port is not a tag");
  t.equal(canonicalModelName('llama3.2:'), 'registry.ollama.ai/library/llama3.2:latest', 'an empty tag is the default');
});

t.test('names of one model are the same model; others are not', async (t) => {
  for (const other of ['llama3.2:latest', 'LLAMA3.2', 'library/llama3.2', 'registry.ollama.ai/library/llama3.2:latest', ' llama3.2 ']) {
    t.ok(sameModel('llama3.2', other), other);
  }
  for (const other of ['llama3.2:3b', 'llama3.1', 'me/llama3.2', 'llama3.2@sha256:abc', 'x/../llama3.2', 'other.host/library/llama3.2']) {
    t.notOk(sameModel('llama3.2', other), other);
  }
});

t.test('model names: keys as Ollama matches them, short names for lists, owners', async (t) => {
  t.equal(modelKey('Llama3.2'), 'registry.ollama.ai/library/llama3.2:latest');
  t.equal(modelKey('registry.ollama.ai/library/llama3.2:latest'), modelKey('llama3.2'));
  for (const bad of ['', '  ', 'a b', 'a//b', '/a', 'x@sha256:1', 42, null, 'x'.repeat(257)])
    t.equal(modelKey(bad), undefined, JSON.stringify(bad));
  t.same(
    ['llama3.2', 'me/tuned:v2', 'hf.co/u/m:q4'].map((n) => displayName(modelKey(n)!)),
    ['llama3.2:latest', 'me/tuned:v2', 'hf.co/u/m:q4'],
  );
  t.same(
    ['llama3.2', 'me/tuned:v2', 'hf.co/u/m:q4'].map((n) => modelOwner(modelKey(n)!)),
    ['library', 'me', 'u'],
  );
});
