import t from 'tap';
import { type AnswerRelay, answerRelay } from '../../../../src/server/models/answer/answer-relays.js';
import type { ApiRoute } from '../../../../src/server/models/api-routes.js';
import { matchRoute } from '../../../../src/server/models/api-routes.js';
import { parseLlmRequest } from '../../../../src/server/models/llm-request.js';
import { chunkings } from '../../../fixtures/wire/chunkings.js';

function routeOf(path: string): ApiRoute {
  const match = matchRoute('POST', path);
  if (match === undefined || !('route' in match)) throw new Error(`no route ${path}`);
  return match.route;
}

function relayFor(path: string, body: object): AnswerRelay {
  const route = routeOf(path);
  return answerRelay(route, parseLlmRequest(route, Buffer.from(JSON.stringify(body))));
}

/** Runs `input` through a fresh relay in `chunks`; returns what the user got and the relay. */
function run(make: () => AnswerRelay, chunks: Buffer[]): { out: string; relay: AnswerRelay } {
  const relay = make();
  const parts = chunks.map((c) => relay.push(c));
  parts.push(relay.end());
  return { out: Buffer.concat(parts).toString('utf8'), relay };
}

const chunk = (delta: object, finish: string | null = null): string =>
  `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":${JSON.stringify(delta)},"finish_reason":${JSON.stringify(finish)}}]}\n\n`;
const USAGE =
  'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":26,"completion_tokens":3,"total_tokens":29}}\n\n';
const SSE =
  chunk({ role: 'assistant', content: 'Hé' }) +
  ': node keep-alive\n\n' +
  chunk({ content: 'llo 日本' }) +
  chunk({ tool_calls: [{ index: 0, id: 'c1', type: 'function', function: { name: 'f', arguments: '{"city":"Tokyo"}' } }] }) +
  chunk({}, 'tool_calls') +
  USAGE +
  'data: [DONE]\n\n';

t.test('SSE without usage asked for: the usage chunk is dropped, everything else passes, however it is cut', async (t) => {
  const expected = SSE.replace(': node keep-alive\n\n', '').replace(USAGE, '');
  for (const { name, chunks } of chunkings(Buffer.from(SSE), { randomRuns: 10, everySplit: false })) {
    const { out, relay } = run(() => relayFor('/v1/chat/completions', { model: 'm', stream: true }), chunks);
    if (out !== expected) t.fail(`${name}: the user got something else`);
    const m = relay.meter;
    const ok =
      relay.complete &&
      m.finishReason === 'tool_calls' &&
      m.promptTokensReported === 26 &&
      m.completionTokensReported === 3 &&
      m.contentChars === 8 + 17 &&
      m.contentBytes === 13 + 17 &&
      m.observedTokens === 2 + 9;
    if (!ok) t.fail(`${name}: metered ${JSON.stringify(m)}`);
  }
  t.pass('every cutting');
});

t.test('SSE with usage asked for passes every event; /v1/completions loses its zero usage only when not asked', async (t) => {
  const asked = run(
    () => relayFor('/v1/chat/completions', { model: 'm', stream: true, stream_options: { include_usage: true } }),
    [Buffer.from(SSE)],
  );
  t.equal(asked.out, SSE.replace(': node keep-alive\n\n', ''));
  const completion =
    'data: {"id":"cmpl-1","choices":[{"text":"a","index":0,"finish_reason":null}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}\n\n' +
    'data: {"id":"cmpl-1","choices":[{"text":"","index":0,"finish_reason":"stop"}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}\n\n' +
    'data: {"id":"cmpl-1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}\n\n';
  const plain = run(() => relayFor('/v1/completions', { model: 'm', stream: true }), [Buffer.from(completion)]);
  t.equal(
    plain.out,
    'data: {"id":"cmpl-1","choices":[{"text":"a","index":0,"finish_reason":null}]}\n\ndata: {"id":"cmpl-1","choices":[{"text":"","index":0,"finish_reason":"stop"}]}\n\n',
  );
  t.same(
    [plain.relay.meter.promptTokensReported, plain.relay.meter.completionTokensReported],
    [5, 1],
    'the last usage counts, not the zeros',
  );
});

