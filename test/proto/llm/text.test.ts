import t from 'tap';
import { answerText } from '../../../src/proto/llm/text.js';

const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

t.test('an OpenAI stream: deltas joined, the usage chunk read, [DONE] and comments passed over', async (t) => {
  const body = [
    ': keep-alive',
    'data: {"choices":[{"delta":{"role":"assistant","content":"Hel"}}]}',
    'data: {"choices":[{"delta":{"content":"lo ☃"}}]}',
    'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}',
    'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}',
    'data: [DONE]',
    '',
  ].join('\n\n');
  t.same(answerText('openai', true, buf(body)), { text: 'Hello ☃', completionTokens: 2 });
});

t.test('whole answers: an OpenAI chat message, a completion text, an Ollama generate response', async (t) => {
  t.same(answerText('openai', false, buf('{"choices":[{"message":{"content":"hi"}}],"usage":{"completion_tokens":1}}')), {
    text: 'hi',
    completionTokens: 1,
  });
  t.same(answerText('openai', false, buf('{"choices":[{"text":"yo"}]}')), { text: 'yo', completionTokens: null });
  t.same(answerText('ollama', false, buf('{"response":"ok","done":true,"eval_count":4}')), { text: 'ok', completionTokens: 4 });
});

t.test('an Ollama stream: lines joined, the count from the done line (absent: 0), a bad line passed over', async (t) => {
  const body =
    '{"message":{"content":"a"},"done":false}\nnot json\n{"message":{"content":" b"},"done":false}\n{"message":{"content":""},"done":true}';
  t.same(answerText('ollama', true, buf(body)), { text: 'a b', completionTokens: 0 });
  t.same(answerText('ollama', true, buf('')), { text: '', completionTokens: null });
});
