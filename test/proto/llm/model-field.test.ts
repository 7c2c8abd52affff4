import t from 'tap';
import { memberStarts, withModel, withUsage } from '../../../src/proto/llm/model-field.js';

const swap = (text: string, model = 'llama3.1:8b'): string | undefined => withModel(Buffer.from(text, 'utf8'), model)?.toString('utf8');

t.test('only the top-level model value changes; every other byte stays as sent', async (t) => {
  const body =
    '{ "messages" : [ {"role":"user","content":"model: \\"x\\" é 😀","model":"inner"} ],\n "model":"llama3",  "temperature": 1.0e0, "options":{"model":"deep"} }';
  t.equal(
    swap(body),
    '{ "messages" : [ {"role":"user","content":"model: \\"x\\" é 😀","model":"inner"} ],\n "model":"llama3.1:8b",  "temperature": 1.0e0, "options":{"model":"deep"} }',
  );
  t.equal(swap('{"model" :\t"a","stream":true}', 'b'), '{"model" :\t"b","stream":true}', 'spaces around the colon kept');
  t.equal(swap('{"mod\\u0065l":"a"}', 'b'), '{"mod\\u0065l":"b"}', 'an escaped key is still the key');
  t.equal(
    swap('{"model":"a","x":1,"model":"c"}', 'b'),
    '{"model":"b","x":1,"model":"b"}',
    'every top-level model (JSON.parse takes the last)',
  );
  t.equal(
    swap('{"model":"a\\"q"}', 'say "hi"'),
    '{"model":"say \\"hi\\""}',
    'the new name is JSON-escaped; an escaped quote ends no string',
  );
  t.equal(swap('{"prompt":"\\\\","model":"a"}', 'b'), '{"prompt":"\\\\","model":"b"}', 'a string ending in an escaped backslash');
  t.equal(swap('{"options":{"model":"a"}}', 'b'), undefined, 'no top-level model');
  t.equal(swap('{"model":7}', 'b'), undefined, 'not a string');
});

t.test('the result parses to the same object but for model', async (t) => {
  const original = { model: 'Llama3', messages: [{ role: 'system', content: '{"model":"no"}' }], stream: false, n: [1, 2, { model: 'x' }] };
  const out = swap(JSON.stringify(original, null, 2), 'llama3.2:3b');
  t.same(JSON.parse(out!), { ...original, model: 'llama3.2:3b' });
});

t.test('usage asked for by splicing: one member added or one value replaced, every other byte as sent', async (t) => {
  const usage = (text: string): string => {
    const body = Buffer.from(text, 'utf8');
    return withUsage(body, memberStarts(body, 'stream_options').pop() ?? -1).toString('utf8');
  };
  t.equal(usage('{"model":"m", "n" : 1.0 }'), '{"model":"m", "n" : 1.0 ,"stream_options":{"include_usage":true}}');
  t.equal(usage('{"stream_options" : { } ,"model":"m"}'), '{"stream_options" : { "include_usage":true} ,"model":"m"}');
  t.equal(
    usage('{"stream_options":{"other":[1,"}"]}}'),
    '{"stream_options":{"other":[1,"}"],"include_usage":true}}',
    'after the last member of the object',
  );
  t.equal(
    usage('{"stream_options":{"include_usage":false}}'),
    '{"stream_options":{"include_usage":false,"include_usage":true}}',
    'a duplicate: JSON.parse keeps the last',
  );
  t.equal(usage('{"stream_options":null,"model":"m"}'), '{"stream_options":{"include_usage":true},"model":"m"}', 'not an object: replaced');
  t.equal(usage('{"stream_options":"x"}'), '{"stream_options":{"include_usage":true}}');
  t.equal(
    usage('{"stream_options":{"a":1},"stream_\u006fptions":[]}'),
    '{"stream_options":{"a":1},"stream_\u006fptions":{"include_usage":true}}',
    'the last of duplicates, however its key is escaped',
  );
  t.equal(usage('{}'), '{"stream_options":{"include_usage":true}}');
});