t.test("SSE ending without a finish reason or [DONE] is not complete; an in-band error is the node's", async (t) => {
  const truncated = run(
    () => relayFor('/v1/chat/completions', { model: 'm', stream: true }),
    [Buffer.from(chunk({ content: 'a' }) + chunk({ content: '' }))],
  );
  t.notOk(truncated.relay.complete);
  t.equal(truncated.relay.meter.error, undefined);
  const failed = run(
    () => relayFor('/v1/chat/completions', { model: 'm', stream: true }),
    [Buffer.from(chunk({ content: 'a' }) + 'data: {"error":{"message":"boom"}}\n\n')],
  );
  t.same([failed.relay.complete, failed.relay.meter.error], [false, 'boom']);
  t.match(failed.out, /data: \{"error":\{"message":"boom"\}\}\n\n$/, 'passed on to the user');
});

t.test('NDJSON: lines pass as they are (a last one without a newline too), done:true completes, counters absent are 0', async (t) => {
  const lines =
    '{"message":{"role":"assistant","content":"The"},"done":false}\n{"message":{"role":"assistant","content":" sky"},"done":false}\n' +
    '{"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","eval_count":2,"eval_duration":1500}';
  for (const { name, chunks } of chunkings(Buffer.from(lines), { randomRuns: 10, everySplit: false })) {
    const { out, relay } = run(() => relayFor('/api/chat', { model: 'm' }), chunks);
    const m = relay.meter;
    if (
      out !== `${lines}\n` ||
      !relay.complete ||
      m.observedTokens !== 2 ||
      m.promptTokensReported !== 0 ||
      m.completionTokensReported !== 2 ||
      m.evalDurationNs !== 1500
    ) {
      t.fail(`${name}: ${out} ${JSON.stringify(m)}`);
    }
  }
  const cut = run(
    () => relayFor('/api/generate', { model: 'm' }),
    [Buffer.from('{"response":"a","done":false}\n{"error":"runner died"}\n')],
  );
  t.same([cut.relay.complete, cut.relay.meter.error, cut.relay.meter.finishReason], [false, 'runner died', null]);
  const tool = run(
    () => relayFor('/api/chat', { model: 'm' }),
    [
      Buffer.from(
        '{"message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Tokyo"}}}]},"done":false}\n',
      ),
    ],
  );
  t.equal(tool.relay.meter.observedTokens, 14, 'a tool call counts ceil(27 characters / 2)');
});

t.test('whole answers: read once complete, embeddings report prompt tokens only, bad JSON is not complete', async (t) => {
  const chat = run(
    () => relayFor('/v1/chat/completions', { model: 'm' }),
    [
      Buffer.from('{"choices":[{"message":{"role":"assistant","content":"hi"},"fin'),
      Buffer.from('ish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}'),
    ],
  );
  t.same(
    [chat.relay.complete, chat.relay.meter.finishReason, chat.relay.meter.contentChars, chat.relay.meter.completionTokensReported],
    [true, 'stop', 2, 1],
  );
  const native = run(
    () => relayFor('/api/embed', { model: 'm', input: 'x' }),
    [Buffer.from('{"model":"m","embeddings":[[0.1]],"prompt_eval_count":4}')],
  );
  t.same([native.relay.complete, native.relay.meter.promptTokensReported, native.relay.meter.completionTokensReported], [true, 4, 0]);
  const openai = run(
    () => relayFor('/v1/embeddings', { model: 'm', input: 'x' }),
    [Buffer.from('{"object":"list","data":[],"usage":{"prompt_tokens":2,"total_tokens":2}}')],
  );
  t.same([openai.relay.meter.promptTokensReported, openai.relay.meter.completionTokensReported], [2, 0]);
  t.notOk(run(() => relayFor('/api/generate', { model: 'm', stream: false }), [Buffer.from('{"response":"a",')]).relay.complete);
  t.equal(
    run(() => relayFor('/api/generate', { model: 'm', stream: false }), [Buffer.from('{"response":"a"}')]).out,
    '{"response":"a"}',
    'bytes pass untouched',
  );
});

