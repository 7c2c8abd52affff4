import { Ollama } from 'ollama';
import t, { type Test } from 'tap';
import { answerTokens } from '../fixtures/fakes/ollama/api/answers.js';
import { type FakeOllama, type FakeOllamaOptions, startFakeOllama } from '../fixtures/fakes/ollama/fake-ollama.js';
import { lines, openRequest, postJson, rawRequest } from '../fixtures/wire/raw-http.js';

async function fakeFor(t: Test, options: FakeOllamaOptions = {}): Promise<{ fake: FakeOllama; ollama: Ollama }> {
  const fake = await startFakeOllama(options);
  t.teardown(() => fake.destroy());
  return { fake, ollama: new Ollama({ host: fake.url }) };
}

const HI = [{ role: 'user', content: 'hi' }];

/** The answer the fake gives to one user message "hi". */
function expectedAnswer(model: string, count: number, seed?: number): string {
  return answerTokens({ model, prompt: 'user: hi', seed }, count).join('');
}

t.test('health, version and HEAD as Ollama answers them', async (t) => {
  const { fake, ollama } = await fakeFor(t, { version: '0.9.1' });
  const root = await rawRequest(fake.url + '/');
  t.equal(root.status, 200);
  t.equal(root.text, 'Ollama is running');
  t.equal(root.headers['content-type'], 'text/plain; charset=utf-8');
  const head = await rawRequest(fake.url + '/', { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.body.length, 0);
  t.same(await ollama.version(), { version: '0.9.1' });
  fake.configure({ version: '0.10.0' });
  t.same(await ollama.version(), { version: '0.10.0' }, 'changeable at run time');
  const unknown = await rawRequest(fake.url + '/api/nothing');
  t.equal(unknown.status, 404);
  t.equal(unknown.text, '404 page not found');
});

t.test('list, ps and show carry the configured model data', async (t) => {
  const { fake, ollama } = await fakeFor(t, {
    models: [
      {
        name: 'llama3.2',
        digest: 'ab'.repeat(32),
        sizeBytes: 123,
        parameterSize: '3.2B',
        quantizationLevel: 'Q8_0',
        families: ['llama', 'clip'],
      },
    ],
  });
  const list = await ollama.list();
  t.equal(list.models.length, 1);
  t.match(list.models[0], {
    name: 'llama3.2:latest',
    model: 'llama3.2:latest',
    size: 123,
    digest: 'ab'.repeat(32),
    details: { format: 'gguf', family: 'llama', families: ['llama', 'clip'], parameter_size: '3.2B', quantization_level: 'Q8_0' },
  });
  t.same((await ollama.ps()).models, [], 'nothing loaded yet');
  fake.addModel({ name: 'phi3:mini', loaded: true });
  t.same(
    (await ollama.list()).models.map((m) => m.name),
    ['llama3.2:latest', 'phi3:mini'],
  );
  await ollama.chat({ model: 'llama3.2', messages: HI });
  t.same((await ollama.ps()).models.map((m) => m.name).sort(), ['llama3.2:latest', 'phi3:mini'], 'a model loads on use');
  fake.removeModel('phi3:mini');
  t.same(
    (await ollama.list()).models.map((m) => m.name),
    ['llama3.2:latest'],
  );
  const show = await ollama.show({ model: 'llama3.2' });
  t.match(show, { details: { parameter_size: '3.2B' }, capabilities: ['completion'], model_info: { 'general.architecture': 'llama' } });
  const verbose = await postJson(fake.url + '/api/show', { model: 'llama3.2', verbose: true });
  t.ok(Array.isArray(JSON.parse(verbose.text).model_info['tokenizer.ggml.tokens']), 'verbose fills the tokenizer');
});

t.test('chat streams NDJSON with the final metrics and is deterministic', async (t) => {
  const { ollama } = await fakeFor(t, { models: [{ name: 'llama3.2', answerTokens: 5 }] });
  const parts = [];
  for await (const part of await ollama.chat({ model: 'llama3.2', messages: HI, stream: true })) parts.push(part);
  t.equal(parts.length, 6, 'five tokens, then the done object');
  t.ok(parts.slice(0, 5).every((p) => p.done === false && p.message.role === 'assistant' && p.model === 'llama3.2'));
  const last = parts[5]!;
  t.match(last, { done: true, done_reason: 'stop', message: { role: 'assistant', content: '' }, eval_count: 5, prompt_eval_count: 2 });
  for (const k of ['total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration'] as const) t.ok(last[k] > 0, `${k} in ns`);
  const text = parts.map((p) => p.message.content).join('');
  t.equal(text, expectedAnswer('llama3.2:latest', 5));
  const again = await ollama.chat({ model: 'llama3.2:latest', messages: HI });
  t.equal(again.message.content, text, 'stream:false returns one object with the same answer');
  t.match(again, { done: true, done_reason: 'stop', eval_count: 5 });
  const other = await startFakeOllama({ models: [{ name: 'llama3.2', answerTokens: 5 }] });
  t.teardown(() => other.destroy());
  const elsewhere = await new Ollama({ host: other.url }).chat({ model: 'llama3.2', messages: HI });
  t.equal(elsewhere.message.content, text, 'another node gives the same canary answer');
  const seeded = await ollama.chat({ model: 'llama3.2', messages: HI, options: { seed: 7 } });
  t.equal(seeded.message.content, expectedAnswer('llama3.2:latest', 5, 7), 'the seed is part of the answer key');
});

t.test('generate honours num_predict with done_reason length, and returns context', async (t) => {
  const { ollama } = await fakeFor(t, { models: [{ name: 'llama3.2', answerTokens: 10 }] });
  const short = await ollama.generate({ model: 'llama3.2', prompt: 'why is the sky blue', options: { num_predict: 3 } });
  t.match(short, { done: true, done_reason: 'length', eval_count: 3, prompt_eval_count: 5 });
  t.equal(String(short.response).split(' ').length, 3);
  t.ok(Array.isArray(short.context) && short.context.length === 5 + 3, 'context: prompt and answer ids');
  const parts = [];
  for await (const p of await ollama.generate({ model: 'llama3.2', prompt: 'why', stream: true })) parts.push(p);
  t.equal(parts.length, 11);
  t.match(parts.at(-1), { done: true, done_reason: 'stop', response: '', eval_count: 10 });
  const load = await ollama.generate({ model: 'llama3.2', prompt: '' });
  t.match(load, { done: true, done_reason: 'load', response: '' });
  const unload = await ollama.generate({ model: 'llama3.2', prompt: '', keep_alive: 0 });
  t.equal(unload.done_reason, 'unload');
});

t.test('NDJSON framing on the wire: content type, one object per line, omitempty metrics', async (t) => {
  const { fake } = await fakeFor(t, { models: [{ name: 'cached', answerTokens: 2, promptEvalCount: 0 }] });
  const open = await openRequest(fake.url + '/api/chat', { body: JSON.stringify({ model: 'cached', messages: HI }) });
  t.equal(open.status, 200);
  t.equal(open.headers['content-type'], 'application/x-ndjson');
  t.equal(open.headers['transfer-encoding'], 'chunked');
  const got: string[] = [];
  for await (const line of lines(open.res)) got.push(line);
  t.equal(got.length, 3);
  const final = JSON.parse(got[2]!);
  t.notOk('prompt_eval_count' in final, 'a zero counter is omitted, as Go omitempty does');
  t.equal(final.eval_count, 2);
  fake.configure({ omitZeroMetrics: false });
  const whole = await postJson(fake.url + '/api/chat', { model: 'cached', messages: HI, stream: false });
  t.equal(whole.headers['content-type'], 'application/json; charset=utf-8');
  t.equal(JSON.parse(whole.text).prompt_eval_count, 0, 'kept when omitZeroMetrics is off');
});

t.test('embed and the legacy embeddings endpoint', async (t) => {
  const { ollama } = await fakeFor(t);
  const res = await ollama.embed({ model: 'all-minilm', input: ['one', 'two'] });
  t.equal(res.embeddings.length, 2);
  t.equal(res.embeddings[0]!.length, 384);
  t.ok(Math.abs(Math.hypot(...res.embeddings[0]!) - 1) < 1e-5, 'unit length');
  t.equal(res.prompt_eval_count, 2);
  const small = await ollama.embed({ model: 'all-minilm', input: 'one', dimensions: 8 });
  t.equal(small.embeddings[0]!.length, 8);
  const legacy = await ollama.embeddings({ model: 'all-minilm', prompt: 'one' });
  t.same(legacy.embedding, res.embeddings[0], 'same vector for the same text');
});

t.test('errors reach ollama-js as ResponseError with status and message', async (t) => {
  const { fake, ollama } = await fakeFor(t);
  const cases: [() => Promise<unknown>, number, string][] = [
    [() => ollama.chat({ model: 'nope', messages: HI }), 404, "model 'nope' not found"],
    [() => ollama.generate({ model: 'missing:7b', prompt: 'x' }), 404, "model 'missing:7b' not found"],
    [() => ollama.show({ model: 'nope' }), 404, "model 'nope' not found"],
    [() => ollama.chat({ model: '', messages: HI }), 400, 'model is required'],
    [() => ollama.chat({ model: 'all-minilm', messages: HI }), 400, '"all-minilm" does not support chat'],
  ];
  for (const [call, status, message] of cases) {
    await t.rejects(call(), { name: 'ResponseError', status_code: status, error: message }, message);
  }
  const bad = await rawRequest(fake.url + '/api/chat', { method: 'POST', body: 'not json' });
  t.equal(bad.status, 400);
  t.match(JSON.parse(bad.text), { error: /invalid character/ });
  t.same(JSON.parse((await rawRequest(fake.url + '/api/chat', { method: 'POST' })).text), { error: 'missing request body' });
});

t.test('Host check: 403 with an empty body for a foreign Host, unless switched off', async (t) => {
  const { fake } = await fakeFor(t);
  const foreign = await rawRequest(fake.url + '/api/tags', { headers: { Host: 'node1.example.com' } });
  t.equal(foreign.status, 403);
  t.equal(foreign.body.length, 0);
  t.equal(foreign.headers['content-type'], undefined);
  for (const host of [
    'localhost:11434',
    'localhost',
    '127.0.0.1:11434',
    '[::1]:11434',
    '10.1.2.3',
    '192.168.0.9:80',
    'gpu.local',
    'ai.localhost:8080',
    'x.internal',
  ]) {
    t.equal((await rawRequest(fake.url + '/api/tags', { headers: { Host: host } })).status, 200, host);
  }
  t.equal((await rawRequest(fake.url + '/api/tags', { headers: { Host: '8.8.8.8' } })).status, 403, 'a public IP is foreign');
  t.equal(fake.requests.at(-1)!.host, '8.8.8.8', 'the log keeps the Host as received');
  fake.configure({ hostCheck: false });
  t.equal((await rawRequest(fake.url + '/api/tags', { headers: { Host: 'node1.example.com' } })).status, 200);
});

t.test('management routes work, so a test can prove the tunnel blocks them', async (t) => {
  const { fake, ollama } = await fakeFor(t);
  const progress = [];
  for await (const p of await ollama.pull({ model: 'phi3', stream: true })) progress.push(p.status);
  t.same(progress.slice(0, 1), ['pulling manifest']);
  t.equal(progress.at(-1), 'success');
  t.ok(
    fake.models.some((m) => m.name === 'phi3:latest'),
    'the pull added the model',
  );
  t.same(await ollama.pull({ model: 'phi3' }), { status: 'success' }, 'stream:false');
  await ollama.copy({ source: 'phi3', destination: 'phi3-copy' });
  t.ok(fake.models.some((m) => m.name === 'phi3-copy:latest'));
  await ollama.delete({ model: 'phi3-copy' });
  t.notOk(fake.models.some((m) => m.name === 'phi3-copy:latest'));
  await t.rejects(ollama.delete({ model: 'phi3-copy' }), { name: 'ResponseError', status_code: 404 });
  t.same(await ollama.create({ model: 'mine', from: 'llama3.2' }), { status: 'success' });
  t.equal(fake.models.find((m) => m.name === 'mine:latest')?.family, 'llama');
  t.same(await ollama.push({ model: 'mine' }), { status: 'success' });
  const digest = 'sha256:' + '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';
  t.equal((await rawRequest(`${fake.url}/api/blobs/${digest}`, { method: 'HEAD' })).status, 404);
  t.equal((await rawRequest(`${fake.url}/api/blobs/${digest}`, { method: 'POST', body: 'hello' })).status, 201);
  t.equal((await rawRequest(`${fake.url}/api/blobs/${digest}`, { method: 'HEAD' })).status, 200);
  t.equal((await rawRequest(`${fake.url}/api/blobs/${digest}`, { method: 'POST', body: 'other' })).status, 400);
});

t.test('the request log records method, path, headers, Host and parsed body', async (t) => {
  const { fake, ollama } = await fakeFor(t);
  const seen = fake.nextRequest((r) => r.path === '/api/chat');
  await ollama.chat({ model: 'llama3.2', messages: HI, options: { num_predict: 1 } });
  const r = await seen;
  t.equal(r.method, 'POST');
  t.equal(r.host, `127.0.0.1:${fake.port}`);
  t.match(r.headers['user-agent'], /^ollama-js\//);
  t.same(r.body, { model: 'llama3.2', messages: HI, options: { num_predict: 1 }, stream: false });
  t.equal(r.status, 200);
  t.equal(r.tokensSent, 1);
  t.ok(r.firstByteMs! >= r.startMs && r.endMs! >= r.firstByteMs!, 'start, first byte, end in order');
  t.notOk(r.closedByClient);
  t.equal(fake.inFlight, 0);
  await rawRequest(fake.url + '/api/version');
  t.equal((await fake.nextRequest()).path, '/api/version', 'nextRequest walks the log in order');
});
