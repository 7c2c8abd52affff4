/**
 * Large request bodies through the real programs: a 15 MiB chat reaches the node's Ollama whole and
 * unchanged, whether its model comes before or after the messages (past 256 KiB the node's guard
 * scans a body for its model rather than parsing it: json-members.ts), streamed or not; and a streamed
 * `/v1` chat that did not ask for usage gets `stream_options.include_usage` spliced into its bytes by
 * the super node (past 256 KiB it reads a body on its bytes too: llm-request.ts), which the user
 * does not see.
 */
import { createHash } from 'node:crypto';
import t from 'tap';
import { type RequestRecord, startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { startProcessNetwork } from '../../fixtures/stacks/process-network.js';

const MiB = 1024 * 1024;
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

t.test('a 15 MiB chat arrives at Ollama byte for byte', async (t) => {
  const fake = await startFakeOllama({ models: [{ name: 'llama3.2' }] });
  t.teardown(() => fake.destroy());
  const net = await startProcessNetwork(t, { alpha: fake }, [], ['status: false']);
  // Escapes, non-ASCII and a long run of plain text: what the scan and the buffers must keep.
  const content = `é "quoted" \\ \n 漢字 😀 ${'the quick brown fox '.repeat((15 * MiB) / 20 - 4)}`;
  for (const [name, body] of [
    ['model first', { model: 'llama3.2', messages: [{ role: 'user', content }], stream: false }],
    ['model last', { messages: [{ role: 'user', content }], stream: false, model: 'llama3.2' }],
    ['native chat, streamed', { messages: [{ role: 'user', content }], model: 'llama3.2' }],
  ] as const) {
    const sent = JSON.stringify(body);
    t.ok(sent.length > 15 * MiB, `${name}: ${sent.length} characters`);
    const arrived = new Promise<RequestRecord>((resolve) => fake.once('request', resolve));
    const path = name.startsWith('native') ? '/api/chat' : '/v1/chat/completions';
    const answer = await net.post(path, body);
    t.equal(answer.status, 200, `${name}: answered`);
    const record = await arrived;
    t.equal(record.bodyBytes, Buffer.byteLength(sent), `${name}: every byte arrived`);
    // The fake keeps the parsed body; JSON.stringify of it is the canonical text that was sent.
    t.equal(sha(JSON.stringify(record.body)), sha(sent), `${name}: the same bytes`);
  }
});

t.test('a 15 MiB streamed /v1 chat without include_usage: the node is asked for usage, the user does not get it', async (t) => {
  const fake = await startFakeOllama({ models: [{ name: 'llama3.2', answerTokens: 5 }] });
  t.teardown(() => fake.destroy());
  const net = await startProcessNetwork(t, { alpha: fake }, [], ['status: false']);
  const content = `é "quoted" \\ \n 😀 ${'the quick brown fox '.repeat((15 * MiB) / 20)}`;
  const body = { model: 'llama3.2', messages: [{ role: 'user', content }], stream: true, stream_options: { other: 1 } };
  const arrived = new Promise<RequestRecord>((resolve) => fake.once('request', resolve));
  const answer = await net.post('/v1/chat/completions', body);
  t.equal(answer.status, 200);
  const record = await arrived;
  const asked = JSON.stringify({ ...body, stream_options: { other: 1, include_usage: true } });
  t.equal(record.bodyBytes, Buffer.byteLength(asked), 'one member more: `,"include_usage":true`');
  t.equal(sha(JSON.stringify(record.body)), sha(asked), 'the same object, with include_usage');
  t.match(answer.text, /data: \[DONE\]/, 'the stream ends');
  t.notMatch(answer.text, /"usage"/, 'the usage chunk the user did not ask for is taken out');
});
