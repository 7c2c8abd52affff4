/**
 * No served answer goes unrecorded: the real proxima-server and proxima-client in front of a fake
 * Ollama, many users at once (SSE and NDJSON streams, whole answers), the server killed with SIGKILL
 * in the middle, then the ledger read back. Every answer a user received complete has its record,
 * once. (With the 200 ms group-commit timer and the end of the answer sent before its record was
 * written, this lost dozens of records on every run.)
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import t from 'tap';
import { readLedger, type SkippedLine } from '../../../src/server/ledger/ledger-reader.js';
import { startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { logLine, startBin } from '../../fixtures/processes/bin-process.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { rawRequest } from '../../fixtures/wire/raw-http.js';

const USERS = 32;
/** The server is killed when this many answers have reached their users complete. */
const KILL_AFTER = 600;
const HI = [{ role: 'user', content: 'hi' }];

type Kind = 'sse' | 'ndjson' | 'openai-whole' | 'ollama-whole';
const KINDS: readonly Kind[] = ['sse', 'ndjson', 'openai-whole', 'ollama-whole'];

const REQUESTS: Record<Kind, { path: string; body: object }> = {
  sse: { path: '/v1/chat/completions', body: { model: 'llama3.2', messages: HI, stream: true } },
  ndjson: { path: '/api/chat', body: { model: 'llama3.2', messages: HI } },
  'openai-whole': { path: '/v1/chat/completions', body: { model: 'llama3.2', messages: HI } },
  'ollama-whole': { path: '/api/generate', body: { model: 'llama3.2', prompt: 'hi', stream: false } },
};

/** What one user got. */
interface Answer {
  kind: Kind;
  /** The `x-request-id` of the answer (the id of its ledger record); undefined when no head came. */
  id: string | undefined;
  status: number;
  body: string;
}

/** True when the user holds a complete answer, whether or not the connection ended cleanly after it. */
function complete(a: Answer): boolean {
  if (a.status !== 200) return false;
  if (a.kind === 'sse') return a.body.includes('data: [DONE]\n\n');
  if (a.kind === 'ndjson')
    return a.body
      .split('\n')
      .slice(0, -1)
      .some((line) => /"done":true/.test(line));
  try {
    const json = JSON.parse(a.body) as { choices?: { message?: object }[]; done?: boolean };
    return a.kind === 'openai-whole' ? json.choices?.[0]?.message !== undefined : json.done === true;
  } catch {
    return false;
  }
}

/** One request; resolves with whatever arrived, however the exchange ended. */
function ask(port: number, agent: http.Agent, kind: Kind): Promise<Answer> {
  const { path: urlPath, body } = REQUESTS[kind];
  return new Promise((resolve) => {
    const answer: Answer = { kind, id: undefined, status: 0, body: '' };
    const done = (): void => resolve(answer);
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: urlPath,
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json' },
    });
    req.once('error', done);
    req.once('response', (res) => {
      answer.status = res.statusCode ?? 0;
      answer.id = res.headers['x-request-id'] as string | undefined;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (answer.body += chunk));
      res.once('error', done);
      res.once('close', done);
    });
    req.end(JSON.stringify(body));
  });
}

t.test('SIGKILL of the server under load: every answer a user received complete is in the ledger, once', async (t) => {
  const fake = await startFakeOllama({ models: [{ name: 'llama3.2', answerTokens: 8 }], tokenIntervalMs: 1 });
  t.teardown(() => fake.destroy());
  const dir = t.testdir();
  const serverFile = path.join(dir, 'server.yaml');
  fs.writeFileSync(
    serverFile,
    [
      'domain: proxima.test',
      'dataDir: ./data',
      'control: { listen: "127.0.0.1:0" }',
      'admin: { listen: "127.0.0.1:0" }',
      'http: { listen: "127.0.0.1:0" }',
      'api: { open: true }',
      '',
    ].join('\n'),
  );
  const added = await runNode('bin/proxima-server.js', ['nodes', 'add', 'alpha', '--json', '-c', serverFile], dir);
  const { token } = JSON.parse(added.stdout) as { token: string };
  const server = startBin(t, 'proxima-server', ['-c', serverFile], dir);
  const { control, http: api } = (await logLine(server, 'listening')) as { control: { port: number }; http: { port: number } };
  const clientFile = path.join(dir, 'client.yaml');
  fs.writeFileSync(
    clientFile,
    [
      `server: 127.0.0.1:${control.port}`,
      'name: alpha',
      `token: ${token}`,
      'status: { listen: "127.0.0.1:0" }',
      'services:',
      `  - { name: ollama, kind: ollama, local: "127.0.0.1:${fake.port}", maxConcurrent: ${USERS} }`,
      'log: { level: error }',
      '',
    ].join('\n'),
  );
  startBin(t, 'proxima-client', ['-c', clientFile], dir);
  await logLine(server, 'node online', (line) => line.node === 'alpha');
  const models = await rawRequest(`http://127.0.0.1:${api.port}/v1/models`, { agent: false });
  t.match(models.text, /"id":"llama3\.2:latest"/, 'the model is routable');

  const agent = new http.Agent({ keepAlive: true, maxSockets: USERS });
  t.teardown(() => agent.destroy());
  const answers: Answer[] = [];
  let completed = 0;
  let killed = false;
  await Promise.all(
    Array.from({ length: USERS }, async (_, user) => {
      for (let i = user; !killed; i += USERS) {
        const answer = await ask(api.port, agent, KINDS[i % KINDS.length]!);
        answers.push(answer);
        if (!complete(answer) || killed) continue;
        completed++;
        if (completed < KILL_AFTER) continue;
        // At once, while the other users' answers are in flight.
        killed = true;
        server.child.kill('SIGKILL');
      }
    }),
  );
  t.equal((await server.exited).signal, 'SIGKILL', 'the server was killed, not stopped');

  const received = answers.filter(complete);
  const skipped: SkippedLine[] = [];
  const records = new Map<string, number>();
  const outcomes = new Map<string, string>();
  for await (const r of readLedger({ dataDir: path.join(dir, 'data'), onSkip: (s) => skipped.push(s) })) {
    if (r.type !== 'request') continue;
    records.set(r.id, (records.get(r.id) ?? 0) + 1);
    outcomes.set(r.id, r.outcome);
  }
  const cut = answers.filter((a) => a.status === 200 && !complete(a)).length;
  t.comment(
    `${answers.length} requests, ${received.length} answers received complete, ${cut} cut by the kill, ${records.size} records, ${skipped.length} torn lines`,
  );
  t.ok(received.length >= KILL_AFTER, `${received.length} complete answers`);
  t.same(
    KINDS.filter((kind) => !received.some((a) => a.kind === kind)),
    [],
    'every kind of answer was among them',
  );
  t.same(
    received.filter((a) => a.id === undefined || !records.has(a.id)).map((a) => `${a.kind} ${a.id}`),
    [],
    'every answer received complete has its record',
  );
  t.same(
    [...records].filter(([, n]) => n > 1),
    [],
    'no record twice',
  );
  t.same(
    received.filter((a) => outcomes.get(a.id!) !== 'ok').map((a) => a.id),
    [],
    'each recorded as ok',
  );
  t.ok(skipped.length <= 1, 'at most the last line is torn');
});
