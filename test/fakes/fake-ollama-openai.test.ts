import OpenAI, { BadRequestError, InternalServerError, NotFoundError } from 'openai';
import t, { type Test } from 'tap';
import { answerTokens } from '../fixtures/fakes/ollama/api/answers.js';
import { type FakeOllama, type FakeOllamaOptions, startFakeOllama } from '../fixtures/fakes/ollama/fake-ollama.js';
import { postJson, rawRequest } from '../fixtures/wire/raw-http.js';

async function fakeFor(t: Test, options: FakeOllamaOptions = {}): Promise<{ fake: FakeOllama; client: OpenAI }> {
  const fake = await startFakeOllama({
    models: [
      { name: 'llama3.2', answerTokens: 4 },
      { name: 'all-minilm', capabilities: ['embedding'], embeddingLength: 6 },
    ],
    ...options,
  });
  t.teardown(() => fake.destroy());
  return { fake, client: new OpenAI({ baseURL: fake.url + '/v1', apiKey: 'sk-test', maxRetries: 0, timeout: 10_000 }) };
}

/** Awaits a rejection and checks the openai client's error class and status. */
async function rejectsAs(t: Test, call: Promise<unknown>, cls: new (...args: never[]) => Error, status: number): Promise<void> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof cls, `rejects with ${cls.name}`);
  t.equal((err as { status?: number } | undefined)?.status, status);
}

const HI = [{ role: 'user' as const, content: 'hi' }];
const ANSWER = answerTokens({ model: 'llama3.2:latest', prompt: 'user: hi' }, 4);

t.test('models.list and models.retrieve', async (t) => {
  const { fake, client } = await fakeFor(t);
  const page = await client.models.list();
  t.same(
    page.data.map((m) => [m.id, m.object, m.owned_by]),
    [
      ['llama3.2:latest', 'model', 'library'],
      ['all-minilm:latest', 'model', 'library'],
    ],
  );
  t.equal(page.data[0]!.created, 1735689600, 'created is modified_at in seconds');
  const one = await client.models.retrieve('llama3.2');
  t.match(one, { id: 'llama3.2', object: 'model', owned_by: 'library' });
  await rejectsAs(t, client.models.retrieve('nope'), NotFoundError, 404);
  fake.setModels([]);
  const empty = await rawRequest(fake.url + '/v1/models');
  t.equal(empty.text, '{"object":"list","data":null}\n', 'Go marshals an empty list as null; json.Encoder adds a newline');
});

t.test('chat completion without stream: one JSON object with usage', async (t) => {
  const { client } = await fakeFor(t);
  const res = await client.chat.completions.create({ model: 'llama3.2', messages: HI });
  t.match(res.id, /^chatcmpl-\d{1,3}$/);
  t.match(res, { object: 'chat.completion', model: 'llama3.2', system_fingerprint: 'fp_ollama' });
  t.same(res.choices, [{ index: 0, message: { role: 'assistant', content: ANSWER.join('') }, finish_reason: 'stop' }]);
  t.same(res.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
  const capped = await client.chat.completions.create({ model: 'llama3.2', messages: HI, max_tokens: 2 });
  t.equal(capped.choices[0]!.finish_reason, 'length', 'max_tokens maps to num_predict');
  t.equal(capped.choices[0]!.message.content, ANSWER.slice(0, 2).join(''));
});

t.test('chat stream, with and without include_usage', async (t) => {
  const { client } = await fakeFor(t);
  const plain = await client.chat.completions.create({ model: 'llama3.2', messages: HI, stream: true });
  const chunks = [];
  for await (const c of plain) chunks.push(c);
  t.equal(chunks.length, 5, 'four content chunks and the finish chunk');
  t.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), ANSWER.join(''));
  t.equal(chunks.at(-1)!.choices[0]!.finish_reason, 'stop');
  t.notOk(
    chunks.some((c) => 'usage' in c),
    'no usage field at all (Go omitempty), not even null',
  );
  const withUsage = await client.chat.completions.create({
    model: 'llama3.2',
    messages: HI,
    stream: true,
    stream_options: { include_usage: true },
  });
  const all = [];
  for await (const c of withUsage) all.push(c);
  t.equal(all.length, 6);
  t.same(all.at(-1)!.choices, []);
  t.same(all.at(-1)!.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
  t.equal(new Set(all.map((c) => c.created)).size, 1, 'created is pinned');
});

