import { performance } from 'node:perf_hooks';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { type FakeOllama, type FakeOllamaOptions, startFakeOllama } from '../fixtures/fakes/ollama/fake-ollama.js';
import { lines, openRequest, postJson, sendRequest } from '../fixtures/wire/raw-http.js';

async function fakeFor(t: Test, options: FakeOllamaOptions = {}): Promise<{ fake: FakeOllama; ollama: Ollama; openai: OpenAI }> {
  const fake = await startFakeOllama({
    models: [
      { name: 'llama3.2', answerTokens: 4 },
      { name: 'qwen2.5:0.5b', answerTokens: 4 },
    ],
    ...options,
  });
  t.teardown(() => fake.destroy());
  const openai = new OpenAI({ baseURL: fake.url + '/v1', apiKey: 'sk-test', maxRetries: 0 });
  return { fake, ollama: new Ollama({ host: fake.url }), openai };
}

/** The HTTP status an openai client call failed with. */
async function failureStatus(call: Promise<unknown>): Promise<number | undefined> {
  return call.then(
    () => undefined,
    (err: { status?: number }) => err.status,
  );
}

const HI = [{ role: 'user' as const, content: 'hi' }];
const CHAT = JSON.stringify({ model: 'llama3.2', messages: HI });

/** Reads a live body line by line until it ends or fails; returns the lines and the error, if any. */
async function collectLines(res: import('node:http').IncomingMessage): Promise<{ got: string[]; error?: unknown }> {
  const got: string[] = [];
  try {
    for await (const line of lines(res)) got.push(line);
    return { got };
  } catch (error) {
    return { got, error };
  }
}

t.test('slow first token: the head and the first token wait for the stall', async (t) => {
  const { fake } = await fakeFor(t);
  fake.setFaults({ firstTokenDelayMs: 150 });
  const open = await openRequest(fake.url + '/api/chat', { body: CHAT });
  const { got } = await collectLines(open.res);
  t.equal(got.length, 5);
  const r = fake.requests.at(-1)!;
  t.ok(r.firstByteMs! - r.startMs >= 145, 'nothing was written before the stall ended');
});

t.test('stall between tokens', async (t) => {
  const { fake } = await fakeFor(t);
  fake.setFaults({ interTokenDelayMs: 40 });
  const { got } = await collectLines((await openRequest(fake.url + '/api/chat', { body: CHAT })).res);
  t.equal(got.length, 5);
  const r = fake.requests.at(-1)!;
  t.ok(r.endMs! - r.firstByteMs! >= 3 * 40 - 6, 'three stalls after the first token');
});

t.test('stall forever: a client disconnect is seen at once, the slot is freed', async (t) => {
  const { fake } = await fakeFor(t, { numParallel: 1 });
  fake.setFaults({ stallForever: true });
  const sent = sendRequest(fake.url + '/api/chat', { body: CHAT });
  const r = await fake.nextRequest();
  t.equal(fake.inFlight, 1);
  t.equal(fake.active('llama3.2'), 1);
  t.equal(r.firstByteMs, undefined, 'no byte, not even the head');
  const abortedAt = performance.now();
  sent.request.destroy();
  const closed = await fake.closedByClient(r);
  t.ok(closed.closedByClient);
  t.ok(closed.clientClosedMs! - abortedAt < 1000, 'the fake saw the disconnect within a second');
  t.equal(fake.inFlight, 0);
  t.equal(fake.active(), 0, 'the parallel slot was given back');
});

t.test('the real clients abort mid-stream: the fake sees the connection closed and stops generating', async (t) => {
  const { fake, ollama, openai } = await fakeFor(t, { models: [{ name: 'llama3.2', answerTokens: 50, tokenIntervalMs: 20 }] });
  const stream = await ollama.chat({ model: 'llama3.2', messages: HI, stream: true });
  const native = await fake.nextRequest();
  // ollama-js keeps reading after a `break`; abort() is what closes its connection.
  await t.rejects(
    (async () => {
      for await (const _part of stream) if (native.tokensSent >= 2) stream.abort();
    })(),
    { name: 'AbortError' },
  );
  const closedNative = await fake.closedByClient(native);
  t.ok(closedNative.tokensSent < 50, `ollama-js: stopped after ${closedNative.tokensSent} of 50 tokens`);
  const sse = await openai.chat.completions.create({ model: 'llama3.2', messages: HI, stream: true });
  const viaOpenAI = await fake.nextRequest();
  for await (const _chunk of sse) {
    if (viaOpenAI.tokensSent >= 2) break;
  }
  const closedOpenAI = await fake.closedByClient(viaOpenAI);
  t.ok(closedOpenAI.tokensSent < 50, `openai-node: stopped after ${closedOpenAI.tokensSent} of 50 tokens`);
  t.equal(fake.active(), 0);
});

