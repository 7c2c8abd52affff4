import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { type FakeModelSpec, type FakeOllama, startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { logLine, startBin } from '../../fixtures/processes/bin-process.js';
import type { LineChild } from '../../fixtures/processes/child-lines.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { tempDir } from '../../fixtures/stacks/control-plane.js';
import { type RawResponse, rawRequest, sendRequest } from '../../fixtures/wire/raw-http.js';

const KEY = 'names-key-0123456789abcdef';

/** The nodes: who shares what, and how many requests each takes at once. */
const NODES: { name: string; models: FakeModelSpec[]; maxConcurrent: number }[] = [
  { name: 'alpha', models: [{ name: 'llama3.2:3b' }, { name: 'qwen2.5:32b' }], maxConcurrent: 1 },
  { name: 'beta', models: [{ name: 'llama3.1:8b' }], maxConcurrent: 2 },
  { name: 'gamma', models: [{ name: 'llama3.2:3b' }, { name: 'qwen2.5:14b' }], maxConcurrent: 2 },
];
const REAL: Record<string, string> = { alpha: 'llama3.2:3b', beta: 'llama3.1:8b', gamma: 'llama3.2:3b' };

/** The real proxima-server with aliases and fallbacks, and a real proxima-client per node, each before its fake Ollama. */
async function startStack(t: Test) {
  const dir = tempDir(t);
  const file = path.join(dir, 'server.yaml');
  fs.writeFileSync(
    file,
    [
      'dataDir: ./data',
      'domain: proxima.test',
      'control: { listen: "127.0.0.1:0" }',
      'admin: { listen: "127.0.0.1:0" }',
      'http: { listen: "127.0.0.1:0", drainTimeoutMs: 2000 }',
      `api: { keys: [{ id: ops, key: ${KEY} }] }`,
      'models:',
      '  aliases:',
      '    llama3: [llama3.2:3b, llama3.1:8b]',
      '  fallbacks:',
      '    qwen2.5:32b: qwen2.5:14b',
      'rewards: { canaryShare: 0, newNodeCanaryShare: 0 }',
      'log: { level: info }',
      '',
    ].join('\n'),
  );
  const server = startBin(t, 'proxima-server', ['-c', file], dir);
  const listening = await logLine(server, 'listening');
  const fakes: Record<string, FakeOllama> = {};
  const clients: Record<string, LineChild> = {};
  for (const node of NODES) {
    const fake = await startFakeOllama({ models: node.models });
    t.teardown(() => fake.destroy());
    fakes[node.name] = fake;
    const { token } = JSON.parse((await runNode('bin/proxima-server.js', ['nodes', 'add', node.name, '--json', '-c', file])).stdout) as {
      token: string;
    };
    const client = path.join(dir, `${node.name}.yaml`);
    fs.writeFileSync(
      client,
      [
        `server: 127.0.0.1:${listening.control.port}`,
        `name: ${node.name}`,
        `token: ${token}`,
        'services:',
        `  - { name: ollama, kind: ollama, local: "127.0.0.1:${fake.port}", maxConcurrent: ${node.maxConcurrent} }`,
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
    clients[node.name] = startBin(t, 'proxima-client', ['-c', client], dir);
  }
  for (const node of NODES) await logLine(server, 'node online', (l) => l.node === node.name);
  const base = `http://127.0.0.1:${listening.http.port}`;
  const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
  const post = (p: string, body: unknown): Promise<RawResponse> =>
    rawRequest(`${base}${p}`, { method: 'POST', agent: false, headers, body: JSON.stringify(body) });
  const get = (p: string): Promise<RawResponse> => rawRequest(`${base}${p}`, { agent: false, headers });
  /** The ledger record of a request: durable before its answer ended. */
  const record = (res: RawResponse): Record<string, unknown> => {
    const id = res.headers['x-request-id'];
    const lines = fs
      .readFileSync(path.join(dir, 'data', 'ledger.ndjson'), 'utf8')
      .trim()
      .split('\n');
    return lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.type === 'request' && r.id === id)!;
  };
  return { server, base, fakes, clients, headers, post, get, record };
}

const chat = (model: string, question: string, turns: string[] = []) => ({
  model,
  messages: [
    { role: 'system', content: 'Answer in one line.' },
    { role: 'user', content: question },
    ...turns.flatMap((q, i) => [
      { role: 'assistant', content: `answer ${i}` },
      { role: 'user', content: q },
    ]),
  ],
  stream: false,
});

t.test('aliases, fallbacks and prompt-cache affinity through the real programs', async (t) => {
  const s = await startStack(t);

  const listed = (JSON.parse((await s.get('/v1/models')).text).data as { id: string }[]).map((m) => m.id);
  t.same(listed, ['llama3.1:8b', 'llama3.2:3b', 'llama3', 'qwen2.5:14b', 'qwen2.5:32b'], '/v1/models lists the alias, by its name');
  const tags = (JSON.parse((await s.get('/api/tags')).text).models as { name: string }[]).map((m) => m.name);
  t.ok(tags.includes('llama3'), '/api/tags too');
  t.equal((await s.get('/v1/models/llama3')).status, 200);

  // The alias: any node sharing any of its models; each node is asked for its own model.
  const servedBy = new Map<string, number>();
  for (let i = 0; servedBy.size < 3 && i < 60; i++) {
    const body = chat('llama3', `question ${i}`);
    const res = await s.post('/v1/chat/completions', body);
    t.equal(res.status, 200);
    const node = String(res.headers['x-proxima-node']);
    servedBy.set(node, (servedBy.get(node) ?? 0) + 1);
    if (servedBy.get(node)! > 1) continue;
    const real = REAL[node]!;
    t.equal(res.headers['x-proxima-model'], real, `${node}: x-proxima-model names the model it ran`);
    const seen = s.fakes[node]!.requests.filter((r) => r.path === '/v1/chat/completions').at(-1)!;
    t.same(seen.body, { ...body, model: real }, `${node}: the body it got names ${real}, the rest as sent`);
    t.equal(
      seen.bodyBytes,
      Buffer.byteLength(JSON.stringify(body)) - '"llama3"'.length + JSON.stringify(real).length,
      'only the model changed in the bytes',
    );
    t.equal(JSON.parse(res.text).model, real, "the answer's model is the one Ollama ran");
    t.match(s.record(res), { node, model: real, outcome: 'ok' }, 'the ledger names the model that served');
  }
  t.same(
    [...servedBy.keys()].sort(),
    ['alpha', 'beta', 'gamma'],
    `every node served the alias (${JSON.stringify(Object.fromEntries(servedBy))})`,
  );

  // Affinity: the follow-up turns of each conversation go back to the node that served it.
  const conversations = 9;
  const turns = 4;
  const first = new Map<number, string>();
  let same = 0;
  for (let turn = 0; turn < turns; turn++) {
    for (let c = 0; c < conversations; c++) {
      const follow = Array.from({ length: turn }, (_, i) => `more ${c}.${i}`);
      const res = await s.post('/api/chat', chat('llama3', `topic ${c}`, follow));
      t.equal(res.status, 200);
      const node = String(res.headers['x-proxima-node']);
      if (turn === 0) first.set(c, node);
      else if (first.get(c) === node) same++;
    }
  }
  const followUps = conversations * (turns - 1);
  t.comment(`affinity: ${same}/${followUps} follow-up turns on the node of the conversation's first turn (chance alone: about 1 in 3)`);
  t.equal(same, followUps, 'one request at a time, every node free: every follow-up goes back');
  t.ok(new Set(first.values()).size > 1, 'and the conversations themselves are spread over the nodes');

  // Fallback, busy: qwen2.5:32b's only node (alpha, one slot) is taken.
  s.fakes.alpha!.setFaults({ stallForever: true, times: 1 });
  const holder = sendRequest(`${s.base}/api/chat`, {
    method: 'POST',
    agent: false,
    headers: s.headers,
    body: JSON.stringify(chat('qwen2.5:32b', 'hold')),
  });
  await s.fakes.alpha!.nextRequest((r) => r.path === '/api/chat');
  const busy = await s.post('/api/chat', chat('qwen2.5:32b', 'while alpha is busy'));
  t.same(
    [busy.status, busy.headers['x-proxima-node'], busy.headers['x-proxima-model']],
    [200, 'gamma', 'qwen2.5:14b'],
    'alpha busy: the fallback on gamma answers, and the headers say so',
  );
  t.equal(JSON.parse(busy.text).model, 'qwen2.5:14b');
  t.match(s.record(busy), { node: 'gamma', model: 'qwen2.5:14b' });
  holder.request.destroy();

  // Fallback, offline: alpha leaves.
  s.clients.alpha!.child.kill('SIGTERM');
  await logLine(s.server, 'node draining', (l) => l.node === 'alpha');
  const offline = await s.post('/v1/chat/completions', chat('qwen2.5:32b', 'alpha is gone'));
  t.same([offline.status, offline.headers['x-proxima-node'], offline.headers['x-proxima-model']], [200, 'gamma', 'qwen2.5:14b']);
  const direct = await s.get('/v1/models/qwen2.5:32b');
  t.equal(direct.status, 503, 'the model itself is still offline, not unknown: a fallback serves it, it is not listed as served');
  const unknown = await s.post('/v1/chat/completions', chat('qwen2.5:7b', 'no fallback'));
  t.equal(unknown.status, 404, 'a model without a fallback is unknown as before');
});
