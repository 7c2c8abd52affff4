/**
 * The Responses and Messages APIs through the real proxima-server and proxima-client, in front of a
 * fake Ollama that serves both, spoken by the official clients: openai's `responses.create` (whole
 * and streamed) and @anthropic-ai/sdk's `messages.create` and `messages.stream`. Each answer is the
 * fake's own, its ledger record carries the usage the node reported, and errors come in each API's
 * shape (unknown model 404, no key 401).
 */
import { on } from 'node:events';
import { watch } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t from 'tap';
import { readLedger } from '../../../src/server/ledger/ledger-reader.js';
import type { RequestRecord } from '../../../src/server/ledger/ledger-record.js';
import { SURFACE_KEY as KEY, startSurfaceStack } from '../../fixtures/stacks/api-node.js';
import { rawRequest } from '../../fixtures/wire/raw-http.js';

/** The ledger's request records, by id. */
async function records(dataDir: string): Promise<Map<string, RequestRecord>> {
  const byId = new Map<string, RequestRecord>();
  for await (const r of readLedger({ dataDir })) if (r.type === 'request') byId.set(r.id, r);
  return byId;
}

/**
 * The ledger's records once every one of `ids` is among them: read again each time the data folder
 * changes (the watcher starts before the first read, so no append goes unseen), for at most 60 s.
 */
async function recordsOnceWritten(dataDir: string, ids: string[]): Promise<Map<string, RequestRecord>> {
  const watcher = watch(dataDir);
  const changes = on(watcher, 'change', { signal: AbortSignal.timeout(60_000) });
  try {
    let ledger = await records(dataDir);
    while (!ids.every((id) => ledger.has(id))) {
      await changes.next();
      ledger = await records(dataDir);
    }
    return ledger;
  } finally {
    await changes.return?.();
    watcher.close();
  }
}

const HI = [{ role: 'user' as const, content: 'hi' }];