t.test('stall after N tokens: the head and N tokens, then silence', async (t) => {
  const { fake } = await fakeFor(t);
  fake.setFaults({ stallAfterTokens: 2 });
  const open = await openRequest(fake.url + '/api/chat', { body: CHAT });
  const r = await fake.nextRequest();
  const got: string[] = [];
  for await (const line of lines(open.res)) {
    got.push(line);
    if (got.length === 2) break;
  }
  t.equal(r.tokensSent, 2);
  t.equal(r.endMs, undefined, 'still open');
  const closed = await fake.closedByClient(r);
  t.equal(closed.tokensSent, 2);
});

t.test('503 queue full past numParallel and maxQueue; the queue drains in order', async (t) => {
  const { fake, ollama } = await fakeFor(t, { numParallel: 1, maxQueue: 0 });
  fake.setFaults({ stallForever: true, times: 1 });
  const first = sendRequest(fake.url + '/api/chat', { body: CHAT });
  const r1 = await fake.nextRequest();
  t.equal(fake.active('llama3.2:latest'), 1);
  await t.rejects(ollama.chat({ model: 'llama3.2', messages: HI }), {
    name: 'ResponseError',
    status_code: 503,
    error: 'server busy, please try again.  maximum pending requests exceeded',
  });
  t.equal((await ollama.chat({ model: 'qwen2.5:0.5b', messages: HI })).done, true, 'the limit is per model');
  fake.configure({ maxQueue: 1 });
  const queued = ollama.chat({ model: 'llama3.2', messages: [{ role: 'user', content: 'queued' }] });
  await fake.nextRequest((r) => JSON.stringify(r.body).includes('queued'));
  t.equal(fake.queued, 1);
  await t.rejects(ollama.chat({ model: 'llama3.2', messages: HI }), { name: 'ResponseError', status_code: 503 });
  first.request.destroy();
  await fake.closedByClient(r1);
  t.equal((await queued).done, true, 'the queued request ran once the slot was free');
});

t.test('500 before the first byte, on both surfaces', async (t) => {
  const { fake, ollama, openai } = await fakeFor(t);
  fake.setFaults({ errorBeforeFirstByte: {} });
  await t.rejects(ollama.chat({ model: 'llama3.2', messages: HI, stream: true }), {
    name: 'ResponseError',
    status_code: 500,
    error: 'llama runner process has terminated: exit status 2',
  });
  fake.setFaults({ errorBeforeFirstByte: { status: 502, message: 'upstream gone' } });
  const res = await postJson(fake.url + '/v1/chat/completions', { model: 'llama3.2', messages: HI, stream: true });
  t.equal(res.status, 502);
  t.same(JSON.parse(res.text), { error: { message: 'upstream gone', type: 'api_error', param: null, code: null } });
  fake.setFaults({ errorBeforeFirstByte: {} }, 'llama3.2');
  t.equal(await failureStatus(openai.embeddings.create({ model: 'llama3.2', input: 'x' })), 500);
});

t.test('mid-stream error on the native API: an error line, and ollama-js throws', async (t) => {
  const { fake, ollama } = await fakeFor(t);
  fake.setFaults({ midStreamErrorAfterTokens: 2 });
  const open = await openRequest(fake.url + '/api/chat', { body: CHAT });
  t.equal(open.status, 200, 'the status was already sent');
  const { got } = await collectLines(open.res);
  t.equal(got.length, 3);
  t.equal(got[2], '{"error":"an error was encountered while running the model"}');
  const parts: unknown[] = [];
  await t.rejects(
    (async () => {
      for await (const p of await ollama.chat({ model: 'llama3.2', messages: HI, stream: true })) parts.push(p);
    })(),
    { message: 'an error was encountered while running the model' },
  );
  t.equal(parts.length, 2);
  fake.setFaults({ midStreamErrorAfterTokens: 1, midStreamErrorMessage: 'CUDA error' });
  await t.rejects(
    ollama.chat({ model: 'llama3.2', messages: HI }),
    { name: 'ResponseError', status_code: 500, error: 'CUDA error' },
    'stream:false turns it into a 500',
  );
});

