/**
 * The ledger records the same numbers for the same requests, whatever the API path's code does to
 * get there (issue 21: the path is reworked for CPU; rewards are paid from these records). A fixed
 * workload goes, one request at a time, through the real proxima-server and proxima-client in front
 * of a fake Ollama: OpenAI and Ollama routes, streamed and whole, with usage asked for and not, a
 * token limit, an embedding, the node's error before any byte, errors in the middle of a stream and
 * a stream cut by a reset. Each request's record (matched by its x-request-id) is compared field by
 * field with test/fixtures/golden/ledger-replay.json, captured from the code before the rework. Ids,
 * times and durations are left out; the eval duration (the fake's clock) is kept as its type only.
 * `UPDATE_GOLDEN=1` rewrites the file (only for a deliberate change of what the ledger records).
 */
import fs from 'node:fs';
import t from 'tap';
import { readLedger } from '../../../src/server/ledger/ledger-reader.js';
import type { RequestRecord } from '../../../src/server/ledger/ledger-record.js';
import { type FaultSpec, startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { repoPath } from '../../fixtures/paths.js';
import { startProcessNetwork } from '../../fixtures/stacks/process-network.js';
import { rawRequest } from '../../fixtures/wire/raw-http.js';

const GOLDEN = repoPath('test', 'fixtures', 'golden', 'ledger-replay.json');
const HI = [{ role: 'user', content: 'hi' }];
const LONGER = [
  { role: 'system', content: 'Answer briefly, in plain words.' },
  { role: 'user', content: 'Why is the sky blue? Ünïcödé, too: 日本語.' },
];

/** One request of the workload; `faults` apply to it alone. */
interface Step {
  name: string;
  path: string;
  body: object;
  faults?: FaultSpec;
}

const STEPS: readonly Step[] = [
  { name: 'openai whole', path: '/v1/chat/completions', body: { model: 'llama3.2', messages: HI } },
  { name: 'openai stream, no usage asked', path: '/v1/chat/completions', body: { model: 'llama3.2', messages: HI, stream: true } },
  {
    name: 'openai stream, include_usage',
    path: '/v1/chat/completions',
    body: { model: 'llama3.2', messages: LONGER, stream: true, stream_options: { include_usage: true } },
  },
  {
    name: 'openai stream, max_tokens 3',
    path: '/v1/chat/completions',
    body: { model: 'qwen2.5:0.5b', messages: HI, stream: true, max_tokens: 3 },
  },
  { name: 'openai whole, max_tokens 5', path: '/v1/chat/completions', body: { model: 'llama3.2', messages: LONGER, max_tokens: 5 } },
  { name: 'openai completions whole', path: '/v1/completions', body: { model: 'llama3.2', prompt: 'Once upon a time' } },
  { name: 'openai completions stream', path: '/v1/completions', body: { model: 'llama3.2', prompt: 'Once upon a time', stream: true } },
  { name: 'openai embeddings', path: '/v1/embeddings', body: { model: 'all-minilm', input: ['one', 'two'] } },
  { name: 'ollama chat stream', path: '/api/chat', body: { model: 'llama3.2', messages: LONGER } },
  { name: 'ollama chat whole', path: '/api/chat', body: { model: 'llama3.2', messages: HI, stream: false } },
  { name: 'ollama generate whole', path: '/api/generate', body: { model: 'llama3.2', prompt: 'hi', stream: false } },
  {
    name: 'ollama generate stream, num_predict 4',
    path: '/api/generate',
    body: { model: 'qwen2.5:0.5b', prompt: 'hi', options: { num_predict: 4 } },
  },
  { name: 'ollama embed', path: '/api/embed', body: { model: 'all-minilm', input: 'hello' } },
  {
    name: 'openai whole, the node errs before any byte',
    path: '/v1/chat/completions',
    body: { model: 'llama3.2', messages: HI },
    faults: { errorBeforeFirstByte: { status: 400, message: 'invalid option' } },
  },
  {
    name: 'ollama chat stream, error after 3 tokens',
    path: '/api/chat',
    body: { model: 'llama3.2', messages: HI },
    faults: { midStreamErrorAfterTokens: 3 },
  },
  {
    name: 'openai stream, error after 3 tokens (cut: no finish, no [DONE])',
    path: '/v1/chat/completions',
    body: { model: 'llama3.2', messages: HI, stream: true, stream_options: { include_usage: true } },
    faults: { midStreamErrorAfterTokens: 3 },
  },
  {
    name: 'openai whole, evalCount doubled',
    path: '/v1/chat/completions',
    body: { model: 'llama3.2', messages: HI },
    faults: { evalCountFactor: 2 },
  },
];

/**
 * What the golden file keeps of a record: all but ids, times and durations. The fake's answers carry
 * times and durations whose digits vary, so `bytesOut` is kept as its difference from the body bytes
 * the user received (`received`).
 */
function kept(r: RequestRecord, received: number): Record<string, unknown> {
  const { id: _id, time: _time, ttftMs, durationMs: _duration, evalDurationNs, bytesOut, ...rest } = r;
  return {
    ...rest,
    bytesOutBeyondBody: bytesOut - received,
    ttftMs: ttftMs === null ? null : 'number',
    evalDurationNs: evalDurationNs === null ? null : 'number',
  };
}

t.test('a fixed workload: the ledger records, field by field, what the golden file says', async (t) => {
  const fake = await startFakeOllama();
  t.teardown(() => fake.destroy());
  const net = await startProcessNetwork(t, { alpha: fake });
  const ids: { name: string; status: number; id: string | undefined; received: number }[] = [];
  for (const step of STEPS) {
    fake.clearFaults();
    if (step.faults) fake.setFaults(step.faults);
    const res = await rawRequest(`${net.base}${step.path}`, {
      method: 'POST',
      body: JSON.stringify(step.body),
      headers: { 'content-type': 'application/json' },
      agent: false,
    });
    ids.push({ name: step.name, status: res.status, id: res.headers['x-request-id'] as string | undefined, received: res.body.length });
  }
  fake.clearFaults();
  // SIGTERM: the server drains and its ledger is flushed before it exits.
  net.server.child.kill('SIGTERM');
  t.equal((await net.server.exited).code, 0, 'the server stopped cleanly');

  const byId = new Map<string, RequestRecord[]>();
  for await (const r of readLedger({ dataDir: net.dataDir })) {
    if (r.type !== 'request') continue;
    byId.set(r.id, [...(byId.get(r.id) ?? []), r]);
  }
  const seen = new Set<string>();
  const actual = ids.map(({ name, status, id, received }) => {
    if (id !== undefined) seen.add(id);
    return { name, status, records: id === undefined ? [] : (byId.get(id) ?? []).map((r) => kept(r, received)) };
  });
  const unmatched = [...byId.entries()].filter(([id]) => !seen.has(id)).flatMap(([, rs]) => rs.map((r) => kept(r, 0)));
  const result = { steps: actual, unmatched };

  if (process.env.UPDATE_GOLDEN === '1') {
    fs.mkdirSync(repoPath('test', 'fixtures', 'golden'), { recursive: true });
    fs.writeFileSync(GOLDEN, `${JSON.stringify(result, null, 2)}\n`);
    t.pass('golden file written');
    return;
  }
  const golden = JSON.parse(fs.readFileSync(GOLDEN, 'utf8')) as typeof result;
  t.equal(actual.length, golden.steps.length, 'as many steps as the golden file');
  for (const [i, step] of golden.steps.entries()) {
    const got = actual[i]!;
    t.equal(got.status, step.status, `${step.name}: status`);
    t.equal(got.records.length, step.records.length, `${step.name}: records`);
    for (const [j, want] of step.records.entries())
      for (const [field, value] of Object.entries(want)) t.same(got.records[j]?.[field], value, `${step.name}: ${field}`);
  }
  t.same(unmatched, golden.unmatched, 'records not matched to a step');
});
