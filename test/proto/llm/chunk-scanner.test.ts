import { isUtf8 } from 'node:buffer';
import t from 'tap';
import { scanOllamaLine, scanOpenAiChunk } from '../../../src/proto/llm/chunk-scan.js';
import { ChunkScanner } from '../../../src/proto/llm/chunk-scanner.js';
import { parseJsonObject, readOllamaFrame, readOpenAiFrame } from '../../../src/proto/llm/frames.js';
import { seededRandom } from '../../fixtures/wire/chunkings.js';

const rnd = seededRandom(18);
const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;

/** A token as JSON string content: plain, raw UTF-8, escapes (pairs and lone surrogates too), or not a string's inside at all. */
function token(): string {
  return pick([
    'Hi',
    ' world',
    '',
    ' 日本',
    '😀',
    'é',
    '\\n',
    '\\"',
    '\\\\',
    '\\u00e9',
    '\\ud83d\\ude00',
    '\\udc00',
    'a"b',
    'a\\',
    '\\x',
    '\u0001',
    'x\\u12',
  ]);
}

/** Templates of a stream's chunks with `@` where the token goes (some with a second text, a finish reason, odd shapes). */
const OPENAI = [
  '{"id":"chatcmpl-7","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"@"},"finish_reason":null}]}',
  '{"id":"chatcmpl-7","choices":[{"index":0,"delta":{"content":"@"},"finish_reason":null}]}',
  '{"choices":[{"delta":{"reasoning":"ab","content":"@"},"finish_reason":null}]}',
  '{"choices":[{"delta":{"content":"@","reasoning":"ab"},"finish_reason":"stop"}]}',
  '{"choices":[{"delta":{"content":"@"}}], "usage":{"prompt_tokens":1}}',
  '{"choices":[{"delta":{"content":"@","content":"x"}}]}',
  '{"choices":[{"delta":{"content":"@"}}]} x',
  '{"choices":[{"delta":{"tool_calls":[],"content":"@"}}]}',
];
const OLLAMA = [
  '{"model":"m","created_at":"t","message":{"role":"assistant","content":"@"},"done":false}',
  '{"model":"m","response":"@","done":false}',
  '{"model":"m","message":{"thinking":"ab","content":"@"}}',
  '{"model":"m","message":{"content":"@"},"done":true,"eval_count":3}',
];

/**
 * Streams of chunks from one template at a time (switching now and then, a byte changed now and
 * then), scanned in order by one ChunkScanner, against the stateless scan and JSON.parse.
 */
for (const [name, templates, scan, stateless, read] of [
  ['OpenAI chunks', OPENAI, (s: ChunkScanner, b: Buffer) => s.openAi(b, 6, b.length - 2), scanOpenAiChunk, readOpenAiFrame],
  ['Ollama lines', OLLAMA, (s: ChunkScanner, b: Buffer) => s.ollama(b, 6, b.length - 2), scanOllamaLine, readOllamaFrame],
] as const) {
  t.test(`${name}: a stream's scanner reads what the walk and JSON.parse read, mostly by its template`, async (t) => {
    let wrong = 0;
    let scanned = 0;
    let reused = 0;
    for (let s = 0; s < 400; s++) {
      const scanner = new ChunkScanner();
      let template = pick(templates);
      for (let i = 0; i < 40; i++) {
        if (rnd() < 0.05) template = pick(templates);
        let text = template.replace('@', token());
        if (rnd() < 0.05) {
          const at = Math.floor(rnd() * text.length);
          text = text.slice(0, at) + pick(['"', '}', ' ', 'x', '\\']) + text.slice(at + 1);
        }
        const bytes = Buffer.from(`data: ${text}}\n`);
        if (!isUtf8(bytes)) continue;
        const got = (scan as (s: ChunkScanner, b: Buffer) => unknown)(scanner, bytes);
        const walked = (stateless as (b: Buffer, s: number, e: number) => unknown)(bytes, 6, bytes.length - 2);
        const parsed = parseJsonObject(text);
        const want = parsed === undefined ? undefined : (read as (j: Record<string, unknown>) => unknown)(parsed);
        if (got !== undefined) scanned++;
        const same = JSON.stringify(got) === JSON.stringify(walked) && (got === undefined || JSON.stringify(got) === JSON.stringify(want));
        if (!same && ++wrong <= 3) t.same(got, walked, text);
      }
      reused += scanner.reused;
    }
    t.equal(wrong, 0, `${scanned} scanned (${reused} by a template), none read differently`);
    t.ok(reused > scanned / 2, 'most chunks of a stream take the template');
  });
}

t.test('a template is only the bytes around its text: another token of another size, or other bytes, are measured or walked', async (t) => {
  const scanner = new ChunkScanner();
  const chunk = (s: string): Buffer => Buffer.from(`{"choices":[{"delta":{"content":${s}},"finish_reason":null}]}`);
  const scan = (s: string) => {
    const b = chunk(s);
    return scanner.openAi(b, 0, b.length);
  };
  t.match(scan('"a"'), { contentChars: 1, contentBytes: 1 });
  t.match(scan('"日本語 😀"'), { contentChars: 6, contentBytes: 14 });
  t.equal(scanner.reused, 1, 'the second by the template');
  t.equal(scan('"a"x"'), undefined, 'a quote inside is not a string of the template');
  t.match(scan('null'), { contentChars: 0 }, 'not a string: walked');
  t.equal(scan('"\u0001"'), undefined, 'a control character');
  t.match(scan('"b"'), { contentChars: 1 });
});

t.test("a scanner's frame is one object, filled anew by each scan", async (t) => {
  const scanner = new ChunkScanner();
  const chunk = (s: string): Buffer => Buffer.from(`{"choices":[{"delta":{"content":"${s}"},"finish_reason":null}]}`);
  const first = scanner.openAi(chunk('a'), 0, chunk('a').length);
  t.match(first, { contentChars: 1, finishReason: undefined });
  const second = scanner.openAi(chunk('日本'), 0, chunk('日本').length);
  t.equal(second, first, 'the same object');
  t.match(second, { contentChars: 2, contentBytes: 6, usage: undefined, usageOnly: false, error: undefined });
  const line = (s: string): Buffer => Buffer.from(`{"message":{"role":"assistant","content":"${s}"},"done":false}`);
  const ollama = scanner.ollama(line('xyz'), 0, line('xyz').length);
  t.match(ollama, { contentChars: 3, done: false });
  t.equal(scanner.ollama(line('q'), 0, line('q').length), ollama);
  t.match(ollama, { contentChars: 1 });
});
