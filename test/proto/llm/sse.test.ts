import t from 'tap';
import { NdjsonSplitter } from '../../../src/proto/llm/ndjson.js';
import { type SseItem, SseParser, sseComment, sseEvent } from '../../../src/proto/llm/sse.js';

const wire = Buffer.from(
  ': keep-alive\n\n' +
    'data: {"choices":[{"delta":{"content":"Grüße"}}]}\n\n' +
    'event: error\r\ndata: {"error":{"message":"boom"}}\r\n\r\n' +
    'data: line one\rdata: line two\r\r' +
    'id: 7\nretry: 10\n\n' +
    'data: [DONE]\n\n',
  'utf8',
);
const expected: SseItem[] = [
  { kind: 'comment', text: 'keep-alive' },
  { kind: 'event', data: '{"choices":[{"delta":{"content":"Grüße"}}]}', event: undefined },
  { kind: 'event', data: '{"error":{"message":"boom"}}', event: 'error' },
  { kind: 'event', data: 'line one\nline two', event: undefined },
  { kind: 'event', data: '[DONE]', event: undefined },
];

t.test('SSE events under every split, with LF, CRLF and CR line endings and split UTF-8', async (t) => {
  t.same(new SseParser().push(wire), expected, 'whole');
  for (let cut = 0; cut <= wire.length; cut++) {
    const p = new SseParser();
    t.same([...p.push(wire.subarray(0, cut)), ...p.push(wire.subarray(cut))], expected, `split at ${cut}`);
  }
  const p = new SseParser();
  const items: SseItem[] = [];
  for (let i = 0; i < wire.length; i++) items.push(...p.push(wire.subarray(i, i + 1)));
  t.same(items, expected, 'byte by byte');
});

t.test('an event larger than the cap fails with a coded error instead of growing', async (t) => {
  const p = new SseParser(1024);
  t.throws(() => p.push(Buffer.from('data: ' + 'x'.repeat(2000))), { code: 'PRX_ERR_HTTP_BAD_RESPONSE' });
  t.throws(() => new SseParser(1024).push(Buffer.from(('data: ' + 'x'.repeat(100) + '\n').repeat(20))), {
    code: 'PRX_ERR_HTTP_BAD_RESPONSE',
  });
});

t.test('serialisers', async (t) => {
  t.equal(sseEvent('{"a":1}').toString(), 'data: {"a":1}\n\n');
  t.equal(sseComment('keep-alive').toString(), ': keep-alive\n\n');
});

t.test('NDJSON lines under every split; CRLF and blank lines; a last line without newline', async (t) => {
  const nd = Buffer.from('{"response":"é"}\n\n{"done":true}\r\n{"tail":1}', 'utf8');
  for (let cut = 0; cut <= nd.length; cut++) {
    const s = new NdjsonSplitter();
    const lines = [...s.push(nd.subarray(0, cut)), ...s.push(nd.subarray(cut))];
    t.same([...lines, s.end()], ['{"response":"é"}', '{"done":true}', '{"tail":1}'], `split at ${cut}`);
  }
  t.throws(() => new NdjsonSplitter(16).push(Buffer.from('x'.repeat(17))), { code: 'PRX_ERR_HTTP_BAD_RESPONSE' });
});
