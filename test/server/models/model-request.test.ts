import t, { type Test } from 'tap';
import { ErrorCodes, ProximaError } from '../../../src/errors.js';
import { readLedger } from '../../../src/server/ledger/ledger-reader.js';
import type { LedgerRecord } from '../../../src/server/ledger/ledger-record.js';
import { answerTokens } from '../../fixtures/fakes/ollama/api/answers.js';
import { type ApiCluster, startApiCluster, TEST_KEY } from '../../fixtures/stacks/api-cluster.js';
import { settle, until } from '../../fixtures/timers.js';
import { type OpenResponse, openRequest } from '../../fixtures/wire/raw-http.js';

const HI = [{ role: 'user' as const, content: 'hi' }];
const ANSWER = answerTokens({ model: 'llama3.2:latest', prompt: 'user: hi' }, 4).join('');

/** An append the test holds: `go` passes it to the real ledger, `fail` rejects it as a failed write would. */
interface HeldAppend {
  record: LedgerRecord;
  go(): void;
  fail(err: Error): void;
}

/** Holds every append to the server's ledger until the test lets it through; `next()` is the next one held. */
function holdLedger(t: Test, cluster: ApiCluster): { next(): Promise<HeldAppend> } {
  const ledger = cluster.server.ledger;
  const append = ledger.append.bind(ledger);
  const held: HeldAppend[] = [];
  const waiters: ((h: HeldAppend) => void)[] = [];
  ledger.append = (record) =>
    new Promise<void>((resolve, reject) => {
      const h: HeldAppend = { record, go: () => void append(record).then(resolve, reject), fail: reject };
      const waiter = waiters.shift();
      if (waiter === undefined) held.push(h);
      else waiter(h);
    });
  t.teardown(() => {
    ledger.append = append;
    for (const h of held.splice(0)) h.go();
  });
  return { next: () => (held.length > 0 ? Promise.resolve(held.shift()!) : new Promise((resolve) => waiters.push(resolve))) };
}

