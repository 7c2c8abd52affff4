import t from 'tap';
import { parseJsonObject, readOllamaFrame, readOpenAiFrame } from '../../../src/proto/llm/frames.js';

t.test('OpenAI chunks: content, finish, usage-only, errors, tool calls, completions text', async (t) => {
  const content = readOpenAiFrame({ choices: [{ index: 0, delta: { role: 'assistant', content: 'Hel' }, finish_reason: null }] });
  t.same(content, {
    finishReason: undefined,
    usage: undefined,
    contentChars: 3,
    contentBytes: 3,
    toolCallChars: 0,
    usageOnly: false,
    error: undefined,
  });
  t.equal(readOpenAiFrame({ choices: [{ delta: {}, finish_reason: 'stop' }] }).finishReason, 'stop');
  t.same(readOpenAiFrame({ choices: [], usage: { prompt_tokens: 26, completion_tokens: 2, total_tokens: 28 } }), {
    finishReason: undefined,
    usage: { promptTokens: 26, completionTokens: 2 },
    contentChars: 0,
    contentBytes: 0,
    toolCallChars: 0,
    usageOnly: true,
    error: undefined,
  });
  t.equal(readOpenAiFrame({ error: { message: 'model crashed' } }).error, 'model crashed');
  const tool = readOpenAiFrame({ choices: [{ delta: { tool_calls: [{ function: { name: 'f', arguments: '{"x":1}' } }] } }] });
  t.same([tool.contentChars, tool.contentBytes, tool.toolCallChars], [8, 8, 8], 'a tool call counts name and arguments');
  const accented = readOpenAiFrame({ choices: [{ delta: { content: 'héllo 日本' } }] });
  t.same([accented.contentChars, accented.contentBytes], [8, 13], 'characters and UTF-8 bytes');
  t.equal(readOpenAiFrame({ choices: [{ text: 'abc', finish_reason: 'length' }] }).contentChars, 3);
  t.equal(readOpenAiFrame({ choices: [{ message: { content: 'whole answer' }, finish_reason: 'stop' }] }).contentChars, 12);
  t.equal(readOpenAiFrame({ choices: [{ delta: { reasoning: 'hmm' } }] }).contentChars, 3);
});

t.test('Ollama objects: omitted counters are 0, done and metrics, errors', async (t) => {
  t.same(readOllamaFrame({ message: { role: 'assistant', content: 'The' }, done: false }), {
    done: false,
    doneReason: undefined,
    promptEvalCount: 0,
    evalCount: 0,
    evalDurationNs: 0,
    totalDurationNs: 0,
    contentChars: 3,
    contentBytes: 3,
    toolCallChars: 0,
    error: undefined,
  });
  const tool = readOllamaFrame({
    message: { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Tokyo' } } }] },
    done: false,
  });
  t.same([tool.contentChars, tool.toolCallChars], [27, 27], 'native tool-call arguments are an object: counted as JSON');
  const last = readOllamaFrame({
    done: true,
    done_reason: 'stop',
    prompt_eval_count: 26,
    eval_count: 282,
    eval_duration: 4535599000,
    total_duration: 4883583458,
    response: '',
  });
  t.same([last.done, last.doneReason, last.promptEvalCount, last.evalCount, last.evalDurationNs], [true, 'stop', 26, 282, 4535599000]);
  t.equal(
    readOllamaFrame({ error: 'an error was encountered while running the model' }).error,
    'an error was encountered while running the model',
  );
  t.equal(readOllamaFrame({ eval_count: -5, prompt_eval_count: 'x' }).evalCount, 0, 'nonsense counts read as 0');
  t.equal(parseJsonObject('[1]'), undefined);
  t.equal(parseJsonObject('{bad'), undefined);
});
