/**
 * Routing that knows health, with the real proxima-server and proxima-client processes in front of
 * fake Ollamas: a node failing every request is taken out by its breaker after `failures` in a row
 * and gets one trial after the cooldown; a node flagged by a canary gets no users; a node whose
 * Ollama is down makes its models unavailable (503 with Retry-After), not unknown, and they stay listed.
 */
import { performance } from 'node:perf_hooks';
import t, { type Test } from 'tap';
import { type FakeOllama, startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { logLine } from '../../fixtures/processes/bin-process.js';
import { startProcessNetwork } from '../../fixtures/stacks/process-network.js';

const CHAT = { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] };

async function fake(t: Test, options: Parameters<typeof startFakeOllama>[0] = {}) {
  const f = await startFakeOllama({ models: [{ name: 'llama3.2', answerTokens: 4 }], ...options });
  t.teardown(() => f.destroy());
  return f;
}

/** Inference requests a fake received (probes and listings left out). */
const served = (f: FakeOllama): number => f.requests.filter((r) => r.method === 'POST').length;

t.test('a node failing every request: its breaker opens after 2, it gets nothing for the cooldown, then one trial', async (t) => {
  const fakes = { alpha: await fake(t), beta: await fake(t), gamma: await fake(t, { faults: { errorBeforeFirstByte: {} } }) };
  const net = await startProcessNetwork(t, fakes, [
    // Every request is the same conversation: without affinityEntries 0 it would stay on its first node.
    'routing: { affinityEntries: 0, breaker: { failures: 2, cooldownMs: 5s, maxCooldownMs: 1m } }',
    'rewards: { canaryShare: 0, newNodeCanaryShare: 0, probeIntervalMs: 1h }',
  ]);
  const statuses = new Map<number, number>();
  const ask = async (): Promise<string> => {
    const res = await net.post('/v1/chat/completions', CHAT);
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    return String(res.headers['x-proxima-node']);
  };
  let before = 0;
  // The breaker trips during the request that reached gamma the second time: after that request started.
  let trippedMs = 0;
  for (let i = 0; i < 200 && served(fakes.gamma) < 2; i++) {
    trippedMs = performance.now();
    await ask();
  }
  t.equal(served(fakes.gamma), 2, 'gamma failed twice (each time retried on another node)');
  t.match(await logLine(net.server, 'a node service failed: its breaker is open'), {
    level: 'warn',
    node: 'gamma',
    service: 'ollama',
    trips: 1,
  });
  const open: string[] = [];
  for (let i = 0; i < 30; i++) open.push(await ask());
  t.ok(performance.now() - trippedMs < 5_000, 'the 30 requests came within the cooldown');
  t.equal(served(fakes.gamma), 2, 'its breaker is open: gamma got none of 30 requests');
  t.notOk(open.includes('gamma'));
  before = served(fakes.gamma);
  let asked = 0;
  while (served(fakes.gamma) === before && asked < 5_000) {
    await ask();
    asked++;
  }
  const trialMs = performance.now() - trippedMs;
  t.equal(served(fakes.gamma), before + 1, 'after the cooldown: one trial');
  t.ok(trialMs >= 5_000, `not before the cooldown (${Math.round(trialMs)} ms after the trip)`);
  for (let i = 0; i < 30; i++) await ask();
  t.equal(served(fakes.gamma), before + 1, 'the trial failed: open again, for longer');
  t.match(
    await logLine(net.server, 'a node service failed: its breaker is open', (l) => l.trips === 2),
    { node: 'gamma', cooldownMs: Number },
    'the second trip is logged, with its longer cooldown',
  );
  t.same([...statuses], [[200, statuses.get(200)]], 'users never saw gamma fail: every answer was 200');
  t.comment(`trial ${Math.round(trialMs)} ms after the trip; ${asked + 61} requests after the first trip, 1 needed a retry`);
});

