import { APIError, InternalServerError } from 'openai';
import t, { type Test } from 'tap';
import { answerTokens } from '../../fixtures/fakes/ollama/api/answers.js';
import type { FakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { type ApiCluster, collect, rejection, startApiCluster, TEST_KEY } from '../../fixtures/stacks/api-cluster.js';
import { openRequest, readAll } from '../../fixtures/wire/raw-http.js';

const HI = [{ role: 'user' as const, content: 'hi' }];
const ANSWER = answerTokens({ model: 'llama3.2:latest', prompt: 'user: hi' }, 4).join('');
const LLAMA = 'registry.ollama.ai/library/llama3.2:latest';
const AUTH = { Authorization: `Bearer ${TEST_KEY}` };

/** The node the router picks first when all are idle (random() is 0: the first host of the catalog). */
function firstChoice(cluster: ApiCluster): { name: string; fake: FakeOllama; other: FakeOllama } {
  const found = cluster.server.models.catalog.lookup(LLAMA);
  if (found.status !== 'online') throw new Error('llama3.2 is not online');
  const name = found.hosts[0]!.node.name;
  const otherName = name === 'alpha' ? 'beta' : 'alpha';
  return { name, fake: cluster.fakes[name]!, other: cluster.fakes[otherName]! };
}

/** A streamed chat sent raw, so a test sees every byte. */
function rawStream(cluster: ApiCluster, path = '/v1/chat/completions', body: object = { model: 'llama3.2', messages: HI, stream: true }) {
  return openRequest(`${cluster.baseUrl}${path}`, { method: 'POST', body: JSON.stringify(body), headers: AUTH });
}

async function startFaultCluster(t: Test): Promise<ApiCluster> {
  return startApiCluster(t, {
    nodes: [
      { name: 'alpha', models: [{ name: 'llama3.2', answerTokens: 4 }] },
      { name: 'beta', models: [{ name: 'llama3.2', answerTokens: 4 }] },
    ],
    api: { keepAliveIntervalMs: 50 },
    // The same node fails on purpose again and again here: its breaker must not take it out of service.
    routing: { firstByteTimeoutMs: 1500, idleTimeoutMs: 400, retryAfterMs: 2000, breaker: { failures: 1000 } },
    random: () => 0,
  });
}

t.test('faults of the nodes, as users see them', async (t) => {
  const cluster = await startFaultCluster(t);
  const client = cluster.openai();

  t.test('slow first token: SSE keep-alives arrive first, then the whole answer', async (t) => {
    const { name, fake } = firstChoice(cluster);
    fake.setFaults({ firstTokenDelayMs: 300, times: 1 });
    const res = await rawStream(cluster);
    t.same(
      [res.status, res.headers['content-type'], res.headers['x-proxima-node']],
      [200, 'text/event-stream', name],
      'the head left with the first keep-alive',
    );
    const text = (await readAll(res.res)).toString('utf8');
    t.match(text, /^(: keep-alive\n\n)+data: /, 'keep-alive comments before the first event');
    t.match(text, /data: \[DONE\]\n\n$/);
    t.match(await cluster.nextUsage(), { node: name, outcome: 'ok', completionTokensObserved: 4 });
    fake.setFaults({ firstTokenDelayMs: 300, times: 1 });
    const chunks = await collect(await client.chat.completions.create({ model: 'llama3.2', messages: HI, stream: true }));
    t.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), ANSWER, 'the openai client ignores the comments');
    await cluster.nextUsage();
  });

  t.test('a mid-stream failure on /v1 (Ollama swallows it): an in-band error, the openai client throws', async (t) => {
    const { fake } = firstChoice(cluster);
    fake.setFaults({ midStreamErrorAfterTokens: 2, times: 1 });
    const stream = await client.chat.completions.create({ model: 'llama3.2', messages: HI, stream: true });
    const seen: string[] = [];
    const err = await rejection(
      t,
      (async () => {
        for await (const chunk of stream) seen.push(chunk.choices[0]?.delta?.content ?? '');
      })(),
    );
    t.ok(err instanceof APIError, 'APIError from the in-band error event');
    t.equal(err.code, 'node_error');
    t.equal(
      seen.join(''),
      answerTokens({ model: 'llama3.2:latest', prompt: 'user: hi' }, 2).join(''),
      'what came before the failure was delivered',
    );
    const record = await cluster.nextUsage();
    t.match(record, { outcome: 'node_error', finishReason: null, completionTokensObserved: 2 });
  });

  t.test('a mid-stream error line on /api: passed on, and ollama-js throws it', async (t) => {
    const { fake } = firstChoice(cluster);
    fake.setFaults({ midStreamErrorAfterTokens: 1, midStreamErrorMessage: 'the runner crashed', times: 1 });
    const err = await rejection(
      t,
      (async () => {
        for await (const _ of await cluster.ollama().chat({ model: 'llama3.2', messages: HI, stream: true })) void _;
      })(),
    );
    t.equal(err.message, 'the runner crashed');
    t.match(await cluster.nextUsage(), { route: '/api/chat', outcome: 'node_error', completionTokensObserved: 1 });
  });

  t.test('a reset before the first byte: retried on another node', async (t) => {
    const { name, fake, other } = firstChoice(cluster);
    fake.setFaults({ resetAfterTokens: 0, times: 1 });
    const before = other.requests.length;
    const { data, response } = await client.chat.completions.create({ model: 'llama3.2', messages: HI }).withResponse();
    t.equal(data.choices[0]!.message.content, ANSWER);
    t.not(response.headers.get('x-proxima-node'), name, 'the other node answered');
    t.ok(fake.requests.at(-1)!.resetByServer, 'the first node was tried and reset');
    t.equal(other.requests.length, before + 1);
    t.match(
      await cluster.nextUsage(),
      { node: response.headers.get('x-proxima-node'), outcome: 'ok' },
      'one record, for the node that answered',
    );
  });

  t.test('503 (queue full) and 500 before any body: retried on another node', async (t) => {
    for (const fault of [
      { queueFull: true, times: 1 },
      { errorBeforeFirstByte: { status: 500, message: 'llama runner process has terminated' }, times: 1 },
    ]) {
      const { name, fake } = firstChoice(cluster);
      fake.setFaults(fault);
      const { response } = await client.chat.completions.create({ model: 'llama3.2', messages: HI }).withResponse();
      t.not(response.headers.get('x-proxima-node'), name, `${JSON.stringify(fault)}: the other node answered`);
      t.equal(fake.requests.at(-1)!.status, fault.queueFull ? 503 : 500);
      t.match(await cluster.nextUsage(), { outcome: 'ok' });
    }
  });

  t.test('a reset mid-stream: never retried, an in-band error ends the stream', async (t) => {
    const { name, fake, other } = firstChoice(cluster);
    // A reset may overtake the bytes before it (the kernel drops what was not read): the first token
    // comes well before it, so the user surely has a byte when the reset comes.
    fake.setFaults({ resetAfterTokens: 2, interTokenDelayMs: 100, times: 1 });
    const before = other.requests.length;
    const res = await rawStream(cluster);
    const text = (await readAll(res.res)).toString('utf8');
    t.equal(res.headers['x-proxima-node'], name);
    t.match(text, /data: \{"error":\{"message":"[^"]*","type":"server_error","param":null,"code":"node_error"\}\}\n\n$/);
    t.notMatch(text, /\[DONE\]/);
    t.equal(other.requests.length, before, 'no other node was asked');
    t.match(await cluster.nextUsage(), { node: name, outcome: 'node_error' });
  });

  t.test('a user who leaves cancels the work: the node closes its Ollama connection within a second', async (t) => {
    const { fake } = firstChoice(cluster);
    fake.setFaults({ interTokenDelayMs: 200, times: 1 });
    const res = await rawStream(cluster);
    const request = await fake.nextRequest((r) => r.path === '/v1/chat/completions' && r.closedByClient === false && r.endMs === undefined);
    await new Promise((resolve) => res.res.once('data', resolve));
    const leftAt = performance.now();
    res.abort();
    const closed = await fake.closedByClient(request);
    t.ok(closed.clientClosedMs! - leftAt < 1000, `closed ${Math.round(closed.clientClosedMs! - leftAt)} ms after the user left`);
    t.ok(closed.tokensSent < 4, 'the answer was cut short');
    const record = await cluster.nextUsage();
    t.match(record, { outcome: 'client_abort' });
    t.ok(record.contentChars > 0, 'what was delivered is counted');
  });

  t.test('timeouts: to the first byte (504 before anything was sent), idle between chunks (in-band)', async (t) => {
    const { name, fake } = firstChoice(cluster);
    fake.setFaults({ stallForever: true, times: 1 });
    const late = await rejection(t, client.chat.completions.create({ model: 'llama3.2', messages: HI }));
    t.ok(late instanceof InternalServerError);
    t.same(
      [late.status, late.code, late.headers.get('proxima-error'), late.headers.get('x-proxima-node')],
      [504, 'timeout', 'PRX_ERR_NODE_TIMEOUT', name],
    );
    t.match(await cluster.nextUsage(), { outcome: 'timeout', ttftMs: null });
    fake.setFaults({ stallAfterTokens: 1, times: 1 });
    const res = await rawStream(cluster, '/api/chat', { model: 'llama3.2', messages: HI });
    const lines = (await readAll(res.res)).toString('utf8').trimEnd().split('\n');
    t.equal(lines.length, 2, 'one token, then the error line');
    t.match(JSON.parse(lines[1]!), { error: /went silent for 400 ms/ });
    t.match(await cluster.nextUsage(), { outcome: 'timeout', completionTokensObserved: 1 });
  });
});
