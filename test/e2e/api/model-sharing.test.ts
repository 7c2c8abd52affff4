import { performance } from 'node:perf_hooks';
import t from 'tap';
import { startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { modelNames, startModelNode } from '../../fixtures/stacks/model-node.js';
import { lines, openRequest, rawRequest } from '../../fixtures/wire/raw-http.js';

t.test('proxima-client advertises exactly the shared models, with digests and maxConcurrent, and every change', async (t) => {
  const fake = await startFakeOllama();
  t.teardown(() => fake.destroy());
  const { port } = fake;
  const node = await startModelNode(t, {
    ollamaPort: port,
    share: ['llama3.2', 'QWEN2.5:0.5b', 'absent:7b'],
    maxConcurrent: 2,
    models: { refreshIntervalMs: 100 },
  });

  const first = await node.advertised();
  const advert = (name: string) => {
    const m = fake.models.find((model) => model.name === name)!;
    return {
      name,
      digest: m.digest,
      size: m.sizeBytes,
      modifiedAt: m.modifiedAt,
      details: {
        format: 'gguf',
        family: m.family,
        families: [m.family],
        parameter_size: m.parameterSize,
        quantization_level: m.quantizationLevel,
        parent_model: '',
      },
    };
  };
  t.same(
    first,
    [
      {
        name: 'ollama',
        kind: 'ollama',
        expose: 'public',
        hostHeader: `localhost:${port}`,
        models: [advert('llama3.2:latest'), advert('qwen2.5:0.5b')],
        maxConcurrent: 2,
      },
    ],
    'the first advertisement already has the models: all-minilm is not shared, absent:7b is not there',
  );

  fake.addModel({ name: 'absent:7b', parameterSize: '7B' });
  const added = await node.advertised((s) => modelNames(s[0]).includes('absent:7b'));
  t.same(modelNames(added[0]), ['absent:7b', 'llama3.2:latest', 'qwen2.5:0.5b']);
  t.equal(added[0]!.models![0]!.details!.parameter_size, '7B');

  fake.removeModel('llama3.2');
  const removed = await node.advertised((s) => !modelNames(s[0]).includes('llama3.2:latest'));
  t.same(modelNames(removed[0]), ['absent:7b', 'qwen2.5:0.5b']);

  await fake.destroy();
  await node.client.waitForLine((l) => l.includes('cannot read the models of ollama'));
  t.same(
    modelNames((await node.advertised())[0]),
    ['absent:7b', 'qwen2.5:0.5b'],
    'Ollama down: its models stay advertised (down, not gone: the super node answers 503 for them, not 404)',
  );
  const back = await startFakeOllama({ port });
  t.teardown(() => back.destroy());
  const up = await node.advertised((s) => modelNames(s[0]).includes('llama3.2:latest'));
  t.same(modelNames(up[0]), ['llama3.2:latest', 'qwen2.5:0.5b'], 'back up: the models are back (the restarted fake has the default ones)');
  const warnings = node.client.lines.filter((l) => l.includes('cannot read the models of ollama'));
  t.equal(warnings.length, 1, 'the outage was logged once, however many reads failed');
  t.ok(node.client.lines.some((l) => l.includes('ollama answers again')));
  t.ok(
    back.requests.every((r) => r.path === '/api/tags' && r.host === `localhost:${port}`),
    'discovery reads /api/tags with the Host Ollama wants',
  );
});

t.test('through the tenant host, the node guards its Ollama: only shared inference and listings get through', async (t) => {
  const fake = await startFakeOllama({
    models: [{ name: 'llama3.2', loaded: true }, { name: 'qwen2.5:0.5b', loaded: true }, { name: 'all-minilm' }],
  });
  t.teardown(() => fake.destroy());
  const node = await startModelNode(t, { ollamaPort: fake.port, share: ['llama3.2', 'all-minilm'] });
  await node.advertised();
  const send = (method: string, path: string, body?: unknown) =>
    rawRequest(node.url(path), {
      method,
      agent: false,
      headers: { Host: node.host, 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const tunnelled = () => fake.requests.filter((r) => r.headers['x-forwarded-for'] !== undefined);
  const chat = (model: string, stream = false) => ({ model, messages: [{ role: 'user', content: 'hello there' }], stream });

  for (const [method, path, body] of [
    ['POST', '/api/pull', { model: 'qwen2.5:7b' }],
    ['DELETE', '/api/delete', { model: 'llama3.2' }],
  ] as const) {
    const res = await send(method, path, body);
    t.same(
      [res.status, res.headers['proxima-error'], JSON.parse(res.text)],
      [403, 'PRX_ERR_FORBIDDEN', { error: `${method} ${path} is not served through Proxima: only inference and model listings are` }],
      path,
    );
  }
  const unshared = await send('POST', '/v1/chat/completions', chat('qwen2.5:0.5b'));
  t.same(
    [unshared.status, JSON.parse(unshared.text)],
    [
      403,
      {
        error: {
          message: "model 'qwen2.5:0.5b' is not shared by this node",
          type: 'permission_error',
          param: null,
          code: 'PRX_ERR_FORBIDDEN',
        },
      },
    ],
  );
  t.same(tunnelled(), [], 'none of these reached Ollama');
  t.same(
    fake.models.map((m) => m.name),
    ['llama3.2:latest', 'qwen2.5:0.5b', 'all-minilm:latest'],
    'nothing was pulled or deleted',
  );

  const tags = JSON.parse((await send('GET', '/api/tags')).text) as { models: { name: string }[] };
  t.same(
    tags.models.map((m) => m.name),
    ['llama3.2:latest', 'all-minilm:latest'],
    '/api/tags lists the shared models only',
  );
  const ps = JSON.parse((await send('GET', '/api/ps')).text) as { models: { name: string }[] };
  t.same(
    ps.models.map((m) => m.name),
    ['llama3.2:latest'],
  );
  const v1 = JSON.parse((await send('GET', '/v1/models')).text) as { data: { id: string }[] };
  t.same(
    v1.data.map((m) => m.id),
    ['llama3.2:latest', 'all-minilm:latest'],
  );

  const whole = await send('POST', '/api/chat', chat('llama3.2'));
  t.equal(whole.status, 200);
  t.match(JSON.parse(whole.text), { model: 'llama3.2', done: true, done_reason: 'stop' });
  t.ok(
    tunnelled().every((r) => r.host === `localhost:${fake.port}`),
    'every request reached Ollama with the Host it accepts',
  );

  // A long answer, a token every 10 ms: chunks must reach the user while Ollama is still at it.
  fake.addModel({ name: 'llama3.2', loaded: true, answerTokens: 100_000, tokenIntervalMs: 10 });
  const streams = [
    { path: '/api/chat', type: 'application/x-ndjson', chunk: /^\{"model":"llama3\.2".*"done":false\}$/ },
    { path: '/v1/chat/completions', type: 'text/event-stream', chunk: /^data: \{"id":"chatcmpl-.*"object":"chat\.completion\.chunk"/ },
  ];
  for (const { path, type, chunk } of streams) {
    const streaming = await openRequest(node.url(path), {
      method: 'POST',
      agent: false,
      headers: { Host: node.host, 'Content-Type': 'application/json' },
      body: JSON.stringify(chat('llama3.2', true)),
    });
    t.equal(streaming.headers['content-type'], type);
    const got: string[] = [];
    for await (const line of lines(streaming.res)) {
      if (line !== '') got.push(line);
      if (got.length === 3) break;
    }
    const r = tunnelled().at(-1)!;
    t.equal(r.path, path);
    t.equal(r.endMs, undefined, `${path}: Ollama is still answering; nothing held the chunks back`);
    t.ok(
      got.every((line) => chunk.test(line)),
      `${path}: three chunks, each as Ollama sent it`,
    );
    // The user's end reaches the super node as a FIN; the next token written to the gone user is what
    // reveals it (a reset), so the time below includes up to a token interval.
    const leftMs = performance.now();
    streaming.abort();
    const closed = await fake.closedByClient(r);
    const afterMs = closed.clientClosedMs! - leftMs;
    t.ok(afterMs < 1000, `${path}: Ollama saw its connection closed ${afterMs.toFixed(1)} ms after the user left`);
    t.ok(closed.tokensSent < 1000, `${path}: ${closed.tokensSent} tokens generated, of 100,000`);
  }
});
