import t from 'tap';
import { answerRelay } from '../../../../src/server/models/answer/answer-relays.js';
import { OutBytes } from '../../../../src/server/models/answer/out-bytes.js';
import { matchRoute } from '../../../../src/server/models/api-routes.js';
import { parseLlmRequest } from '../../../../src/server/models/llm-request.js';

/** True when `view` lies inside `chunk`'s memory: passed on, not copied. */
const viewOf = (view: Buffer, chunk: Buffer): boolean =>
  view.buffer === chunk.buffer && view.byteOffset >= chunk.byteOffset && view.byteOffset + view.length <= chunk.byteOffset + chunk.length;

t.test('adjacent slices of one chunk come out as one view of it', async (t) => {
  const chunk = Buffer.from('aaaa|bbbb|cccc|');
  const out = new OutBytes();
  out.add(chunk.subarray(0, 5));
  out.add(chunk.subarray(5, 10));
  out.add(chunk.subarray(10, 15));
  const got = out.take();
  t.equal(got.toString(), 'aaaa|bbbb|cccc|');
  t.ok(viewOf(got, chunk), 'no copy');
  t.equal(out.take().length, 0, 'empty after take');
});

t.test('a gap, or bytes from elsewhere, make a join of the right bytes', async (t) => {
  const chunk = Buffer.from('aaaa|skip|cccc|');
  const out = new OutBytes();
  out.add(chunk.subarray(0, 5));
  out.add(chunk.subarray(10, 15));
  out.add(Buffer.from('new|'));
  out.add(Buffer.alloc(0));
  const got = out.take();
  t.equal(got.toString(), 'aaaa|cccc|new|');
  t.notOk(viewOf(got, chunk), 'joined');
  out.add(chunk.subarray(5, 10));
  t.equal(out.take().toString(), 'skip|', 'usable again');
});

t.test("an SSE relay passes a chunk of whole events on as a view of the node's bytes", async (t) => {
  const match = matchRoute('POST', '/v1/chat/completions');
  if (match === undefined || !('route' in match)) throw new Error('no route');
  const body = Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true }));
  const relay = answerRelay(match.route, parseLlmRequest(match.route, body));
  const event = (content: string): string =>
    `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}]}\n\n`;
  const text = ['one', ' two', ' three', ' four'].map(event).join('');
  const chunk = Buffer.from(`${text}data: {"id":"c","obj`);
  const got = relay.push(chunk);
  t.equal(got.toString(), text, 'the four whole events, the partial one kept');
  t.ok(viewOf(got, chunk), 'not copied');
  t.equal(relay.meter.contentChars, 'one two three four'.length, 'and every event was read for the ledger');
});

t.test("an NDJSON relay passes a chunk of whole lines on as a view of the node's bytes", async (t) => {
  const match = matchRoute('POST', '/api/chat');
  if (match === undefined || !('route' in match)) throw new Error('no route');
  const body = Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }));
  const relay = answerRelay(match.route, parseLlmRequest(match.route, body));
  const line = (content: string): string => `{"model":"m","message":{"role":"assistant","content":"${content}"},"done":false}\n`;
  const text = ['one', ' two', ' three'].map(line).join('');
  const chunk = Buffer.from(`${text}{"model":"m","mess`);
  const got = relay.push(chunk);
  t.equal(got.toString(), text, 'the three whole lines, the partial one kept');
  t.ok(viewOf(got, chunk), 'not copied');
  t.equal(relay.meter.contentChars, 'one two three'.length, 'and every line was read for the ledger');
});

t.test('plain streams cut anywhere, CR and blank lines included: the same bytes out and the same counts as whole', async (t) => {
  const sse = (content: string, finish = 'null'): string =>
    `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":${finish}}]}\n\n`;
  const nd = (content: string, done = false): string =>
    `{"model":"m","message":{"role":"assistant","content":"${content}"},"done":${done}}\n`;
  const words = ['one', ' twö', ' 日本', ' four', '', ' \\u00e9'];
  const streams = [
    {
      path: '/v1/chat/completions',
      text: `${words.map((w) => sse(w)).join('')}: ka\r\n\r\n${sse('x')}\n${sse('', '"stop"')}data: [DONE]\n\n`,
    },
    { path: '/api/chat', text: `${words.map((w) => nd(w)).join('')}\r\n${nd('x')}\n${nd('', true)}` },
  ];
  for (const { path, text } of streams) {
    const match = matchRoute('POST', path);
    if (match === undefined || !('route' in match)) throw new Error('no route');
    const body = Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true }));
    const input = Buffer.from(text);
    const run = (chunks: Buffer[]): string => {
      const relay = answerRelay(match.route, parseLlmRequest(match.route, body));
      const out = Buffer.concat([...chunks.map((c) => relay.push(c)), relay.end()]).toString();
      return `${out}|${JSON.stringify(relay.meter)}|${relay.complete}`;
    };
    const whole = run([input]);
    let differ = 0;
    for (let i = 1; i < input.length; i++) {
      for (const j of [i + 1, i + 7, i + 230]) {
        const cuts =
          j < input.length ? [input.subarray(0, i), input.subarray(i, j), input.subarray(j)] : [input.subarray(0, i), input.subarray(i)];
        if (run(cuts) !== whole) differ++;
      }
    }
    t.equal(differ, 0, `${path}: every cut in two or three gives what the whole stream gives`);
    t.match(whole, /"contentChars":\d+/, `${path}: metered`);
  }
});
