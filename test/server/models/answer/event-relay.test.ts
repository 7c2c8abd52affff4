import t from 'tap';
import { type AnswerRelay, answerRelay } from '../../../../src/server/models/answer/answer-relays.js';
import { matchRoute } from '../../../../src/server/models/api-routes.js';
import { parseLlmRequest } from '../../../../src/server/models/llm-request.js';
import { chunkings } from '../../../fixtures/wire/chunkings.js';

function relayFor(path: string, body: object): AnswerRelay {
  const match = matchRoute('POST', path);
  if (match === undefined || !('route' in match)) throw new Error(`no route ${path}`);
  return answerRelay(match.route, parseLlmRequest(match.route, Buffer.from(JSON.stringify(body))));
}

const ev = (type: string, value: object): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...value })}\n\n`;

const RESPONSE = { id: 'resp_1', object: 'response', status: 'completed', error: null };
const RESPONSES_BODY =
  ev('response.created', { response: { ...RESPONSE, status: 'in_progress', usage: null } }) +
  ': node keep-alive\n\n' +
  ev('response.output_text.delta', { delta: 'Hé' }) +
  ev('response.output_text.delta', { delta: 'llo 日本' }) +
  ev('response.function_call_arguments.delta', { delta: '{"city":"Tokyo"}' }) +
  ev('response.output_text.done', { text: 'Héllo 日本' });
const RESPONSES_TAIL = ev('response.completed', {
  response: { ...RESPONSE, usage: { input_tokens: 26, output_tokens: 3, total_tokens: 29 } },
});

const MESSAGES_BODY =
  ev('message_start', { message: { id: 'msg_1', type: 'message', content: [], usage: { input_tokens: 12, output_tokens: 0 } } }) +
  ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
  ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hé' } }) +
  ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'llo' } }) +
  ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":"Tokyo"}' } }) +
  ev('content_block_stop', { index: 0 });
const MESSAGES_TAIL =
  ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 5 } }) + ev('message_stop', {});

t.test('a Responses stream: every event passes, response.completed is the held tail, usage from it', async (t) => {
  for (const { name, chunks } of chunkings(Buffer.from(RESPONSES_BODY + RESPONSES_TAIL), { randomRuns: 10, everySplit: false })) {
    const relay = relayFor('/v1/responses', { model: 'm', input: 'hi', stream: true });
    const before = Buffer.concat(chunks.map((c) => relay.push(c))).toString('utf8');
    const tail = relay.end().toString('utf8');
    const m = relay.meter;
    const ok =
      before === RESPONSES_BODY.replace(': node keep-alive\n\n', '') &&
      tail === RESPONSES_TAIL &&
      relay.complete &&
      m.promptTokensReported === 26 &&
      m.completionTokensReported === 3 &&
      m.finishReason === 'completed' &&
      m.contentChars === 8 + 16 &&
      m.observedTokens === 2 + 8;
    if (!ok) t.fail(`${name}: ${JSON.stringify({ before, tail, m })}`);
  }
  t.pass('every cutting');
});

t.test('an Anthropic stream: message_delta and message_stop are the held tail; usage from message_start and message_delta', async (t) => {
  for (const { name, chunks } of chunkings(Buffer.from(MESSAGES_BODY + MESSAGES_TAIL), { randomRuns: 10, everySplit: false })) {
    const relay = relayFor('/v1/messages', { model: 'm', max_tokens: 9, messages: [], stream: true });
    const before = Buffer.concat(chunks.map((c) => relay.push(c))).toString('utf8');
    const tail = relay.end().toString('utf8');
    const m = relay.meter;
    const ok =
      before === MESSAGES_BODY &&
      tail === MESSAGES_TAIL &&
      relay.complete &&
      m.promptTokensReported === 12 &&
      m.completionTokensReported === 5 &&
      m.finishReason === 'end_turn' &&
      m.observedTokens === 2 + 8;
    if (!ok) t.fail(`${name}: ${JSON.stringify({ before, tail, m })}`);
  }
  t.pass('every cutting');
});

t.test('a stream that stops before its last event, or says error, is not complete', async (t) => {
  const cut = relayFor('/v1/messages', { model: 'm', stream: true });
  cut.push(Buffer.from(MESSAGES_BODY + MESSAGES_TAIL.split('event: message_stop')[0]!));
  t.equal(cut.end().toString('utf8').startsWith('event: message_delta'), true, 'the held tail comes out at the end');
  t.equal(cut.complete, false, 'without message_stop');
  const failed = relayFor('/v1/messages', { model: 'm', stream: true });
  failed.push(Buffer.from(MESSAGES_BODY + ev('error', { error: { type: 'overloaded_error', message: 'busy' } })));
  failed.end();
  t.same([failed.complete, failed.meter.error], [false, 'busy']);
  const responses = relayFor('/v1/responses', { model: 'm', stream: true });
  responses.push(
    Buffer.from(RESPONSES_BODY + ev('response.failed', { response: { ...RESPONSE, status: 'failed', error: { message: 'oom' } } })),
  );
  responses.end();
  t.same([responses.complete, responses.meter.error], [false, 'oom']);
});

t.test('whole answers: usage from usage.input_tokens/output_tokens; the closing brace held; "error": null is no error', async (t) => {
  const response = JSON.stringify({
    ...RESPONSE,
    output: [
      { type: 'message', content: [{ type: 'output_text', text: 'Héllo' }] },
      { type: 'function_call', arguments: '{"a":1}' },
    ],
    usage: { input_tokens: 7, output_tokens: 4, total_tokens: 11 },
  });
  const whole = relayFor('/v1/responses', { model: 'm', input: 'hi' });
  const out = whole.push(Buffer.from(`${response}\n`)).toString('utf8');
  t.equal(out, response.slice(0, -1), 'all but the closing brace');
  t.equal(whole.end().toString('utf8'), '}\n');
  t.match(whole.meter, { promptTokensReported: 7, completionTokensReported: 4, finishReason: 'completed', contentChars: 12 });
  t.equal(whole.complete, true);
  const message = JSON.stringify({
    id: 'msg_1',
    type: 'message',
    content: [{ type: 'text', text: 'Hi' }],
    stop_reason: 'max_tokens',
    usage: { input_tokens: 3, output_tokens: 2 },
  });
  const anthropic = relayFor('/v1/messages', { model: 'm', max_tokens: 2, messages: [] });
  anthropic.push(Buffer.from(message));
  anthropic.end();
  t.match(anthropic.meter, { promptTokensReported: 3, completionTokensReported: 2, finishReason: 'max_tokens' });
  t.equal(anthropic.complete, true);
  const error = relayFor('/v1/messages', { model: 'm', messages: [] });
  error.push(Buffer.from('{"type":"error","error":{"type":"api_error","message":"boom"}}'));
  error.end();
  t.same([error.complete, error.meter.error], [false, 'boom']);
});

t.test('requests: max_output_tokens and max_tokens are the tokens asked for; no stream_options added', async (t) => {
  const parse = (path: string, body: object) => {
    const match = matchRoute('POST', path);
    if (match === undefined || !('route' in match)) throw new Error(path);
    return parseLlmRequest(match.route, Buffer.from(JSON.stringify(body)));
  };
  const responses = parse('/v1/responses', {
    model: 'm',
    stream: true,
    max_output_tokens: 40,
    instructions: 'be brief',
    input: [{ role: 'user', content: [{ type: 'input_text', text: 'hello' }] }],
  });
  t.match(responses, { stream: true, maxTokens: 40, promptChars: 8 + 5 });
  t.notOk(JSON.parse(responses.body.toString()).stream_options, 'the body as sent');
  const messages = parse('/v1/messages', {
    model: 'm',
    max_tokens: 30,
    system: 'sys',
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'hey' },
          { type: 'image', source: {} },
        ],
      },
    ],
  });
  t.match(messages, { stream: false, maxTokens: 30, promptChars: 3 + 3 });
});