t.test('mid-stream error on the OpenAI layer: truncation without finish chunk or [DONE]', async (t) => {
  const { fake, openai } = await fakeFor(t);
  fake.setFaults({ midStreamErrorAfterTokens: 2 });
  const res = await postJson(fake.url + '/v1/chat/completions', {
    model: 'llama3.2',
    messages: HI,
    stream: true,
    stream_options: { include_usage: true },
  });
  const events = res.text
    .split('\n\n')
    .filter(Boolean)
    .map((e) => JSON.parse(e.slice('data: '.length)));
  t.equal(events.length, 3, 'two tokens and the empty chunk Ollama makes of the error line');
  t.match(events[2], { model: '', choices: [{ delta: { content: '' }, finish_reason: null }] });
  t.notMatch(res.text, /\[DONE\]|"finish_reason":"/);
  const chunks = [];
  for await (const c of await openai.chat.completions.create({ model: 'llama3.2', messages: HI, stream: true })) chunks.push(c);
  t.equal(chunks.length, 3, 'openai-node ends silently: the truncation is invisible to it');
  await t.rejects(openai.chat.completions.stream({ model: 'llama3.2', messages: HI }).finalChatCompletion(), {
    message: /missing finish_reason/,
  });
  t.equal(await failureStatus(openai.chat.completions.create({ model: 'llama3.2', messages: HI })), 500, 'non-streaming: a 500');
});

t.test('connection reset after N tokens', async (t) => {
  const { fake } = await fakeFor(t);
  fake.setFaults({ resetAfterTokens: 2 });
  const open = await openRequest(fake.url + '/api/chat', { body: CHAT });
  const { got, error } = await collectLines(open.res);
  t.equal(got.length, 2, 'the tokens written before the reset arrive');
  t.match(error, { code: 'ECONNRESET' });
  const r = fake.requests.at(-1)!;
  t.ok(r.resetByServer);
  t.notOk(r.closedByClient, 'a reset by the fake is not a client close');
  fake.setFaults({ resetAfterTokens: 0 });
  await t.rejects(openRequest(fake.url + '/api/chat', { body: CHAT }), { code: 'ECONNRESET' }, 'before any byte');
});

t.test('inflated eval_count and a wrong model', async (t) => {
  const { fake, ollama, openai } = await fakeFor(t);
  fake.setFaults({ evalCountFactor: 3 });
  const res = await ollama.chat({ model: 'llama3.2', messages: HI });
  t.equal(res.eval_count, 12, 'reports three times the four tokens it sent');
  t.equal(res.message.content.split(' ').length, 4);
  t.equal((await openai.chat.completions.create({ model: 'llama3.2', messages: HI })).usage?.completion_tokens, 12);
  fake.clearFaults();
  const honest = await ollama.chat({ model: 'qwen2.5:0.5b', messages: HI });
  fake.setFaults({ serveModel: 'qwen2.5:0.5b' }, 'llama3.2');
  const lying = await ollama.chat({ model: 'llama3.2', messages: HI });
  t.equal(lying.model, 'llama3.2', 'under the requested name');
  t.equal(lying.message.content, honest.message.content, "but with the other model's answer");
});

t.test('per-model faults override global ones; times limits them', async (t) => {
  const { fake, ollama } = await fakeFor(t);
  fake.setFaults({ evalCountFactor: 2 });
  fake.setFaults({ evalCountFactor: 5, times: 1 }, 'qwen2.5:0.5b');
  t.equal((await ollama.chat({ model: 'llama3.2', messages: HI })).eval_count, 8);
  t.equal((await ollama.chat({ model: 'qwen2.5:0.5b', messages: HI })).eval_count, 20);
  t.equal((await ollama.chat({ model: 'qwen2.5:0.5b', messages: HI })).eval_count, 8, 'the per-model fault was used up');
  fake.clearFaults();
  t.equal((await ollama.chat({ model: 'qwen2.5:0.5b', messages: HI })).eval_count, 4);
});

t.test('close() cuts stalled answers, lets running ones finish; destroy() is idempotent', async (t) => {
  const fake = await startFakeOllama({ models: [{ name: 'slow', answerTokens: 5, tokenIntervalMs: 20 }, { name: 'stuck' }] });
  t.teardown(() => fake.destroy());
  fake.setFaults({ stallForever: true }, 'stuck');
  const stuck = sendRequest(fake.url + '/api/chat', { body: JSON.stringify({ model: 'stuck', messages: HI }) });
  await fake.nextRequest();
  const slow = await openRequest(fake.url + '/api/chat', { body: JSON.stringify({ model: 'slow', messages: HI }) });
  const closing = fake.close();
  const { got } = await collectLines(slow.res);
  t.equal(got.length, 6, 'the running answer finished');
  await t.rejects(stuck.response, { code: 'ECONNRESET' }, 'the stalled one was cut');
  await closing;
  await t.rejects(openRequest(fake.url + '/', { agent: false }), { code: 'ECONNREFUSED' }, 'no longer listening');
  await fake.destroy();
  await fake.close();
});
