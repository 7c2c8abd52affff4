import t from 'tap';
import { withModel } from '../../../src/proto/llm/model-field.js';

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
