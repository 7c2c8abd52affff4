/**
 * Tool definitions, tool calls in the history, images and embedding inputs reach the node exactly as
 * the user's client sent them, on every route, through the real proxima-server and proxima-client
 * processes. Each call is made twice with the same official client (openai, ollama, anthropic):
 * once straight to the fake Ollama and once through Proxima; the fake records both bodies and they
 * must be the same, byte count included. Only a streamed OpenAI chat differs, by the
 * `stream_options.include_usage` the super node adds to meter it.
 */
import Anthropic from '@anthropic-ai/sdk';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import t from 'tap';
import type { RequestRecord } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { SURFACE_KEY, startSurfaceStack } from '../../fixtures/stacks/api-node.js';

/** A 1x1 PNG. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const DATA_URL = `data:image/png;base64,${PNG}`;
/** Characters a careless re-encoding would change: HTML-sensitive ones, non-ASCII, escapes. */
const TRICKY = 'Weather <in> a "city" & ünïcode — \u2028 \\n 🌦';
const SCHEMA = { type: 'object', properties: { city: { type: 'string', description: TRICKY } }, required: ['city'] };

const OPENAI_TOOLS: OpenAI.Chat.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: TRICKY, parameters: SCHEMA } },
];
const OPENAI_MESSAGES: OpenAI.Chat.ChatCompletionMessageParam[] = [
  {
    role: 'user',
    content: [
      { type: 'text', text: 'what is in this picture, and the weather?' },
      { type: 'image_url', image_url: { url: DATA_URL } },
    ],
  },
  {
    role: 'assistant',
    content: '',
    tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Zürich <3>"}' } }],
  },
  { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
];
const OLLAMA_TOOLS = [{ type: 'function', function: { name: 'get_weather', description: TRICKY, parameters: SCHEMA } }];
const OLLAMA_MESSAGES = [
  { role: 'user', content: 'what is in this picture?', images: [PNG] },
  { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Zürich <3>' } } }] },
  { role: 'tool', content: '{"temp":21}' },
];

const isCall = (r: RequestRecord): boolean => r.method === 'POST';

t.test('tools, images and embeddings reach the node as the client sent them, on every route', async (t) => {
  const { base, fake } = await startSurfaceStack(t);
  const openai = (url: string): OpenAI => new OpenAI({ apiKey: SURFACE_KEY, baseURL: `${url}/v1`, maxRetries: 0 });
  const ollama = (url: string): Ollama => new Ollama({ host: url, headers: { Authorization: `Bearer ${SURFACE_KEY}` } });
  const anthropic = (url: string): Anthropic => new Anthropic({ apiKey: SURFACE_KEY, baseURL: url, maxRetries: 0 });

  /** Runs `call` straight to the fake and through Proxima; the node's two records and the two results. */
  const twice = async <R>(
    call: (url: string) => Promise<R>,
  ): Promise<{ direct: RequestRecord; proxied: RequestRecord; results: [R, R] }> => {
    // The node polls the model list meanwhile: only the POSTs are calls.
    const first = fake.nextRequest(isCall);
    const a = await call(fake.url);
    const direct = await first;
    const second = fake.nextRequest(isCall);
    const b = await call(base);
    const proxied = await second;
    return { direct, proxied, results: [a, b] };
  };
  const same = (name: string, direct: RequestRecord, proxied: RequestRecord): void => {
    t.equal(proxied.path, direct.path, `${name}: the same route at the node`);
    t.equal(JSON.stringify(proxied.body), JSON.stringify(direct.body), `${name}: the same body at the node`);
    t.equal(proxied.bodyBytes, direct.bodyBytes, `${name}: the same byte count`);
  };
  const drain = async (stream: AsyncIterable<unknown>): Promise<number> => {
    let n = 0;
    for await (const _ of stream) n++;
    return n;
  };

  const chat = await twice((url) =>
    openai(url).chat.completions.create({ model: 'llama3.2', messages: OPENAI_MESSAGES, tools: OPENAI_TOOLS }),
  );
  same('/v1/chat/completions', chat.direct, chat.proxied);
  t.match(chat.proxied.body, { tools: OPENAI_TOOLS, messages: OPENAI_MESSAGES }, 'tools and the image are in it');

  const chatStream = await twice(async (url) =>
    drain(await openai(url).chat.completions.create({ model: 'llama3.2', messages: OPENAI_MESSAGES, tools: OPENAI_TOOLS, stream: true })),
  );
  const { stream_options: added, ...rest } = chatStream.proxied.body as Record<string, unknown>;
  t.same(added, { include_usage: true }, '/v1/chat/completions streamed: usage asked for by the super node');
  t.equal(JSON.stringify(rest), JSON.stringify(chatStream.direct.body), '/v1/chat/completions streamed: the rest as sent');
  t.equal(chatStream.results[1], chatStream.results[0], 'the same number of chunks for the user');

  const nativeChat = await twice((url) => ollama(url).chat({ model: 'llama3.2', messages: OLLAMA_MESSAGES, tools: OLLAMA_TOOLS }));
  same('/api/chat', nativeChat.direct, nativeChat.proxied);
  t.match(nativeChat.proxied.body, { tools: OLLAMA_TOOLS, messages: [{ images: [PNG] }] });
  t.equal(nativeChat.results[1].message.content, nativeChat.results[0].message.content);

  const nativeChatStream = await twice(async (url) =>
    drain(await ollama(url).chat({ model: 'llama3.2', messages: OLLAMA_MESSAGES, tools: OLLAMA_TOOLS, stream: true })),
  );
  same('/api/chat streamed', nativeChatStream.direct, nativeChatStream.proxied);

  const generate = await twice((url) => ollama(url).generate({ model: 'llama3.2', prompt: TRICKY, images: [PNG] }));
  same('/api/generate', generate.direct, generate.proxied);
  t.match(generate.proxied.body, { prompt: TRICKY, images: [PNG] });
  t.equal(generate.results[1].response, generate.results[0].response);

  const inputs = [TRICKY, 'second input'];
  const embeddings = await twice((url) => openai(url).embeddings.create({ model: 'all-minilm', input: inputs }));
  same('/v1/embeddings', embeddings.direct, embeddings.proxied);
  t.same(
    embeddings.results[1].data.map((d) => d.embedding),
    embeddings.results[0].data.map((d) => d.embedding),
    'the same vectors for the user',
  );
  t.equal(embeddings.results[1].data.length, 2);

  const embed = await twice((url) => ollama(url).embed({ model: 'all-minilm', input: inputs }));
  same('/api/embed', embed.direct, embed.proxied);
  t.same(embed.results[1].embeddings, embed.results[0].embeddings, 'the same vectors for the user');

  const responsesTools: OpenAI.Responses.Tool[] = [
    { type: 'function', name: 'get_weather', description: TRICKY, parameters: SCHEMA, strict: false },
  ];
  const responsesInput: OpenAI.Responses.ResponseInput = [
    {
      role: 'user',
      content: [
        { type: 'input_text', text: 'what is in this picture?' },
        { type: 'input_image', image_url: DATA_URL, detail: 'auto' },
      ],
    },
    { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Zürich <3>"}' },
    { type: 'function_call_output', call_id: 'call_1', output: '{"temp":21}' },
  ];
  const responses = await twice((url) => openai(url).responses.create({ model: 'llama3.2', input: responsesInput, tools: responsesTools }));
  same('/v1/responses', responses.direct, responses.proxied);
  t.match(responses.proxied.body, { tools: responsesTools, input: responsesInput });
  t.equal(responses.results[1].output_text, responses.results[0].output_text);
  const responsesStream = await twice(async (url) =>
    drain(await openai(url).responses.create({ model: 'llama3.2', input: responsesInput, tools: responsesTools, stream: true })),
  );
  same('/v1/responses streamed', responsesStream.direct, responsesStream.proxied);
  t.equal(responsesStream.results[1], responsesStream.results[0], 'the same number of events for the user');

  const anthropicTools: Anthropic.Tool[] = [
    { name: 'get_weather', description: TRICKY, input_schema: SCHEMA as Anthropic.Tool.InputSchema },
  ];
  const anthropicMessages: Anthropic.MessageParam[] = [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'what is in this picture?' },
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
      ],
    },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Zürich <3>' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '{"temp":21}' }] },
  ];
  const messages = await twice((url) =>
    anthropic(url).messages.create({ model: 'llama3.2', max_tokens: 64, messages: anthropicMessages, tools: anthropicTools }),
  );
  same('/v1/messages', messages.direct, messages.proxied);
  t.match(messages.proxied.body, { tools: anthropicTools, messages: anthropicMessages });
  t.same(messages.results[1].content, messages.results[0].content);
  const messagesStream = await twice((url) =>
    anthropic(url)
      .messages.stream({ model: 'llama3.2', max_tokens: 64, messages: anthropicMessages, tools: anthropicTools })
      .finalMessage(),
  );
  same('/v1/messages streamed', messagesStream.direct, messagesStream.proxied);
  t.same(messagesStream.results[1].content, messagesStream.results[0].content);
});
