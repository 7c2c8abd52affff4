import t, { type Test } from 'tap';
import { type JsonMembers, jsonMembers } from '../../../src/proto/llm/json-members.js';

/** What JSON.parse says of the same bytes, in jsonMembers' terms. */
function byParse(bytes: Buffer, wanted: readonly string[]): JsonMembers {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { kind: 'invalid' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { kind: 'not-object' };
  const fields = parsed as Record<string, unknown>;
  const values = new Map<string, unknown>();
  for (const key of wanted) if (Object.hasOwn(fields, key)) values.set(key, typeof fields[key] === 'string' ? fields[key] : undefined);
  return { kind: 'object', keys: Object.keys(fields), values };
}

/** jsonMembers and JSON.parse agree on validity, kind and the wanted values (keys compared without duplicates). */
function agree(t: Test, text: string | Buffer, wanted: readonly string[] = ['model', 'name']): void {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const got = jsonMembers(bytes, wanted);
  const want = byParse(bytes, wanted);
  const shown = JSON.stringify(bytes.toString('utf8')).slice(0, 80);
  t.equal(got.kind, want.kind, `kind of ${shown}`);
  if (got.kind === 'object' && want.kind === 'object') {
    t.same([...new Set(got.keys)].sort(), [...want.keys].sort(), `keys of ${shown}`);
    t.same(Object.fromEntries(got.values), Object.fromEntries(want.values), `values of ${shown}`);
  }
}

t.test('valid JSON: the members JSON.parse sees', async (t) => {
  for (const text of [
    '{}',
    ' { } ',
    '{"model":"llama3.2","messages":[{"role":"user","content":"hi"}],"stream":false}',
    '{"model":"a","model":"b"}',
    '{"model":"a","model":{"x":1}}',
    '{"model":{"model":"inner"},"name":"n"}',
    '{"\\u006dodel":"escaped key"}',
    '{"model":"\\"quoted\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00"}',
    '{"model":"é 漢字 😀"}',
    '{"a":[1,-2,3.5,-0.25e10,1E+2,2e-3,0],"b":true,"c":false,"d":null,"model":"m"}',
    '{"a":[[[[{"b":[{}]}]]]],"model":"deep"}',
    '\t\r\n{"model" : "spaced" ,\n "n" :\t1 }\n',
    '[1,2]',
    '"a string"',
    '42',
    'null',
    'true',
    '[]',
    '{"model":""}',
    '{"__proto__":"p","model":"m"}',
  ])
    agree(t, text);
});

t.test('invalid JSON is invalid', async (t) => {
  for (const text of [
    '',
    ' ',
    '{',
    '}',
    '{"model":"a",}',
    '[1,]',
    '{"model" "a"}',
    '{"model":"a" "b":1}',
    '{model:"a"}',
    "{'model':'a'}",
    '{"model":"a"}x',
    '{"model":"a"}}',
    '{"model":"a\\x"}',
    '{"model":"\\u12G4"}',
    '{"model":"tab\there"}',
    '{"model":"unterminated}',
    '{"a":01}',
    '{"a":1.}',
    '{"a":.5}',
    '{"a":-}',
    '{"a":1e}',
    '{"a":+1}',
    '{"a":tru}',
    '{"a":nulll}',
    '{"a":NaN}',
    '{"a":[1 2]}',
    '{"a":{"b":1]}',
    '[}',
    '\ufeff{"model":"a"}',
    '{"model":"a"}\u00a0',
  ])
    agree(t, text);
  agree(t, Buffer.from([0x7b, 0xff, 0x7d]));
  agree(t, Buffer.concat([Buffer.from('{"model":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]));
});

t.test('random mutations of a chat body agree with JSON.parse', async (t) => {
  const base = Buffer.from(
    JSON.stringify({
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'hi "there" \n é' }],
      options: { num_predict: -1.5e3 },
      x: [true, null],
    }),
  );
  const alphabet = Buffer.from('{}[]":,\\ 0-1.eEtrufalsn\n');
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  let invalid = 0;
  for (let round = 0; round < 3000; round++) {
    const bytes = Buffer.from(base);
    for (let k = 1 + random(3); k > 0; k--) bytes[random(bytes.length)] = alphabet[random(alphabet.length)]!;
    const got = jsonMembers(bytes, ['model']);
    const want = byParse(bytes, ['model']);
    if (want.kind === 'invalid') invalid++;
    if (
      got.kind !== want.kind ||
      JSON.stringify(Object.fromEntries(got.kind === 'object' ? got.values : [])) !==
        JSON.stringify(Object.fromEntries(want.kind === 'object' ? want.values : []))
    ) {
      t.fail(`disagree on ${bytes.toString('utf8')}: ${got.kind} vs ${want.kind}`);
      return;
    }
  }
  t.ok(invalid > 100, `both found ${invalid} of 3000 mutations invalid`);
});

t.test('deep nesting does not overflow the stack', async (t) => {
  const depth = 200_000;
  const bytes = Buffer.from(`{"model":"m","a":${'['.repeat(depth)}${']'.repeat(depth)}}`);
  t.same(jsonMembers(bytes, ['model']), { kind: 'object', keys: ['model', 'a'], values: new Map([['model', 'm']]) });
  t.same(jsonMembers(bytes.subarray(0, bytes.length - 2), ['model']), { kind: 'invalid' });
});

t.test('a 15 MiB chat: only the model is decoded', async (t) => {
  const content = 'x'.repeat(15 * 1024 * 1024);
  const bytes = Buffer.from(JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content }] }));
  const got = jsonMembers(bytes, ['model']);
  t.same(got, { kind: 'object', keys: ['model', 'messages'], values: new Map([['model', 'llama3.2']]) });
});
