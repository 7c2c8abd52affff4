import { once } from 'node:events';
import http from 'node:http';
import t from 'tap';
import type { RequestRecord } from '../../../src/server/ledger/ledger-record.js';
import { type FakeOllama, startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { CLUSTER_DOMAIN, type ClusterPair, startClusterPair } from '../../fixtures/stacks/cluster-pair.js';
import { within } from '../../fixtures/store-helpers.js';

type Teardown = { teardown(fn: () => unknown): void };

/** No probes or canaries in the way: every request is the test's. */
const KEY = 'user-key-0123456789abcdef';
const QUIET = { rewards: { canaryShare: 0, newNodeCanaryShare: 0, probeIntervalMs: '1h' }, api: { keys: [{ id: 'user', key: KEY }] } };

async function fakeOllama(t: Teardown, tokenIntervalMs = 0): Promise<FakeOllama> {
  const fake = await startFakeOllama({ models: [{ name: 'llama3.2', answerTokens: 6 }], tokenIntervalMs });
  t.teardown(() => fake.destroy());
  return fake;
}

/** A response whose body can be read whole, as text or JSON. */
interface Answer {
  status: number;
  headers: { get(name: string): string | undefined };
  text(): Promise<string>;
  json(): Promise<unknown>;
}

/** POST /v1/chat/completions on the API host of instance `at`, on a fresh connection. */
function chat(pair: ClusterPair, at: 'a' | 'b', stream: boolean): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      pair.url(at, '/v1/chat/completions'),
      {
        method: 'POST',
        headers: { host: `api.${CLUSTER_DOMAIN}`, 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
        agent: false,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        const ended = once(res, 'end').then(() => Buffer.concat(parts).toString());
        const header = (name: string): string | undefined => {
          const v = res.headers[name];
          return Array.isArray(v) ? v[0] : v;
        };
        resolve({ status: res.statusCode!, headers: { get: header }, text: () => ended, json: () => ended.then((s) => JSON.parse(s)) });
      },
    );
    req.once('error', reject);
    req.end(JSON.stringify({ model: 'llama3.2', stream, messages: [{ role: 'user', content: 'hello' }] }));
  });
}

/** The next record `server` makes durable. */
function nextUsage(pair: ClusterPair, at: 'a' | 'b'): Promise<RequestRecord> {
  return within(
    once(pair[at], 'usage').then(([r]) => r as RequestRecord),
    10_000,
    `a usage record at ${at}`,
  );
}

t.test('through B: a chat and a streamed chat answered by the node A holds, each with one ledger record', async (t) => {
  const fake = await fakeOllama(t);
  const pair = await startClusterPair(t, { extra: QUIET });
  await pair.connect('alpha', { ollama: fake });
  const atA: RequestRecord[] = [];
  pair.a.on('usage', (r) => atA.push(r));
  const recorded = nextUsage(pair, 'b');
  const res = await chat(pair, 'b', false);
  t.equal(res.status, 200);
  t.equal(res.headers.get('x-proxima-node'), 'alpha');
  const body = (await res.json()) as { choices: { message: { content: string } }[]; usage: { completion_tokens: number } };
  t.ok(body.choices[0]!.message.content.length > 0, 'an answer');
  const record = await recorded;
  t.match(record, {
    type: 'request',
    keyId: 'user',
    node: 'alpha',
    model: 'llama3.2',
    outcome: 'ok',
    stream: false,
    completionTokensReported: 6,
  });

  const streamed = nextUsage(pair, 'b');
  const sse = await chat(pair, 'b', true);
  t.equal(sse.status, 200);
  t.match(sse.headers.get('content-type'), /text\/event-stream/);
  const text = await sse.text();
  t.match(text, /data: \[DONE\]/, 'the stream ends as OpenAI streams do');
  const events = text.split('\n\n').filter((e) => e.startsWith('data: {'));
  t.ok(events.length >= 6, `the tokens arrived as events (${events.length})`);
  t.match(await streamed, { node: 'alpha', outcome: 'ok', stream: true, completionTokensObserved: 6 });
  t.equal(fake.requests.length, 2, 'the node served both');
  t.equal(atA.length, 0, 'the entry instance, which metered the answer, keeps the record; the holder writes none (no double count)');
});

t.test("the node's maxConcurrent holds across instances: B's request waits for A's", async (t) => {
  const fake = await fakeOllama(t, 40);
  const pair = await startClusterPair(t, { extra: QUIET });
  await pair.connect('alpha', { ollama: fake, maxConcurrent: 1 });
  let most = 0;
  fake.on('request', () => (most = Math.max(most, fake.inFlight)));
  const first = await chat(pair, 'a', true);
  t.equal(first.status, 200);
  await fake.nextRequest();
  const second = chat(pair, 'b', true);
  // A's answer takes ~6 x 40 ms: B's must not reach the node before it ends.
  const firstText = await first.text();
  t.match(firstText, /\[DONE\]/);
  const secondRes = await second;
  t.equal(secondRes.status, 200);
  t.match(await secondRes.text(), /\[DONE\]/);
  t.equal(fake.requests.length, 2);
  t.equal(most, 1, 'never two requests at the node at once');
  t.ok(fake.requests[1]!.startMs >= fake.requests[0]!.endMs!, "B's request reached the node after A's had ended");

  // The other way round: B's forwarded request holds the slot at A, and gives it back when it ends.
  const third = await chat(pair, 'b', true);
  await fake.nextRequest();
  const fourth = chat(pair, 'a', true);
  t.match(await third.text(), /\[DONE\]/);
  t.match(await (await fourth).text(), /\[DONE\]/);
  t.equal(most, 1, 'still never two at once');
  t.ok(fake.requests[3]!.startMs >= fake.requests[2]!.endMs!, "A's request reached the node after B's had ended");
});