/** A request sent raw; `text` grows as the body arrives, `ended` settles with the body (rejects if it is cut). */
async function send(
  cluster: ApiCluster,
  path: string,
  body: object,
): Promise<{ open: OpenResponse; text: () => string; ended: Promise<void> }> {
  const open = await openRequest(`${cluster.baseUrl}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { Authorization: `Bearer ${TEST_KEY}`, 'Content-Type': 'application/json' },
  });
  let text = '';
  open.res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const ended = new Promise<void>((resolve, reject) => {
    open.res.once('end', resolve);
    open.res.once('aborted', () => reject(new Error('aborted')));
    open.res.once('error', reject);
  });
  ended.catch(() => undefined);
  return { open, text: () => text, ended };
}

/** The content of the SSE events and NDJSON lines received so far. */
function contentOf(text: string): string {
  let out = '';
  for (const raw of text.split('\n')) {
    const line = raw.startsWith('data: ') ? raw.slice(6) : raw;
    if (!line.startsWith('{')) continue;
    const json = JSON.parse(line) as {
      choices?: { delta?: { content?: string } }[];
      message?: { content?: string };
      delta?: string | { text?: string };
    };
    const event = typeof json.delta === 'string' ? json.delta : json.delta?.text; // Responses, Anthropic
    out += json.choices?.[0]?.delta?.content ?? json.message?.content ?? event ?? '';
  }
  return out;
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

async function recordIds(cluster: ApiCluster): Promise<string[]> {
  const ids: string[] = [];
  for await (const r of readLedger({ dataDir: cluster.server.config.dataDir })) if (r.type === 'request') ids.push(r.id);
  return ids;
}

t.test("an answer's end waits for its usage record to be durable", async (t) => {
  const cluster = await startApiCluster(t, { nodes: [{ name: 'alpha', models: [{ name: 'llama3.2', answerTokens: 4 }] }] });

  const cases = [
    {
      name: 'SSE: the finish chunk and [DONE]',
      path: '/v1/chat/completions',
      body: { model: 'llama3.2', messages: HI, stream: true },
      contentDone: (text: string) => contentOf(text) === ANSWER,
      isTail: (text: string) => /"finish_reason":"stop"|\[DONE\]/.test(text),
      complete: (text: string) => text.endsWith('data: [DONE]\n\n'),
    },
    {
      name: 'NDJSON: the done:true line',
      path: '/api/chat',
      body: { model: 'llama3.2', messages: HI },
      contentDone: (text: string) => contentOf(text) === ANSWER,
      isTail: (text: string) => text.includes('"done":true'),
      complete: (text: string) => /"done":true[^\n]*\n$/.test(text),
    },
    {
      name: 'Responses SSE: response.completed',
      path: '/v1/responses',
      body: { model: 'llama3.2', input: 'hi', stream: true },
      contentDone: (text: string) => contentOf(text) === ANSWER,
      isTail: (text: string) => text.includes('response.completed'),
      complete: (text: string) => /event: response\.completed\ndata: [^\n]*"input_tokens":\d+[^\n]*\n\n$/.test(text),
    },
    {
      name: 'Anthropic SSE: message_delta and message_stop',
      path: '/v1/messages',
      body: { model: 'llama3.2', max_tokens: 64, messages: HI, stream: true },
      contentDone: (text: string) => contentOf(text) === ANSWER,
      isTail: (text: string) => /message_delta|message_stop/.test(text),
      complete: (text: string) => text.endsWith('event: message_stop\ndata: {"type":"message_stop"}\n\n'),
    },
    {
      name: 'a whole JSON answer: its closing brace',
      path: '/v1/chat/completions',
      body: { model: 'llama3.2', messages: HI },
      contentDone: (text: string) => text.includes(JSON.stringify(ANSWER).slice(1, -1)),
      isTail: (text: string) => parses(text),
      complete: (text: string) => JSON.parse(text).choices[0].message.content === ANSWER,
    },
  ];

  for (const c of cases) {
    t.test(`${c.name}: held until the record is durable`, async (t) => {
      const ledger = holdLedger(t, cluster);
      const answer = await send(cluster, c.path, c.body);
      const held = await ledger.next();
      t.equal(held.record.type === 'request' && held.record.id, answer.open.headers['x-request-id'], 'the record of this answer');
      await until(() => c.contentDone(answer.text()));
      await settle(20); // room for any byte the server had already sent
      t.notOk(c.isTail(answer.text()), 'the user has the content, and not the end, while the record waits');
      const order: string[] = ['released'];
      held.go();
      await answer.ended;
      order.push('ended');
      t.ok(c.complete(answer.text()), 'then the answer ends, complete');
      t.same(order, ['released', 'ended']);
      t.match(await cluster.nextUsage(), { id: answer.open.headers['x-request-id'], outcome: 'ok' });
    });
  }

  t.test('a record that cannot be written: the answer is cut, never ended as if complete', async (t) => {
    const diskFull = (): Error => new ProximaError(ErrorCodes.STORE_IO, 'cannot append to the ledger');
    const ledger = holdLedger(t, cluster);

    const sse = await send(cluster, '/v1/chat/completions', { model: 'llama3.2', messages: HI, stream: true });
    (await ledger.next()).fail(diskFull());
    await sse.ended;
    t.equal(contentOf(sse.text()), ANSWER, 'the content was delivered');
    t.match(
      sse.text(),
      /data: \{"error":\{"message":"the answer could not be recorded in the usage ledger","type":"server_error","param":null,"code":"usage_not_recorded"\}\}\n\n$/,
      'SSE: an in-band error in place of the finish chunk and [DONE]',
    );
    t.notMatch(sse.text(), /\[DONE\]|"finish_reason":"stop"/);

    const ndjson = await send(cluster, '/api/chat', { model: 'llama3.2', messages: HI });
    (await ledger.next()).fail(diskFull());
    await ndjson.ended;
    t.match(ndjson.text(), /\n\{"error":"the answer could not be recorded in the usage ledger"\}\n$/, 'NDJSON: an error line');
    t.notMatch(ndjson.text(), /"done":true/);

    const whole = await send(cluster, '/v1/chat/completions', { model: 'llama3.2', messages: HI });
    (await ledger.next()).fail(diskFull());
    await t.rejects(whole.ended, 'a whole answer: the connection is cut');
    t.notOk(parses(whole.text()), 'and what came does not parse');

    const messages = await send(cluster, '/v1/messages', { model: 'llama3.2', max_tokens: 64, messages: HI, stream: true });
    (await ledger.next()).fail(diskFull());
    await messages.ended;
    t.match(
      messages.text(),
      /\nevent: error\ndata: \{"type":"error","error":\{"type":"overloaded_error","message":"the answer could not be recorded in the usage ledger"\}\}\n\n$/,
      "Anthropic SSE: an error event in Anthropic's shape in place of message_delta and message_stop",
    );
    t.notMatch(messages.text(), /message_delta|message_stop/);

    const ids = new Set(await recordIds(cluster));
    for (const answer of [sse, ndjson, whole, messages]) t.notOk(ids.has(String(answer.open.headers['x-request-id'])), 'no record');
  });
});

t.test("while an answer's record waits for the disk, the node's slot is already free for the next request", async (t) => {
  const cluster = await startApiCluster(t, {
    nodes: [{ name: 'alpha', models: [{ name: 'llama3.2', answerTokens: 4 }], maxConcurrent: 1 }],
  });
  const ledger = holdLedger(t, cluster);
  const fake = cluster.fakes.alpha!;
  const first = await send(cluster, '/v1/chat/completions', { model: 'llama3.2', messages: HI, stream: true });
  const held = await ledger.next();
  const second = await send(cluster, '/api/chat', { model: 'llama3.2', messages: HI });
  const reached = await fake.nextRequest((r) => r.path === '/api/chat');
  t.ok(reached, 'the second request reached the node (maxConcurrent 1) while the first one waits for its record');
  t.notMatch(first.text(), /\[DONE\]/, 'the first has not ended yet');
  held.go();
  (await ledger.next()).go();
  await Promise.all([first.ended, second.ended]);
  t.match(first.text(), /data: \[DONE\]\n\n$/);
});
