import { isUtf8 } from 'node:buffer';
import t, { type Test } from 'tap';
import { scanOllamaLine, scanOpenAiChunk } from '../../../src/proto/llm/chunk-scan.js';
import { parseJsonObject, readOllamaFrame, readOpenAiFrame } from '../../../src/proto/llm/frames.js';
import { mutated, seededRandom } from '../../fixtures/wire/chunkings.js';
import { jsonStringInside } from '../../fixtures/wire/json-text.js';

const rnd = seededRandom(21); // mulberry32: the same draws every run
const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;

/** A JSON string literal's inside (the fixture's: plain text, raw UTF-8, every kind of escape). */
const text = (): string => jsonStringInside(rnd);

/** Any JSON value, nested up to `depth`. */
function value(depth: number): string {
  const kinds = ['"s"', 'null', 'true', 'false', '0', '-1.5e+3', '12', `"${text()}"`];
  if (depth > 0 && rnd() < 0.3) return `[${Array.from({ length: Math.floor(rnd() * 3) }, () => value(depth - 1)).join(',')}]`;
  if (depth > 0 && rnd() < 0.3) return `{"k${Math.floor(rnd() * 3)}":${value(depth - 1)}}`;
  return pick(kinds);
}

const space = (): string => (rnd() < 0.2 ? pick([' ', '\t', '\n', '  ', '\r\n']) : '');
const members = (pairs: [string, string][]): string =>
  `{${space()}${pairs.map(([k, v]) => `"${k}"${space()}:${space()}${v}`).join(`,${space()}`)}${space()}}`;

function delta(): string {
  const pairs: [string, string][] = [];
  if (rnd() < 0.5) pairs.push(['role', '"assistant"']);
  for (const key of ['content', 'reasoning', 'reasoning_content']) {
    if (rnd() < (key === 'content' ? 0.9 : 0.2)) pairs.push([key, rnd() < 0.85 ? `"${text()}"` : value(1)]);
  }
  if (rnd() < 0.03) pairs.push(['tool_calls', '[{"function":{"name":"f","arguments":"{}"}}]']);
  if (rnd() < 0.1) pairs.push(['extra', value(2)]);
  if (rnd() < 0.03) pairs.push([pick(['content', 'reasoning']), '"again"']);
  return members(pairs.sort(() => rnd() - 0.5));
}

function choice(): string {
  const pairs: [string, string][] = [['index', '0']];
  if (rnd() < 0.95) pairs.push(['delta', rnd() < 0.97 ? delta() : pick(['null', '"x"', '[]'])]);
  if (rnd() < 0.9) pairs.push(['finish_reason', pick(['null', '"stop"', '"length"', '"tool_calls"', '"st\\u006fp"', '1'])]);
  if (rnd() < 0.03) pairs.push([pick(['message', 'text']), rnd() < 0.5 ? '"hi"' : '{"content":"hi"}']);
  if (rnd() < 0.03) pairs.push(['finish_reason', '"stop"']);
  if (rnd() < 0.05) pairs.push(['logprobs', value(3)]);
  return members(pairs.sort(() => rnd() - 0.5));
}

function chunk(): string {
  const pairs: [string, string][] = [
    ['id', '"chatcmpl-1"'],
    ['object', '"chat.completion.chunk"'],
    ['created', '1796677816'],
    ['model', '"llama3.2"'],
  ];
  if (rnd() < 0.97) pairs.push(['choices', `[${Array.from({ length: pick([0, 1, 1, 1, 1, 2, 3]) }, choice).join(',')}]`]);
  if (rnd() < 0.03) pairs.push(['usage', '{"prompt_tokens":3,"completion_tokens":4}']);
  if (rnd() < 0.03) pairs.push(['error', '{"message":"boom"}']);
  if (rnd() < 0.03) pairs.push([pick(['ch\\u006fices', 'us\\u0061ge']), '[]']);
  if (rnd() < 0.02) pairs.push(['choices', '[]']);
  if (rnd() < 0.05) pairs.push(['deep', '['.repeat(40) + ']'.repeat(40)]);
  return members(pairs.sort(() => rnd() - 0.5));
}

const ROUNDS = 20_000;

/**
 * Runs `scan` on ROUNDS texts from `make` (30% of them mutated, kept when still UTF-8), each framed by
 * other bytes it must not read, against `read(JSON.parse(text))`: returns how many it read and how
 * many it gave up on; every one it read must read the same.
 */
