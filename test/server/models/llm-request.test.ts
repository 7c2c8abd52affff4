import t from 'tap';
import { type ApiRoute, matchRoute } from '../../../src/server/models/api-routes.js';
import { parseLlmRequest } from '../../../src/server/models/llm-request.js';

function route(path: string): ApiRoute {
  const match = matchRoute('POST', path);
  if (match === undefined || !('route' in match)) throw new Error(path);
  return match.route;
}

const parse = (path: string, body: unknown) =>
  parseLlmRequest(route(path), Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));

t.test("a streamed OpenAI request always asks the node for usage; the user's other options stay", async (t) => {
  const raw = { model: 'llama3.2', stream: true, stream_options: { other: 1 }, messages: [{ role: 'user', content: 'hi' }] };
  const r = parse('/v1/chat/completions', raw);
  t.same([r.stream, r.wantsUsage, r.key], [true, false, 'registry.ollama.ai/library/llama3.2:latest']);
  t.same(JSON.parse(r.body.toString()), { ...raw, stream_options: { other: 1, include_usage: true } });
  const asked = Buffer.from(JSON.stringify({ ...raw, stream_options: { include_usage: true } }));
  const same = parseLlmRequest(route('/v1/chat/completions'), asked);
  t.same([same.wantsUsage, same.body], [true, asked], 'asked for: the bytes go as they came');
  const whole = Buffer.from('{"model":"m","messages":[]}');
  t.equal(parseLlmRequest(route('/v1/chat/completions'), whole).body, whole, 'not streamed: untouched');
});

t.test('stream defaults: /v1 only when asked, Ollama chat and generate unless told not to, embeddings never', async (t) => {
  t.equal(parse('/v1/completions', { model: 'm' }).stream, false);
  t.equal(parse('/api/chat', { model: 'm' }).stream, true);
  t.equal(parse('/api/generate', { model: 'm', stream: false }).stream, false);
  t.equal(parse('/api/embed', { model: 'm', stream: true }).stream, false);
  t.equal(parse('/api/show', { model: 'm' }).stream, false);
});

t.test('what the ledger wants: tokens asked for, prompt characters', async (t) => {
  t.equal(parse('/v1/chat/completions', { model: 'm', max_tokens: 7 }).maxTokens, 7);
  t.equal(parse('/v1/chat/completions', { model: 'm', max_completion_tokens: 9 }).maxTokens, 9);
  t.equal(parse('/api/generate', { model: 'm', options: { num_predict: -1 } }).maxTokens, null, '-1 is unbounded');
  t.equal(parse('/api/generate', { model: 'm', options: { num_predict: 5 } }).maxTokens, 5);
  const parts = [
    { type: 'text', text: 'abc' },
    { type: 'image_url', image_url: { url: 'data:' } },
  ];
  t.equal(
    parse('/v1/chat/completions', {
      model: 'm',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: parts },
      ],
    }).promptChars,
    11,
  );
  t.equal(parse('/api/generate', { model: 'm', prompt: 'why', system: 'sys', suffix: 'x' }).promptChars, 7);
  t.equal(parse('/v1/embeddings', { model: 'm', input: ['ab', 'c'] }).promptChars, 3);
});

t.test('400s name the field: body, model', async (t) => {
  for (const [body, param] of [
    ['{"model":', 'body'],
    ['[1]', 'body'],
    [{}, 'model'],
    [{ model: '' }, 'model'],
    [{ model: 'has space' }, 'model'],
    [{ model: 42 }, 'model'],
    [{ model: 'a//b' }, 'model'],
  ] as const) {
    t.throws(() => parse('/api/chat', body), { code: 'PRX_ERR_HTTP_BAD_REQUEST', param }, JSON.stringify(body));
  }
});

t.test('the conversation keys come from the same parse: chat routes alike, prompts by prefix, none for embeddings', async (t) => {
  const messages = [
    { role: 'system', content: 's' },
    { role: 'user', content: 'first' },
  ];
  const v1 = parse('/v1/chat/completions', { model: 'llama3.2', messages });
  const native = parse('/api/chat', {
    model: 'llama3.2',
    messages: [...messages, { role: 'assistant', content: 'a' }, { role: 'user', content: 'next' }],
  });
  t.equal(v1.conversation.length, 1);
  t.same(native.conversation, v1.conversation, 'the same conversation on /v1 and /api, at any turn');
  t.equal(parse('/api/generate', { model: 'llama3.2', prompt: 'x'.repeat(100) }).conversation.length, 1);
  t.equal(parse('/v1/completions', { model: 'llama3.2', prompt: 'x'.repeat(300) }).conversation.length, 2);
  t.same(parse('/api/embed', { model: 'all-minilm', input: 'x'.repeat(300) }).conversation, []);
  t.same(parse('/api/show', { model: 'llama3.2' }).conversation, []);
});