/** Runs `input` through a fresh relay in `chunks`; what `push` let out, and what `end` held back until the end. */
function split(make: () => AnswerRelay, chunks: Buffer[]): { before: string; tail: string; relay: AnswerRelay } {
  const relay = make();
  const before = Buffer.concat(chunks.map((c) => relay.push(c))).toString('utf8');
  return { before, tail: relay.end().toString('utf8'), relay };
}

t.test('the tail is held until end(): from the finishing event or line on, a whole answer from its last non-space byte', async (t) => {
  const sseTail = chunk({}, 'tool_calls') + USAGE + 'data: [DONE]\n\n';
  for (const { name, chunks } of chunkings(Buffer.from(SSE), { randomRuns: 10 })) {
    const { before, tail, relay } = split(
      () => relayFor('/v1/chat/completions', { model: 'm', stream: true, stream_options: { include_usage: true } }),
      chunks,
    );
    if (tail !== sseTail || before + tail !== SSE.replace(': node keep-alive\n\n', '') || !relay.complete)
      t.fail(`SSE ${name}: held ${JSON.stringify(tail)}`);
  }
  const onlyDone = split(
    () => relayFor('/v1/chat/completions', { model: 'm', stream: true }),
    [Buffer.from(`${chunk({ content: 'a' })}data: [DONE]\n\n`)],
  );
  t.same([onlyDone.before, onlyDone.tail], [chunk({ content: 'a' }), 'data: [DONE]\n\n'], '[DONE] alone finishes too');

  const done = '{"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","eval_count":2}';
  const ndjson = `{"message":{"role":"assistant","content":"The"},"done":false}\n${done}\n`;
  for (const { name, chunks } of chunkings(Buffer.from(ndjson), { randomRuns: 10 })) {
    const { before, tail, relay } = split(() => relayFor('/api/chat', { model: 'm' }), chunks);
    if (tail !== `${done}\n` || before + tail !== ndjson || !relay.complete) t.fail(`NDJSON ${name}: held ${JSON.stringify(tail)}`);
  }
  const unended = split(() => relayFor('/api/chat', { model: 'm' }), [Buffer.from(`{"done":false}\n${done}`)]);
  t.same([unended.before, unended.tail], ['{"done":false}\n', `${done}\n`], 'a last line without its newline is the tail');

  const whole = '{"model":"m","response":"hi","done":true}\n';
  for (const { name, chunks } of chunkings(Buffer.from(whole), { randomRuns: 10 })) {
    const { before, tail, relay } = split(() => relayFor('/api/generate', { model: 'm', stream: false }), chunks);
    if (tail !== '}\n' || before + tail !== whole || !relay.complete) t.fail(`whole ${name}: held ${JSON.stringify(tail)}`);
  }
  t.pass('every cutting');
});

t.test('a node that goes on sending after its answer finished is cut once the held tail passes its bound', async (t) => {
  const filler = (n: number) => `data: {"pad":"${'x'.repeat(n)}"}\n\n`;
  const cases: [string, () => AnswerRelay, string, string][] = [
    ['SSE', () => relayFor('/v1/chat/completions', { model: 'm', stream: true }), chunk({}, 'stop'), filler(64 * 1024)],
    ['NDJSON', () => relayFor('/api/chat', { model: 'm' }), '{"done":true,"done_reason":"stop"}\n', `{"pad":"${'x'.repeat(64 * 1024)}"}\n`],
    [
      'Anthropic events',
      () => relayFor('/v1/messages', { model: 'm', stream: true, max_tokens: 8 }),
      'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}}\n\n',
      `event: ping\n${filler(64 * 1024)}`,
    ],
    ['whole JSON', () => relayFor('/v1/chat/completions', { model: 'm' }), '{"choices":[]}', ' '.repeat(64 * 1024)],
  ];
  for (const [what, make, finish, more] of cases) {
    const relay = make();
    relay.push(Buffer.from(finish));
    let pushed = 0;
    let caught: unknown;
    try {
      for (; pushed < 200; pushed++) relay.push(Buffer.from(more));
    } catch (err) {
      caught = err;
    }
    t.match(caught, { code: 'PRX_ERR_NODE_FAILED' }, `${what}: cut`);
    t.ok(pushed >= 60 && pushed < 70, `${what}: after about 4 MiB (${pushed} × 64 KiB)`);
  }
});

