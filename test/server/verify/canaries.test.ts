import t from 'tap';
import { modelKey } from '../../../src/proto/llm/model-name.js';
import { startApiCluster } from '../../fixtures/stacks/api-cluster.js';
import { routingTarget } from '../../fixtures/stacks/routing-target.js';

const MODEL = { name: 'llama3.2:latest', digest: 'a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72', answerTokens: 12 };
const REWARDS = {
  canaryShare: 1,
  newNodeCanaryShare: 1,
  canaryMaxTokens: 6,
  maxTokensPerSecond: 1_000_000,
  maxTokensPerSecondAt1B: 10_000_000,
};

t.test('a canary goes to the node as a user request would, and a reference node answers the same prompt', async (t) => {
  const target = routingTarget();
  const cluster = await startApiCluster(t, {
    nodes: [
      { name: 'alpha', models: [MODEL] },
      { name: 'beta', models: [MODEL] },
    ],
    rewards: REWARDS,
    random: target.random,
  });
  target.attach(cluster.server, modelKey(MODEL.name)!);
  target.node = 'alpha';
  const user = cluster.fakes.alpha!.nextRequest((r) => r.path === '/v1/chat/completions');
  await cluster.openai().chat.completions.create({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true });
  const userRequest = await user;
  const canaryRequest = await cluster.fakes.alpha!.nextRequest((r) => r.path === '/v1/chat/completions');
  const outcome = await cluster.canary(() => true);

  t.same(Object.keys(canaryRequest.headers).sort(), Object.keys(userRequest.headers).sort(), 'the same headers');
  t.equal(canaryRequest.headers['user-agent'], userRequest.headers['user-agent']);
  t.not(canaryRequest.headers['x-request-id'], userRequest.headers['x-request-id']);
  const body = canaryRequest.body as Record<string, unknown>;
  t.match(body, { model: 'llama3.2:latest', stream: true, stream_options: { include_usage: true }, temperature: 0, max_tokens: 6 });
  t.type(body.seed, 'number');
  const reference = await cluster.fakes.beta!.nextRequest((r) => r.path === '/v1/chat/completions');
  t.same(reference.body, body, 'the reference node got the very same request');
  t.not(reference.headers['x-request-id'], canaryRequest.headers['x-request-id']);

  t.equal(outcome.verdict?.passed, true);
  t.equal(outcome.verdict?.reference, 'beta');
  t.equal(outcome.verdict?.requestId, outcome.request.id);
  t.match(outcome.request, {
    node: 'alpha',
    keyId: null,
    keyOwner: [],
    outcome: 'ok',
    completionTokensReported: 6,
    canary: { reference: 'beta', digest: MODEL.digest, passed: true },
  });
  t.equal(outcome.flag, null);
  t.equal(
    cluster.server.models.router.inFlight('alpha', 'ollama') + cluster.server.models.router.inFlight('beta', 'ollama'),
    0,
    'every slot given back',
  );
});

t.test('two nodes that disagree: undecided, so an honest node never pays for a liar it cannot be told from', async (t) => {
  const target = routingTarget();
  const cluster = await startApiCluster(t, {
    nodes: [
      { name: 'honest', models: [MODEL] },
      { name: 'liar', models: [MODEL], fake: { faults: { serveModel: 'mistral:7b' } } },
    ],
    rewards: REWARDS,
    random: target.random,
  });
  target.attach(cluster.server, modelKey(MODEL.name)!);
  for (const node of ['honest', 'liar']) {
    target.node = node;
    await cluster.ollama().generate({ model: 'llama3.2', prompt: 'hello', stream: false });
    const outcome = await cluster.canary((o) => o.request.node === node);
    t.equal(outcome.verdict, null, `${node}: no verdict`);
    t.equal(outcome.flag, null);
    t.match(outcome.request.canary, { passed: null, reference: node === 'honest' ? 'liar' : 'honest' });
  }
});

t.test('no canary when the share is 0', async (t) => {
  const cluster = await startApiCluster(t, {
    nodes: [
      { name: 'alpha', models: [MODEL] },
      { name: 'beta', models: [MODEL] },
    ],
  });
  await cluster.openai().chat.completions.create({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
  await cluster.nextUsage();
  t.equal(cluster.server.checks.canaries.inFlight, 0);
  await cluster.server.close();
  t.equal(cluster.canaries.length, 0);
  t.equal(
    cluster.fakes.alpha!.requests.filter((r) => r.method === 'POST').length +
      cluster.fakes.beta!.requests.filter((r) => r.method === 'POST').length,
    1,
  );
});

t.test('no canary for a node no other node can be compared with (its digest is served by none other)', async (t) => {
  const other = { ...MODEL, digest: 'b'.repeat(64) };
  const cluster = await startApiCluster(t, {
    nodes: [
      { name: 'alpha', models: [MODEL] },
      { name: 'beta', models: [other] },
    ],
    rewards: REWARDS,
  });
  for (let i = 0; i < 3; i++) {
    await cluster.openai().chat.completions.create({ model: 'llama3.2', messages: [{ role: 'user', content: `hi ${i}` }] });
    await cluster.nextUsage();
    t.equal(cluster.server.checks.canaries.inFlight, 0, 'none started');
  }
  await cluster.server.close();
  t.equal(cluster.canaries.length, 0, 'no canary written');
  const posts =
    cluster.fakes.alpha!.requests.filter((r) => r.method === 'POST').length +
    cluster.fakes.beta!.requests.filter((r) => r.method === 'POST').length;
  t.equal(posts, 3, "the nodes saw only the users' requests");
});