t.test('the exact SSE bytes of one stream match docs/model-api.md, "The OpenAI layer, byte for byte"', async (t) => {
  const { fake } = await fakeFor(t, { models: [{ name: 'llama3.2', answerTokens: 2 }] });
  const res = await postJson(fake.url + '/v1/chat/completions', {
    model: 'llama3.2',
    messages: HI,
    stream: true,
    stream_options: { include_usage: true },
  });
  t.equal(res.headers['content-type'], 'text/event-stream');
  const [, id, created] = /^data: \{"id":"(chatcmpl-\d{1,3})","object":"chat\.completion\.chunk","created":(\d+),/.exec(res.text) ?? [];
  t.ok(id && created, 'id and created');
  const [a, b] = answerTokens({ model: 'llama3.2:latest', prompt: 'user: hi' }, 2);
  const head = `{"id":"${id}","object":"chat.completion.chunk","created":${created},"model":"llama3.2","system_fingerprint":"fp_ollama",`;
  t.equal(
    res.text,
    [
      `data: ${head}"choices":[{"index":0,"delta":{"role":"assistant","content":"${a}"},"finish_reason":null}]}\n\n`,
      `data: ${head}"choices":[{"index":0,"delta":{"content":"${b}"},"finish_reason":null}]}\n\n`,
      `data: ${head}"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n`,
      `data: ${head}"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":2,"total_tokens":4}}\n\n`,
      'data: [DONE]\n\n',
    ].join(''),
  );
});

t.test("deltaStyle 'ollama' writes the role and content on every chunk, as Ollama's Go code does", async (t) => {
  const { fake, client } = await fakeFor(t, { deltaStyle: 'ollama' });
  const res = await postJson(fake.url + '/v1/chat/completions', { model: 'llama3.2', messages: HI, stream: true });
  const deltas = res.text
    .split('\n\n')
    .filter((e) => e.startsWith('data: {'))
    .map((e) => JSON.parse(e.slice(6)).choices[0].delta);
  t.same(deltas, [...ANSWER.map((content) => ({ role: 'assistant', content })), { role: 'assistant', content: '' }]);
  const final = await client.chat.completions.stream({ model: 'llama3.2', messages: HI }).finalChatCompletion();
  t.equal(final.choices[0]!.message.content, ANSWER.join(''));
});

t.test('the chat.completions.stream() helper finishes without "missing finish_reason"', async (t) => {
  const { client } = await fakeFor(t);
  const stream = client.chat.completions.stream({ model: 'llama3.2', messages: HI, stream_options: { include_usage: true } });
  const final = await stream.finalChatCompletion();
  t.match(final.choices[0], { finish_reason: 'stop', message: { role: 'assistant', content: ANSWER.join('') } });
  t.same(final.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
});

t.test('completions, streamed per CompleteWriter and whole', async (t) => {
  const { client } = await fakeFor(t);
  const expected = answerTokens({ model: 'llama3.2:latest', prompt: 'once upon' }, 4);
  const whole = await client.completions.create({ model: 'llama3.2', prompt: 'once upon' });
  t.match(whole, {
    object: 'text_completion',
    choices: [{ text: expected.join(''), index: 0, finish_reason: 'stop' }],
    usage: { prompt_tokens: 2, completion_tokens: 4 },
  });
  const stream = await client.completions.create({
    model: 'llama3.2',
    prompt: 'once upon',
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  t.equal(chunks.length, 6, 'four tokens, the finish chunk, the usage chunk');
  t.ok(
    chunks.slice(0, 5).every((c) => c.usage?.total_tokens === 0),
    'with include_usage every chunk carries a zero usage',
  );
  t.same(chunks[4]!.choices, [{ text: '', index: 0, finish_reason: 'stop' }], 'the last generate response carries finish_reason');
  t.same(chunks[5]!.choices, []);
  t.same(chunks[5]!.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
  t.equal(chunks.map((c) => c.choices[0]?.text ?? '').join(''), expected.join(''));
});

t.test('embeddings as floats and as base64 (the client default) agree', async (t) => {
  const { client } = await fakeFor(t);
  const floats = await client.embeddings.create({ model: 'all-minilm', input: ['a', 'b'], encoding_format: 'float' });
  t.match(floats, { object: 'list', model: 'all-minilm', usage: { prompt_tokens: 2, total_tokens: 2 } });
  t.same(
    floats.data.map((d) => [d.object, d.index]),
    [
      ['embedding', 0],
      ['embedding', 1],
    ],
  );
  const decoded = await client.embeddings.create({ model: 'all-minilm', input: ['a', 'b'] });
  t.same(
    decoded.data[1]!.embedding,
    floats.data[1]!.embedding.map((x) => Math.fround(x)),
    'little-endian float32 in base64',
  );
  t.equal(decoded.data[0]!.embedding.length, 6);
  const cut = await client.embeddings.create({ model: 'all-minilm', input: 'a', dimensions: 3, encoding_format: 'float' });
  t.equal(cut.data[0]!.embedding.length, 3);
  await rejectsAs(t, client.embeddings.create({ model: 'all-minilm', input: [] }), BadRequestError, 400);
});

t.test("errors map to the openai client classes with Ollama's error object", async (t) => {
  const { fake, client } = await fakeFor(t);
  const err = await client.chat.completions.create({ model: 'nope', messages: HI }).catch((e: unknown) => e);
  t.ok(err instanceof NotFoundError);
  t.match(err, { status: 404, type: 'not_found_error', code: null, param: null, message: "404 model 'nope' not found" });
  await rejectsAs(t, client.chat.completions.create({ model: 'llama3.2', messages: [] }), BadRequestError, 400);
  const raw = await postJson(fake.url + '/v1/chat/completions', { model: 'llama3.2', messages: [] });
  t.same(JSON.parse(raw.text), {
    error: { message: "[] is too short - 'messages'", type: 'invalid_request_error', param: null, code: null },
  });
  await rejectsAs(t, client.completions.create({ model: 'llama3.2', prompt: ['a'] as unknown as string }), BadRequestError, 400);
  fake.setFaults({ queueFull: true });
  await rejectsAs(t, client.chat.completions.create({ model: 'llama3.2', messages: HI }), InternalServerError, 503);
  fake.setFaults({ errorBeforeFirstByte: { message: 'boom' } });
  const boom = await client.chat.completions.create({ model: 'llama3.2', messages: HI, stream: true }).catch((e: unknown) => e);
  t.ok(boom instanceof InternalServerError);
  t.match(boom, { status: 500, type: 'api_error', message: '500 boom' });
});

t.test('the same messages give the same answer on /api/chat and /v1/chat/completions', async (t) => {
  const { fake, client } = await fakeFor(t);
  const native = JSON.parse((await postJson(fake.url + '/api/chat', { model: 'llama3.2', messages: HI, stream: false })).text);
  const viaOpenAI = await client.chat.completions.create({ model: 'llama3.2', messages: HI });
  t.equal(viaOpenAI.choices[0]!.message.content, native.message.content);
});