t.test('events and lines pass as their own bytes only when writing them out again gives the same bytes', async (t) => {
  // Odd spellings a node might send: CRLF, `data:` without its space, two data lines, an event name,
  // a comment inside an event, bytes that are not UTF-8. Each is written out again as before.
  const odd = Buffer.concat([
    Buffer.from(`${chunk({ content: 'a' })}data:${chunk({ content: 'b' }).slice(5).replace('\n\n', '\r\n\r\n')}`),
    Buffer.from(`data: {"choices":[{"index":0,"delta":{"content":"c"},\ndata: "finish_reason":null}]}\n\n`),
    Buffer.from(`event: x\n${chunk({ content: 'd' })}: note\n${chunk({ content: 'e' })}`),
    Buffer.from('data: {"choices":[{"index":0,"delta":{"content":"'),
    Buffer.from([0xff, 0xfe]),
    Buffer.from(`"},"finish_reason":null}]}\n\n${chunk({}, 'stop')}data: [DONE]\n\n`),
  ]);
  const rebuilt = (data: string, event?: string): string =>
    `${event === undefined ? '' : `event: ${event}\n`}${data
      .split('\n')
      .map((l) => `data: ${l}\n`)
      .join('')}\n`;
  const expected =
    chunk({ content: 'a' }) +
    chunk({ content: 'b' }) +
    rebuilt('{"choices":[{"index":0,"delta":{"content":"c"},\n"finish_reason":null}]}') +
    rebuilt(chunk({ content: 'd' }).slice(6, -2), 'x') +
    chunk({ content: 'e' }) +
    rebuilt(`{"choices":[{"index":0,"delta":{"content":"${Buffer.from([0xff, 0xfe]).toString('utf8')}"},"finish_reason":null}]}`) +
    chunk({}, 'stop') +
    'data: [DONE]\n\n';
  let seen = 0;
  for (const { name, chunks } of chunkings(odd, { randomRuns: 20, everySplit: true })) {
    const { out } = run(
      () => relayFor('/v1/chat/completions', { model: 'm', stream: true, stream_options: { include_usage: true } }),
      chunks,
    );
    if (out !== expected) t.fail(`${name}: ${JSON.stringify(out)}`);
    else seen++;
  }
  const nd = Buffer.concat([
    Buffer.from('{"message":{"content":"a"},"done":false}\n{"message":{"content":"b"},"done":false}\r\n\n{"message":{"content":"'),
    Buffer.from([0xc3]),
    Buffer.from('"},"done":false}\n{"done":true,"eval_count":3}\n'),
  ]);
  const ndExpected = `{"message":{"content":"a"},"done":false}\n{"message":{"content":"b"},"done":false}\n{"message":{"content":"${Buffer.from([0xc3]).toString('utf8')}"},"done":false}\n{"done":true,"eval_count":3}\n`;
  for (const { name, chunks } of chunkings(nd, { randomRuns: 20, everySplit: true })) {
    const { out, relay } = run(() => relayFor('/api/chat', { model: 'm' }), chunks);
    if (out !== ndExpected) t.fail(`${name}: ${JSON.stringify(out)}`);
    if (relay.meter.completionTokensReported !== 3 || !relay.complete) t.fail(`${name}: metered ${JSON.stringify(relay.meter)}`);
  }
  t.ok(seen > odd.length, `${seen} cuttings of the SSE stream`);
});
