import t from 'tap';
import { answerTokens } from '../../../fixtures/fakes/ollama/api/answers.js';
import type { FakeOllama } from '../../../fixtures/fakes/ollama/fake-ollama.js';
import { rejection, startApiCluster } from '../../../fixtures/stacks/api-cluster.js';

/** The most requests `fake` ever had open at once, counted as each arrives. */
function trackPeak(fake: FakeOllama): { peak: number } {
  const seen = { peak: 0 };
  fake.on('request', () => (seen.peak = Math.max(seen.peak, fake.inFlight)));
  return seen;
}

t.test('100 concurrent requests, three nodes of maxConcurrent 2: never more than 2 in flight on a node, all complete', async (t) => {
  const model = { name: 'llama3.2', answerTokens: 3, tokenIntervalMs: 5 };
  const cluster = await startApiCluster(t, {
    nodes: ['alpha', 'beta', 'gamma'].map((name) => ({ name, models: [model], maxConcurrent: 2 })),
    routing: { maxQueued: 200, maxQueueWaitMs: 60_000 },
  });
  const peaks = Object.values(cluster.fakes).map(trackPeak);
  const client = cluster.openai();
  const prompts = Array.from({ length: 100 }, (_, i) => `question ${i}`);
  const answers = await Promise.all(
    prompts.map(async (content, i) => {
      const messages = [{ role: 'user' as const, content }];
      if (i % 2 === 0) return (await client.chat.completions.create({ model: 'llama3.2', messages })).choices[0]!.message.content;
      let text = '';
      for await (const chunk of await client.chat.completions.create({ model: 'llama3.2', messages, stream: true }))
        text += chunk.choices[0]?.delta?.content ?? '';
      return text;
    }),
  );
  t.same(
    answers,
    prompts.map((p) => answerTokens({ model: 'llama3.2:latest', prompt: `user: ${p}` }, 3).join('')),
    'every answer complete and right',
  );
  t.same(
    peaks.map((p) => p.peak <= 2),
    [true, true, true],
    `peaks in flight: ${peaks.map((p) => p.peak).join(', ')}`,
  );
  const served = Object.values(cluster.fakes).map((f) => f.requests.filter((r) => r.path === '/v1/chat/completions').length);
  t.equal(
    served.reduce((a, b) => a + b, 0),
    100,
    `each request went to one node: ${served.join(' + ')}`,
  );
  t.ok(
    served.every((n) => n > 0),
    'every node took a share',
  );
  const router = cluster.server.models.router;
  t.same(
    [router.queued, ...['alpha', 'beta', 'gamma'].map((n) => router.inFlight(n, 'ollama'))],
    [0, 0, 0, 0],
    'nothing left waiting or held',
  );
  const records = await Promise.all(prompts.map(() => cluster.nextUsage()));
  t.equal(records.filter((r) => r.outcome === 'ok').length, 100, 'one ok record per request');
});

t.test('all busy and no room to wait: 503 with Retry-After, in the shape of each API', async (t) => {
  const cluster = await startApiCluster(t, {
    nodes: [{ name: 'alpha', models: [{ name: 'llama3.2', answerTokens: 2 }], maxConcurrent: 1 }],
    routing: { maxQueued: 0, retryAfterMs: 3000 },
  });
  const fake = cluster.fakes.alpha!;
  fake.setFaults({ stallForever: true, times: 1 });
  const client = cluster.openai();
  const messages = [{ role: 'user' as const, content: 'hi' }];
  const busy = new AbortController();
  const holding = client.chat.completions.create({ model: 'llama3.2', messages }, { signal: busy.signal }).catch(() => undefined);
  await fake.nextRequest((r) => r.path === '/v1/chat/completions'); // not the node's /api/tags
  const refused = await rejection(t, client.chat.completions.create({ model: 'llama3.2', messages }));
  t.same(
    [refused.status, refused.code, refused.headers.get('retry-after'), refused.headers.get('proxima-error')],
    [503, 'model_overloaded', '3', 'PRX_ERR_NODES_BUSY'],
  );
  const native = await rejection(t, cluster.ollama().chat({ model: 'llama3.2', messages }));
  t.same([native.status_code, native.error], [503, 'every node sharing llama3.2:latest is busy: the wait queue is full']);
  t.equal(
    fake.requests.filter((r) => r.path.endsWith('/chat/completions') || r.path === '/api/chat').length,
    1,
    'the node saw only the first',
  );
  busy.abort();
  await holding;
  await cluster.nextUsage();
  const answer = await client.chat.completions.create({ model: 'llama3.2', messages });
  t.equal(answer.choices[0]!.finish_reason, 'stop', 'the slot came back when its user left');
});