t.test('a node busy at A: B answers 503 PRX_ERR_NODES_BUSY as A does', async (t) => {
  const fake = await fakeOllama(t, 200);
  const pair = await startClusterPair(t, { extra: { ...QUIET, routing: { maxQueueWaitMs: 200 } } });
  await pair.connect('alpha', { ollama: fake, maxConcurrent: 1 });
  const first = await chat(pair, 'a', true);
  await fake.nextRequest();
  const [viaA, viaB] = await Promise.all([chat(pair, 'a', false), chat(pair, 'b', false)]);
  const [bodyA, bodyB] = (await Promise.all([viaA.json(), viaB.json()])) as { error: { code: string; type: string } }[];
  t.same([viaA.status, viaB.status], [503, 503]);
  t.equal(bodyB!.error.code, bodyA!.error.code, 'the same error code');
  t.equal(bodyB!.error.type, bodyA!.error.type, 'the same OpenAI error shape');
  t.equal(bodyB!.error.code, 'model_overloaded', "OpenAI's code for a busy model");
  t.equal(viaB.headers.get('proxima-error'), viaA.headers.get('proxima-error'), 'the same Proxima-Error header');
  await first.text();
  t.equal(fake.requests.length, 1, 'neither refused request reached the node');
});

t.test('chats through B reuse one kept-alive stream to the node, as chats at A do', async (t) => {
  const fake = await fakeOllama(t);
  const pair = await startClusterPair(t, { extra: QUIET });
  await pair.connect('alpha', { ollama: fake });
  const before = pair.nodeStreams();
  for (let i = 0; i < 3; i++) {
    const res = await chat(pair, 'b', i % 2 === 1);
    t.equal(res.status, 200);
    t.match(await res.text(), i % 2 === 1 ? /\[DONE\]/ : /"completion_tokens":6/);
  }
  t.equal(fake.requests.length, 3, 'the node served all three');
  t.equal(pair.nodeStreams() - before, 1, 'one stream to the node served the three (each request opened one before)');
});

t.test('through B: a user who leaves mid-answer cancels it at the node and frees its slot at A', async (t) => {
  const fake = await fakeOllama(t, 50);
  const pair = await startClusterPair(t, { extra: QUIET });
  await pair.connect('alpha', { ollama: fake, maxConcurrent: 1 });
  const recorded = nextUsage(pair, 'b');
  const left = new Promise<void>((resolve, reject) => {
    const req = http.request(pair.url('b', '/v1/chat/completions'), {
      method: 'POST',
      headers: { host: `api.${CLUSTER_DOMAIN}`, 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      agent: false,
    });
    req.once('response', (res) => res.once('data', () => resolve(void req.destroy())));
    req.once('error', (err) => (req.destroyed ? undefined : reject(err)));
    req.end(JSON.stringify({ model: 'llama3.2', stream: true, messages: [{ role: 'user', content: 'hello' }] }));
  });
  const record = await fake.nextRequest();
  await left;
  await fake.closedByClient(record);
  t.pass('the node saw its request cancelled');
  t.match(await recorded, { node: 'alpha', outcome: 'client_abort', stream: true });
  // maxConcurrent 1: A's next request gets the slot the forwarded one held.
  const next = await chat(pair, 'a', false);
  t.equal(next.status, 200);
  await next.text();
  t.equal(fake.requests.length, 2);
});

t.test("the node's model service down: B answers with A's status and code", async (t) => {
  const fake = await fakeOllama(t);
  const pair = await startClusterPair(t, { extra: QUIET });
  await pair.connect('alpha', { ollama: fake });
  await fake.close();
  const viaA = await chat(pair, 'a', false);
  const viaB = await chat(pair, 'b', false);
  const [bodyA, bodyB] = (await Promise.all([viaA.json(), viaB.json()])) as { error: { code: string; type: string } }[];
  t.equal(viaA.status, 503, "A's answer: the model is unavailable");
  t.equal(viaB.status, viaA.status, 'the same status');
  t.equal(viaB.headers.get('proxima-error'), viaA.headers.get('proxima-error'), 'the same Proxima-Error header');
  t.equal(bodyB!.error.code, bodyA!.error.code, 'the same error code');
  t.equal(viaB.headers.get('proxima-forward-refused'), undefined, 'the refusal between instances stays between them');
});

t.test('the holder shutting down ends idle forwarded streams at once, not after the entry keep-alive', async (t) => {
  const fake = await fakeOllama(t);
  const pair = await startClusterPair(t, { extra: QUIET });
  await pair.connect('alpha', { ollama: fake });
  const res = await chat(pair, 'b', false);
  t.equal(res.status, 200);
  await res.text();
  const host = pair.b.models.catalog.hostOn('alpha', 'ollama');
  t.ok(host, "B routes to alpha's ollama service");
  // B's pool keeps its stream to A for 4 s (DEFAULT_KEEP_ALIVE_MS); A ending it is seen well before.
  const disconnected = once(pair.b.models.pools.pool(host!), 'disconnect');
  const closing = pair.a.models.close();
  await within(disconnected, 2_000, "B's pool told its stream to A ended");
  t.pass('the idle stream ended when A began to close');
  await closing;
});
