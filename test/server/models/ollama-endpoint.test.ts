import t from 'tap';
import { answerTokens } from '../../fixtures/fakes/ollama/api/answers.js';
import { rejection, startApiCluster, TEST_KEY } from '../../fixtures/stacks/api-cluster.js';
import { lines, openRequest, rawRequest } from '../../fixtures/wire/raw-http.js';

const HI = [{ role: 'user' as const, content: 'hi' }];

t.test('the ollama client against a super node with two real nodes', async (t) => {
  const cluster = await startApiCluster(t, {
    nodes: [
      {
        name: 'alpha',
        models: [
          { name: 'llama3.2', answerTokens: 5, parameterSize: '3.2B' },
          { name: 'all-minilm', capabilities: ['embedding'], embeddingLength: 4 },
        ],
      },
      { name: 'beta', models: [{ name: 'llama3.2', answerTokens: 5, parameterSize: '3.2B' }] },
    ],
  });
  const ollama = cluster.ollama();

  t.test('list: every shared model once, with its digest and details', async (t) => {
    const { models } = await ollama.list();
    t.same(models.map((m) => m.name).sort(), ['all-minilm:latest', 'llama3.2:latest']);
    const llama = models.find((m) => m.name === 'llama3.2:latest')!;
    t.equal(llama.digest, cluster.fakes.alpha!.models[0]!.digest);
    t.match(llama.details, { family: 'llama', parameter_size: '3.2B' });
    t.same(await ollama.version(), { version: '0.12.6' });
  });

  t.test('chat, streamed: NDJSON lines as the node sent them, ending with done', async (t) => {
    const parts: string[] = [];
    let last;
    for await (const part of await ollama.chat({ model: 'llama3.2', messages: HI, stream: true })) {
      parts.push(part.message.content);
      last = part;
    }
    t.equal(parts.join(''), answerTokens({ model: 'llama3.2:latest', prompt: 'user: hi' }, 5).join(''));
    t.match(last, { done: true, done_reason: 'stop', eval_count: 5 });
    const record = await cluster.nextUsage();
    t.match(record, {
      route: '/api/chat',
      stream: true,
      outcome: 'ok',
      finishReason: 'stop',
      completionTokensReported: 5,
      completionTokensObserved: 5,
      parameterSize: '3.2B',
    });
    t.ok(record.evalDurationNs === null || record.evalDurationNs > 0);
  });

  t.test('the raw stream: NDJSON, no keep-alive of any kind, streaming headers', async (t) => {
    const res = await openRequest(`${cluster.baseUrl}/api/generate`, {
      method: 'POST',
      body: JSON.stringify({ model: 'llama3.2', prompt: 'why', options: { num_predict: 2 } }),
      headers: { Authorization: `Bearer ${TEST_KEY}` },
    });
    t.same(
      [res.status, res.headers['content-type'], res.headers['cache-control'], res.headers['x-accel-buffering']],
      [200, 'application/x-ndjson', 'no-cache', 'no'],
    );
    const got: string[] = [];
    for await (const line of lines(res.res)) got.push(line);
    t.equal(got.length, 3, 'two tokens and the final object, nothing else');
    t.ok(got.every((line) => line.startsWith('{')));
    t.match(JSON.parse(got[2]!), { done: true, done_reason: 'length' });
    t.match(await cluster.nextUsage(), {
      route: '/api/generate',
      maxTokensRequested: 2,
      completionTokensObserved: 2,
      finishReason: 'length',
    });
  });

  t.test('generate without streaming, embed, show', async (t) => {
    const res = await ollama.generate({ model: 'llama3.2', prompt: 'why is the sky blue' });
    t.equal(res.response, answerTokens({ model: 'llama3.2:latest', prompt: 'why is the sky blue' }, 5).join(''));
    t.match(await cluster.nextUsage(), {
      route: '/api/generate',
      stream: false,
      outcome: 'ok',
      completionTokensReported: 5,
      promptChars: 19,
    });
    const embedded = await ollama.embed({ model: 'all-minilm', input: ['one', 'two'] });
    t.equal(embedded.embeddings.length, 2);
    t.match(await cluster.nextUsage(), { node: 'alpha', route: '/api/embed', outcome: 'ok', completionTokensReported: 0 });
    const shown = await ollama.show({ model: 'llama3.2' });
    t.match(shown.details, { parameter_size: '3.2B' });
  });

  t.test('errors as ollama-js reads them: {"error": "..."} with the status', async (t) => {
    const missing = await rejection(t, ollama.chat({ model: 'nope', messages: HI }));
    t.same([missing.name, missing.status_code, missing.error], ['ResponseError', 404, 'no node shares the model nope:latest']);
    const unauthorized = await rejection(t, cluster.ollama('sk-not-a-key-0123456789').list());
    t.same([unauthorized.status_code, unauthorized.error], [401, 'the API key is not valid']);
    const pull = await rejection(t, ollama.pull({ model: 'llama3.2' }));
    t.equal(pull.status_code, 403, 'management routes are refused');
    for (const [method, path] of [
      ['DELETE', '/api/delete'],
      ['POST', '/api/create'],
      ['POST', '/api/copy'],
      ['HEAD', '/api/blobs/sha256:00'],
      ['POST', '/api/push'],
    ]) {
      const res = await rawRequest(`${cluster.baseUrl}${path}`, { method: method!, headers: { Authorization: `Bearer ${TEST_KEY}` } });
      t.same([res.status, res.headers['proxima-error']], [403, 'PRX_ERR_FORBIDDEN'], `${method} ${path}`);
    }
    t.notOk(
      Object.values(cluster.fakes).some((f) => f.requests.some((r) => /pull|delete|create|copy|blobs|push/.test(r.path))),
      'no node saw them',
    );
    const noModel = await rawRequest(`${cluster.baseUrl}/api/chat`, {
      method: 'POST',
      body: '{"messages":[]}',
      headers: { Authorization: `Bearer ${TEST_KEY}` },
    });
    t.same([noModel.status, JSON.parse(noModel.text)], [400, { error: 'model is required' }]);
  });

  t.test('every request reached Ollama with the Host it accepts: no 403 from a node', async (t) => {
    for (const fake of Object.values(cluster.fakes)) {
      t.ok(
        fake.requests.every((r) => r.host === `localhost:${fake.port}` && r.status !== 403),
        `${fake.port}: Host rewritten`,
      );
      t.notOk(
        fake.requests.some((r) => r.headers.authorization !== undefined),
        "the user's key never reaches a node",
      );
    }
  });
});