function differential<F>(
  t: Test,
  make: () => string,
  scan: (b: Buffer, start: number, end: number) => F | undefined,
  read: (json: Record<string, unknown>) => F,
): { scanned: number; gaveUp: number } {
  let scanned = 0;
  let gaveUp = 0;
  let wrong = 0;
  for (let i = 0; i < ROUNDS; i++) {
    let bytes: Buffer = Buffer.from(make(), 'utf8');
    if (rnd() < 0.3) bytes = mutated(bytes, rnd);
    if (!isUtf8(bytes)) continue;
    const framed = Buffer.concat([Buffer.from('data: '), bytes, Buffer.from('}\n\n')]);
    const got = scan(framed, 6, 6 + bytes.length);
    if (got === undefined) {
      gaveUp++;
      continue;
    }
    scanned++;
    const parsed = parseJsonObject(bytes.toString('utf8'));
    const want = parsed === undefined ? undefined : read(parsed);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      wrong++;
      if (wrong <= 3) t.same(got, want, `text ${bytes.toString('utf8')}`);
    }
  }
  t.equal(wrong, 0, `${scanned} scanned, ${gaveUp} given up, none read differently`);
  t.ok(gaveUp > ROUNDS / 10, `and the unusual ones are given up (${gaveUp})`);
  return { scanned, gaveUp };
}

t.test('on generated chunks, the scan gives what JSON.parse and readOpenAiFrame give, or gives up', async (t) => {
  const { scanned } = differential(t, chunk, scanOpenAiChunk, readOpenAiFrame);
  t.ok(scanned > ROUNDS / 2, `most chunks take the scan (${scanned} of ${ROUNDS})`);
});

/** An Ollama line of /api/chat or /api/generate, mostly one of a stream's middle. */
function ollamaLine(): string {
  const pairs: [string, string][] = [
    ['model', '"llama3.2"'],
    ['created_at', '"2026-12-07T21:00:00.000Z"'],
  ];
  const message: [string, string][] = [['role', '"assistant"']];
  for (const key of ['content', 'thinking'])
    if (rnd() < (key === 'content' ? 0.9 : 0.2)) message.push([key, rnd() < 0.85 ? `"${text()}"` : value(1)]);
  if (rnd() < 0.03) message.push(['tool_calls', '[{"function":{"name":"f","arguments":{}}}]']);
  if (rnd() < 0.03) message.push(['content', '"again"']);
  if (rnd() < 0.05) message.push(['images', value(2)]);
  if (rnd() < 0.6) pairs.push(['message', rnd() < 0.97 ? members(message.sort(() => rnd() - 0.5)) : pick(['null', '"x"', '[]'])]);
  else for (const key of ['response', 'thinking']) if (rnd() < 0.7) pairs.push([key, rnd() < 0.9 ? `"${text()}"` : value(1)]);
  if (rnd() < 0.9) pairs.push(['done', pick(['false', 'false', 'false', 'false', 'false', 'false', 'true', 'null', '0', '"false"'])]);
  if (rnd() < 0.03)
    pairs.push([pick(['eval_count', 'prompt_eval_count', 'done_reason', 'error', 'total_duration']), pick(['3', '"stop"'])]);
  if (rnd() < 0.03) pairs.push([pick(['d\u006fne', 'm\u0065ssage']), 'true']);
  if (rnd() < 0.02) pairs.push(['done', 'false']);
  if (rnd() < 0.05) pairs.push(['context', value(3)]);
  return members(pairs.sort(() => rnd() - 0.5));
}

t.test('on generated Ollama lines, the scan gives what JSON.parse and readOllamaFrame give, or gives up', async (t) => {
  const { scanned } = differential(t, ollamaLine, scanOllamaLine, readOllamaFrame);
  t.ok(scanned > ROUNDS / 3, `a good share of lines take the scan (${scanned} of ${ROUNDS}; the generator makes many unusual ones)`);
});

t.test('what it measures, by hand', async (t) => {
  const scan = (s: string) => scanOpenAiChunk(Buffer.from(s), 0, Buffer.byteLength(s));
  const c = (delta: string, finish = 'null') => `{"choices":[{"index":0,"delta":${delta},"finish_reason":${finish}}]}`;
  t.match(scan(c('{"content":"héllo 😀"}')), { contentChars: 8, contentBytes: 11, finishReason: undefined });
  t.match(scan(c('{"content":"a\\nb\\u00e9\\ud83d\\ude00\\udc00"}', '"stop"')), {
    contentChars: 7,
    contentBytes: 12,
    finishReason: 'stop',
  });
  t.match(scan(c('{"reasoning":"ab","content":null}')), { contentChars: 2, contentBytes: 2 });
  t.equal(scan(c('{"content":"a"}').replace('}]}', '}]} x')), undefined, 'text after the object');
  t.equal(scan(c('{"content":"a","content":"b"}')), undefined, 'a key twice');
  t.equal(scan('{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}'), undefined, 'usage');
  t.equal(scan('[1]'), undefined, 'not an object');
  const line = (s: string) => scanOllamaLine(Buffer.from(s), 0, Buffer.byteLength(s));
  t.match(line('{"model":"m","message":{"role":"assistant","content":"héllo"},"done":false}'), {
    done: false,
    contentChars: 5,
    contentBytes: 6,
  });
  t.match(line('{"model":"m","response":"ab","thinking":"c"}'), { contentChars: 3, contentBytes: 3 });
  t.equal(line('{"model":"m","message":{"content":""},"done":true,"eval_count":3}'), undefined, 'the last line is parsed');
  t.equal(line('{"done":{}}'), undefined, 'done that is not false');
});
