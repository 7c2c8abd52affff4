import OpenAI, { AuthenticationError, BadRequestError, InternalServerError, NotFoundError, RateLimitError } from 'openai';
import t from 'tap';
import { answerTokens } from '../../fixtures/fakes/ollama/api/answers.js';
import { collect, rejection, startApiCluster, TEST_KEY } from '../../fixtures/stacks/api-cluster.js';
import { postJson, rawRequest } from '../../fixtures/wire/raw-http.js';

const HI = [{ role: 'user' as const, content: 'hi' }];
const ANSWER = answerTokens({ model: 'llama3.2:latest', prompt: 'user: hi' }, 4);
const MODELS = [
  { name: 'llama3.2', answerTokens: 4 },
  { name: 'all-minilm', capabilities: ['embedding'], embeddingLength: 6 },
];

t.test('the openai client against a super node with two real nodes', async (t) => {
  const cluster = await startApiCluster(t, {
    nodes: [
      { name: 'alpha', models: MODELS },
      {
        name: 'beta',
        models: [
          { name: 'llama3.2', answerTokens: 4 },
          { name: 'qwen2.5:0.5b', answerTokens: 3 },
        ],
      },
    ],
    api: {
      keys: [
        { id: 'tester', key: TEST_KEY, nodes: ['beta'] },
        { id: 'slow', key: 'sk-slow-0123456789abcdef', requestsPerMinute: 1 },
      ],
    },
  });
  const client = cluster.openai();

  t.test('models: the union over online nodes, each model once', async (t) => {
    const page = await client.models.list();
    t.same(page.data.map((m) => [m.id, m.object, m.owned_by]).sort(), [
      ['all-minilm:latest', 'model', 'library'],
      ['llama3.2:latest', 'model', 'library'],
      ['qwen2.5:0.5b', 'model', 'library'],
    ]);
    t.match(
      await client.models.retrieve('Llama3.2'),
      { id: 'Llama3.2', object: 'model', owned_by: 'library' },
      'names match as Ollama matches them',
    );
    const missing = await rejection(t, client.models.retrieve('nope'));
    t.ok(missing instanceof NotFoundError);
    t.same([missing.status, missing.code, missing.type], [404, 'model_not_found', 'invalid_request_error']);
  });

  t.test("chat without streaming: the node's answer, its usage, who served and the request id", async (t) => {
    const { data, response } = await client.chat.completions.create({ model: 'llama3.2', messages: HI }).withResponse();
    t.equal(data.choices[0]!.message.content, ANSWER.join(''));
    t.same(data.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
    t.match(response.headers.get('x-request-id'), /^req_[0-9a-f]{32}$/);
    const node = response.headers.get('x-proxima-node')!;
    t.ok(['alpha', 'beta'].includes(node), `served by ${node}`);
    const record = await cluster.nextUsage();
    t.match(record, {
      type: 'request',
      id: response.headers.get('x-request-id'),
      node,
      model: 'llama3.2:latest',
      keyId: 'tester',
      keyOwner: ['beta'],
      route: '/v1/chat/completions',
      stream: false,
      outcome: 'ok',
      finishReason: 'stop',
      promptTokensReported: 2,
      completionTokensReported: 4,
      contentChars: ANSWER.join('').length,
      promptChars: 2,
      maxTokensRequested: null,
      canary: null,
    });
    t.equal(record.digest, cluster.fakes[node]!.models.find((m) => m.name === 'llama3.2:latest')!.digest, 'the digest the node advertised');
    t.ok(record.bytesIn > 0 && record.bytesOut > 0);
  });

  t.test('a stream without include_usage: the node is asked for usage, the user gets none', async (t) => {
    const chunks = await collect(await client.chat.completions.create({ model: 'llama3.2', messages: HI, stream: true, max_tokens: 3 }));
    t.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), ANSWER.slice(0, 3).join(''));
    t.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'length');
    t.notOk(
      chunks.some((c) => c.usage !== undefined && c.usage !== null),
      'no usage reached the user',
    );
    const record = await cluster.nextUsage();
    const fake = cluster.fakes[record.node]!;
    t.match(
      fake.requests.at(-1)!.body,
      { stream: true, stream_options: { include_usage: true }, max_tokens: 3 },
      'the node was asked for usage',
    );
    t.match(record, {
      stream: true,
      outcome: 'ok',
      finishReason: 'length',
      completionTokensReported: 3,
      completionTokensObserved: 3,
      maxTokensRequested: 3,
    });
    t.equal(record.contentBytes, Buffer.byteLength(ANSWER.slice(0, 3).join('')));
    t.ok(record.ttftMs! >= 0 && record.ttftMs! <= record.durationMs);
  });

  t.test('a stream with include_usage: the usage chunk comes through', async (t) => {
    const chunks = await collect(
      await client.chat.completions.create({ model: 'llama3.2', messages: HI, stream: true, stream_options: { include_usage: true } }),
    );
    t.same(chunks.at(-1)!.choices, []);
    t.same(chunks.at(-1)!.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
    t.match(await cluster.nextUsage(), { outcome: 'ok', completionTokensReported: 4, completionTokensObserved: 4 });
  });

  t.test('completions, streamed without usage: the zero usage of every chunk is taken out too', async (t) => {
    const whole = await client.completions.create({ model: 'qwen2.5:0.5b', prompt: 'once upon' });
    t.equal(whole.choices[0]!.text, answerTokens({ model: 'qwen2.5:0.5b', prompt: 'once upon' }, 3).join(''));
    t.match(await cluster.nextUsage(), {
      node: 'beta',
      route: '/v1/completions',
      outcome: 'ok',
      completionTokensReported: 3,
      promptChars: 9,
    });
    const res = await postJson(
      `${cluster.baseUrl}/v1/completions`,
      { model: 'qwen2.5:0.5b', prompt: 'once upon', stream: true },
      { Authorization: `Bearer ${TEST_KEY}` },
    );
    t.equal(res.headers['content-type'], 'text/event-stream');
    t.same([res.headers['cache-control'], res.headers['x-accel-buffering']], ['no-cache', 'no']);
    t.notMatch(res.text, /usage/, 'no usage at all');
    t.match(res.text, /data: \[DONE\]\n\n$/);
    t.match(await cluster.nextUsage(), { stream: true, outcome: 'ok', completionTokensReported: 3, completionTokensObserved: 3 });
  });

  t.test('embeddings', async (t) => {
    const res = await client.embeddings.create({ model: 'all-minilm', input: ['a', 'b'] });
    t.equal(res.data.length, 2);
    t.equal(res.data[0]!.embedding.length, 6);
    t.match(await cluster.nextUsage(), {
      node: 'alpha',
      route: '/v1/embeddings',
      outcome: 'ok',
      completionTokensReported: 0,
      promptChars: 2,
    });
  });

  t.test('each error class, in the OpenAI shape, with a request id and the Proxima code', async (t) => {
    const wrongKey = await rejection(t, cluster.openai('sk-wrong-key-0123456789').models.list());
    t.ok(wrongKey instanceof AuthenticationError);
    t.same([wrongKey.status, wrongKey.code], [401, 'invalid_api_key']);
    t.match(wrongKey.requestID, /^req_/);
    const none = await rawRequest(`${cluster.baseUrl}/v1/models`);
    t.same([none.status, none.headers['proxima-error']], [401, 'PRX_ERR_UNAUTHORIZED']);
    t.same(JSON.parse(none.text), {
      error: {
        message: 'no API key was given (Authorization: Bearer <key>)',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      },
    });

    const unknown = await rejection(t, client.chat.completions.create({ model: 'gpt-4o', messages: HI }));
    t.ok(unknown instanceof NotFoundError);
    t.same([unknown.status, unknown.code], [404, 'model_not_found']);

    const slow = cluster.openai('sk-slow-0123456789abcdef');
    await slow.models.list();
    const limited = await rejection(t, slow.models.list());
    t.ok(limited instanceof RateLimitError);
    t.same([limited.status, limited.code, limited.headers.get('retry-after')], [429, 'rate_limit_exceeded', '60']);

    const noModel = await rejection(t, client.chat.completions.create({ messages: HI } as never));
    t.ok(noModel instanceof BadRequestError);
    t.same([noModel.status, noModel.param, noModel.headers.get('proxima-error')], [400, 'model', 'PRX_ERR_HTTP_BAD_REQUEST']);
    const badJson = await rawRequest(`${cluster.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      body: '{"model":',
      headers: { Authorization: `Bearer ${TEST_KEY}` },
    });
    t.same([badJson.status, JSON.parse(badJson.text).error.type], [400, 'invalid_request_error']);

    const wrongMethod = await rawRequest(`${cluster.baseUrl}/v1/chat/completions`, { headers: { Authorization: `Bearer ${TEST_KEY}` } });
    t.same([wrongMethod.status, wrongMethod.headers.allow], [405, 'POST']);
    const nowhere = await rawRequest(`${cluster.baseUrl}/v1/assistants`, { headers: { Authorization: `Bearer ${TEST_KEY}` } });
    t.same([nowhere.status, JSON.parse(nowhere.text).error.code], [404, 'unknown_url']);
  });

  t.test('503: a model only an offline node shares', async (t) => {
    cluster.clients.alpha!.child.kill('SIGTERM');
    await cluster.clients.alpha!.exited;
    const offline = await rejection(t, client.embeddings.create({ model: 'all-minilm', input: 'x' }));
    t.ok(offline instanceof InternalServerError);
    t.same(
      [offline.status, offline.code, offline.headers.get('retry-after'), offline.headers.get('proxima-error')],
      [503, 'model_unavailable', '5', 'PRX_ERR_MODEL_UNAVAILABLE'],
    );
    t.same(
      (await client.models.list()).data.map((m) => m.id).sort(),
      ['llama3.2:latest', 'qwen2.5:0.5b'],
      "the list has only online nodes' models",
    );
    const served = await client.chat.completions.create({ model: 'llama3.2', messages: HI }).withResponse();
    t.equal(served.response.headers.get('x-proxima-node'), 'beta', 'the other node serves what it shares');
    await cluster.nextUsage();
  });
});

t.test('an open API serves without a key and records no key id', async (t) => {
  const cluster = await startApiCluster(t, {
    nodes: [{ name: 'alpha', models: [{ name: 'llama3.2', answerTokens: 2 }] }],
    api: { open: true },
  });
  const anyone = new OpenAI({ baseURL: `${cluster.baseUrl}/v1`, apiKey: 'ollama', maxRetries: 0 });
  const res = await anyone.chat.completions.create({ model: 'llama3.2', messages: HI });
  t.equal(res.choices[0]!.finish_reason, 'stop');
  t.match(await cluster.nextUsage(), { keyId: null, keyOwner: [] });
  await cluster.openai().chat.completions.create({ model: 'llama3.2', messages: HI });
  t.match(await cluster.nextUsage(), { keyId: 'tester' }, 'a known key still identifies its owner');
});