t.test('a node flagged by a canary gets no user requests; for a model only it shares, users get 503', async (t) => {
  const honest = [{ name: 'llama3.2', answerTokens: 4 }];
  const fakes = {
    alpha: await fake(t, { models: honest }),
    beta: await fake(t, { models: honest }),
    cheat: await fake(t, { models: [...honest, { name: 'qwen2.5:0.5b', answerTokens: 4 }], faults: { serveModel: 'mistral:7b' } }),
  };
  const net = await startProcessNetwork(t, fakes, [
    'routing: { affinityEntries: 0 }', // the same conversation each time: spread it over the nodes
    'rewards: { canaryShare: 1, newNodeCanaryShare: 1, probeIntervalMs: 1h }',
  ]);
  let flagged = false;
  const flag = logLine(net.server, 'node flagged: it failed a canary', (l) => l.node === 'cheat').then((l) => {
    flagged = true;
    return l;
  });
  for (let i = 0; i < 300 && !flagged; i++) await net.post('/v1/chat/completions', CHAT);
  t.match(await flag, { level: 'warn', node: 'cheat' });
  const before = served(fakes.cheat);
  const nodes = new Set<string>();
  for (let i = 0; i < 30; i++) {
    const res = await net.post('/v1/chat/completions', CHAT);
    t.equal(res.status, 200);
    nodes.add(String(res.headers['x-proxima-node']));
  }
  t.equal(served(fakes.cheat), before, 'cheat got none of 30 requests (nor canaries, nor reference calls)');
  t.notOk(nodes.has('cheat'));
  const only = await net.post('/v1/chat/completions', { ...CHAT, model: 'qwen2.5:0.5b' });
  t.equal(only.status, 503, 'the only node with the model is flagged: 503, not its answer');
  t.equal(only.headers['retry-after'], '5');
  t.match(JSON.parse(only.text), { error: { code: 'model_unavailable', type: 'server_error' } });
  const native = await net.post('/api/chat', { ...CHAT, model: 'qwen2.5:0.5b', stream: false });
  t.equal(native.status, 503);
  t.match(JSON.parse(native.text), { error: /qwen2\.5:0\.5b/ });
  t.equal(served(fakes.cheat), before, 'still nothing reached cheat');
});

t.test('a node whose Ollama is down: its models are unavailable (503 with Retry-After, both shapes), and still listed', async (t) => {
  const solo = await fake(t);
  const net = await startProcessNetwork(t, { solo }, [
    'routing: { breaker: { failures: 2 } }',
    'rewards: { canaryShare: 0, newNodeCanaryShare: 0 }',
  ]);
  await solo.destroy();
  // The first two reach the node's guard (502 PRX_ERR_TARGET_UNREACHABLE there); then the breaker is open.
  for (let i = 0; i < 4; i++) {
    const openai = await net.post('/v1/chat/completions', CHAT);
    t.equal(openai.status, 503, `openai ${i}`);
    t.equal(openai.headers['retry-after'], '5');
    t.equal(openai.headers['proxima-error'], 'PRX_ERR_MODEL_UNAVAILABLE');
    t.match(JSON.parse(openai.text), { error: { code: 'model_unavailable', type: 'server_error', message: String } });
    const ollama = await net.post('/api/chat', { ...CHAT, stream: false });
    t.equal(ollama.status, 503, `ollama ${i}`);
    t.equal(ollama.headers['retry-after'], '5');
    t.match(JSON.parse(ollama.text), { error: /solo is down|llama3\.2/ });
    t.equal(typeof JSON.parse(ollama.text).error, 'string', "Ollama's shape: the error is a string");
  }
  const models = JSON.parse((await net.get('/v1/models')).text) as { data: { id: string }[] };
  t.same(
    models.data.map((m) => m.id),
    ['llama3.2:latest'],
    '/v1/models keeps the model during the grace',
  );
  const tags = JSON.parse((await net.get('/api/tags')).text) as { models: { name: string }[] };
  t.same(
    tags.models.map((m) => m.name),
    ['llama3.2:latest'],
  );
  const unknown = await net.post('/v1/chat/completions', { ...CHAT, model: 'nobody-has:1b' });
  t.equal(unknown.status, 404, 'a model nobody shares is still unknown');
  t.match(JSON.parse(unknown.text), { error: { code: 'model_not_found' } });
});
