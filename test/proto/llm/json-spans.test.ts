import t from 'tap';
import { firstItem, lastValues, nextItem, skipValue, stringUnits, TextPrefix } from '../../../src/proto/llm/json-spans.js';

const STRINGS = [
  '',
  'plain',
  'é ß 中文 😀 𝄞',
  '\\n\\"\\\\\\/\\b\\f\\r\\t',
  '\\u00e9\\u4E2D\\ud83d\\ude00',
  '\\ud800 lone \\udc00x',
  'ends in a backslash \\\\',
  `${'x'.repeat(100)}\\"${'y'.repeat(100)}\\\\`, // past the short-string loop, an escaped quote, then the native search
];

const codes = (s: string): number[] => Array.from({ length: s.length }, (_, k) => s.charCodeAt(k));

t.test('a string literal: its end, its length once parsed, its text', async (t) => {
  for (const inside of STRINGS) {
    const literal = `"${inside}"`;
    const b = Buffer.from(`${literal} ,`);
    const parsed = JSON.parse(literal) as string;
    t.equal(skipValue(b, 0), Buffer.byteLength(literal), `end of ${literal.slice(0, 40)}`);
    t.equal(stringUnits(b, 0), parsed.length, `units of ${literal.slice(0, 40)}`);
    const text = new TextPrefix(1000);
    text.literal(b, 0);
    t.same([...text.units.subarray(0, text.length)], codes(parsed), 'the text JSON.parse makes');
    const cut = new TextPrefix(3);
    cut.literal(b, 0);
    t.same([...cut.units.subarray(0, cut.length)], codes(parsed.slice(0, 3)), 'cut at the capacity');
  }
});

t.test('values, items and members by offset; the last of duplicate keys', async (t) => {
  const b = Buffer.from('{ "a" : [1, {"x":"]"}, "s\\"", -2.5e+3 ] , "b":true, "\\u0061":{"k":[]} , "c" : null }');
  const found: number[] = [];
  t.equal(lastValues(b, 0, ['a', 'b', 'c', 'none'], found), b.length);
  t.equal(b.toString('latin1', found[0]!, found[0]! + 1), '{', 'the escaped duplicate of "a" comes last');
  t.equal(b.toString('latin1', found[1]!, skipValue(b, found[1]!)), 'true');
  t.equal(b.toString('latin1', found[2]!, skipValue(b, found[2]!)), 'null');
  t.equal(found[3], -1);
  const array = b.indexOf('[');
  const items: string[] = [];
  for (let i = firstItem(b, array); i >= 0; i = nextItem(b, skipValue(b, i))) items.push(b.toString('utf8', i, skipValue(b, i)));
  t.same(items, ['1', '{"x":"]"}', '"s\\""', '-2.5e+3']);
  t.equal(firstItem(Buffer.from('[ ]'), 0), -1);
});