t.test('Responses and Messages APIs with the official clients: answers, usage in the ledger, error shapes', async (t) => {
  const { base, fake, dataDir } = await startSurfaceStack(t);
  const openai = new OpenAI({ apiKey: KEY, baseURL: `${base}/v1`, maxRetries: 0 });
  const anthropic = new Anthropic({ apiKey: KEY, baseURL: base, maxRetries: 0 });
  // The fake's answer to "user: hi", as chat gives it (the same prompt on every route).
  const direct = await rawRequest(`${fake.url}/api/chat`, {
    method: 'POST',
    body: JSON.stringify({ model: 'llama3.2', messages: HI, stream: false }),
    agent: false,
  });
  const expected = (JSON.parse(direct.text) as { message: { content: string } }).message.content;
  t.ok(expected.length > 0, 'the fake answers');
  const ids: { route: string; id: string; input: number; output: number; stream: boolean }[] = [];

  const whole = await openai.responses.create({ model: 'llama3.2', input: 'hi' }).withResponse();
  t.equal(whole.data.output_text, expected, 'responses.create: the answer');
  t.equal(whole.data.status, 'completed');
  ids.push({
    route: '/v1/responses',
    id: whole.response.headers.get('x-request-id')!,
    input: whole.data.usage!.input_tokens,
    output: whole.data.usage!.output_tokens,
    stream: false,
  });

  const streamed = await openai.responses.create({ model: 'llama3.2', input: 'hi', stream: true }).withResponse();
  let text = '';
  let completed: OpenAI.Responses.Response | undefined;
  for await (const event of streamed.data) {
    if (event.type === 'response.output_text.delta') text += event.delta;
    if (event.type === 'response.completed') completed = event.response;
  }
  t.equal(text, expected, 'responses.create stream: the deltas make the answer');
  t.ok(completed?.usage !== undefined && completed.usage !== null, 'response.completed arrived with its usage');
  ids.push({
    route: '/v1/responses',
    id: streamed.response.headers.get('x-request-id')!,
    input: completed!.usage!.input_tokens,
    output: completed!.usage!.output_tokens,
    stream: true,
  });

  const message = await anthropic.messages.create({ model: 'llama3.2', max_tokens: 64, messages: HI }).withResponse();
  t.same(message.data.content, [{ type: 'text', text: expected }], 'messages.create: the answer');
  t.equal(message.data.stop_reason, 'end_turn');
  ids.push({
    route: '/v1/messages',
    id: message.response.headers.get('x-request-id')!,
    input: message.data.usage.input_tokens,
    output: message.data.usage.output_tokens,
    stream: false,
  });

  const stream = anthropic.messages.stream({ model: 'llama3.2', max_tokens: 64, messages: HI });
  let deltas = '';
  stream.on('text', (delta) => (deltas += delta));
  const final = await stream.finalMessage();
  t.equal(deltas, expected, 'messages.stream: the text events make the answer');
  t.same(final.content, [{ type: 'text', text: expected }]);
  t.equal(final.stop_reason, 'end_turn');
  const { response } = await stream.withResponse();
  ids.push({
    route: '/v1/messages',
    id: response.headers.get('x-request-id')!,
    input: final.usage.input_tokens,
    output: final.usage.output_tokens,
    stream: true,
  });

  const ledger = await records(dataDir);
  for (const want of ids) {
    const r = ledger.get(want.id);
    t.ok(want.input > 0 && want.output > 0, `${want.route} stream=${want.stream}: the node reported usage`);
    t.match(
      r,
      {
        route: want.route,
        stream: want.stream,
        outcome: 'ok',
        node: 'alpha',
        model: 'llama3.2:latest',
        keyId: 'user',
        promptTokensReported: want.input,
        completionTokensReported: want.output,
      },
      `${want.route} stream=${want.stream}: the ledger has the usage the user saw`,
    );
    if (want.stream) t.equal(r?.completionTokensObserved, want.output, 'one content event a token');
  }

  // Errors, each in its API's own shape.
  const unknownOpenAi = await openai.responses.create({ model: 'nope', input: 'hi' }).catch((e: unknown) => e);
  t.type(unknownOpenAi, OpenAI.NotFoundError, 'an unknown model: 404 to the openai client');
  t.match(unknownOpenAi, { status: 404, code: 'model_not_found', type: 'invalid_request_error' });
  const unknownAnthropic = await anthropic.messages.create({ model: 'nope', max_tokens: 8, messages: HI }).catch((e: unknown) => e);
  t.type(unknownAnthropic, Anthropic.NotFoundError, 'an unknown model: 404 to the anthropic client');
  t.match(unknownAnthropic, { status: 404, error: { type: 'error', error: { type: 'not_found_error', message: /nope/ } } });
  const noKey = await new Anthropic({ apiKey: 'wrong-key', baseURL: base, maxRetries: 0 }).messages
    .create({ model: 'llama3.2', max_tokens: 8, messages: HI })
    .catch((e: unknown) => e);
  t.type(noKey, Anthropic.AuthenticationError, 'a wrong x-api-key: 401');
  t.match(noKey, { status: 401, error: { type: 'error', error: { type: 'authentication_error' } } });
  const bare = await rawRequest(`${base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'llama3.2', max_tokens: 8, messages: HI }),
    agent: false,
  });
  t.equal(bare.status, 401, 'no key at all: 401');
  t.match(JSON.parse(bare.text), { type: 'error', error: { type: 'authentication_error', message: String } });
  const bearer = await rawRequest(`${base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model: 'llama3.2', max_tokens: 8, messages: HI }),
    agent: false,
  });
  t.equal(bearer.status, 200, 'a Bearer key works on /v1/messages too');
  const noKeyOpenAi = await new OpenAI({ apiKey: 'wrong-key', baseURL: `${base}/v1`, maxRetries: 0 }).responses
    .create({ model: 'llama3.2', input: 'hi' })
    .catch((e: unknown) => e);
  t.type(noKeyOpenAi, OpenAI.AuthenticationError, 'a wrong key on /v1/responses: 401');
  t.match(noKeyOpenAi, { status: 401, code: 'invalid_api_key' });
});

t.test("a node whose answer fails mid-stream: each client gets the node's error event, the ledger says node_error", async (t) => {
  const { base, fake, dataDir } = await startSurfaceStack(t);
  const openai = new OpenAI({ apiKey: KEY, baseURL: `${base}/v1`, maxRetries: 0 });
  const anthropic = new Anthropic({ apiKey: KEY, baseURL: base, maxRetries: 0 });
  fake.setFaults({ midStreamErrorAfterTokens: 2, midStreamErrorMessage: 'the runner died' });

  const responses = await openai.responses.create({ model: 'llama3.2', input: 'hi', stream: true }).withResponse();
  const seen: { type: string; message?: string }[] = [];
  for await (const event of responses.data) seen.push(event as { type: string; message?: string });
  // openai-node hands a Responses `error` event over as one of the stream's events; it does not throw.
  t.match(seen.at(-1), { type: 'error', message: /the runner died/ }, "openai: the stream ends with the node's error event");
  t.notOk(
    seen.some((e) => e.type === 'response.completed'),
    'and no response.completed came',
  );

  const stream = anthropic.messages.stream({ model: 'llama3.2', max_tokens: 64, messages: HI });
  const failed = await stream.finalMessage().catch((e: unknown) => e);
  t.type(failed, Anthropic.APIError, 'anthropic: the error event throws');
  t.match(failed, { message: /the runner died/ });
  const { response } = await stream.withResponse();

  // A failed answer's record is not waited for by its user: wait for it here, reading the ledger again.
  const ids = [responses.response.headers.get('x-request-id')!, response.headers.get('x-request-id')!];
  const ledger = await recordsOnceWritten(dataDir, ids);
  for (const id of ids) {
    t.match(ledger.get(id), { outcome: 'node_error', node: 'alpha' }, `${id}: recorded as the node's failure`);
  }
});
