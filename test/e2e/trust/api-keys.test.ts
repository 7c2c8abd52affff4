import t, { type Test } from 'tap';
import { startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { logLine, startBin } from '../../fixtures/processes/bin-process.js';
import type { LineChild } from '../../fixtures/processes/child-lines.js';
import { runNode } from '../../fixtures/processes/run-bin.js';
import { startProcessNetwork } from '../../fixtures/stacks/process-network.js';
import { within } from '../../fixtures/store-helpers.js';
import { type RawResponse, rawRequest } from '../../fixtures/wire/raw-http.js';

const SERVER = 'bin/proxima-server.js';
const OPS_KEY = 'ops-key-0123456789abcdef';

/** The real proxima-server and proxima-client in front of a fake Ollama, all torn down with the test. */
async function startStack(t: Test, extra: string[] = []): Promise<{ dir: string; file: string; server: LineChild; base: string }> {
  const fake = await startFakeOllama();
  t.teardown(() => fake.destroy());
  const net = await startProcessNetwork(t, { alpha: fake }, [
    'http: { listen: "127.0.0.1:0", drainTimeoutMs: 2000 }',
    `api: { keys: [{ id: ops, key: ${OPS_KEY} }] }`,
    'rewards: { canaryShare: 0, newNodeCanaryShare: 0 }',
    ...extra,
  ]);
  return { dir: net.dir, file: net.serverFile, server: net.server, base: net.base };
}

/** The next log line with this `msg` after those already seen. */
function nextLog(run: LineChild, msg: string): Promise<string> {
  const has = (line: string): boolean => line.includes(`"msg":${JSON.stringify(msg)}`);
  let skip = run.lines.filter(has).length;
  return within(
    run.waitForLine((line) => has(line) && skip-- <= 0),
    5_000,
    msg,
  );
}

const keysCli = (file: string, ...args: string[]) => runNode(SERVER, ['keys', ...args, '-c', file]);

t.test('keys managed by the CLI on a running server: in force within a second, limits, allow-list, /v1/key, revoke', async (t) => {
  const { file, server, base } = await startStack(t);
  const call = (key: string, method: string, p: string, body?: unknown): Promise<RawResponse> =>
    rawRequest(`${base}${p}`, {
      method,
      agent: false,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const chat = (key: string, model = 'llama3.2', p = '/v1/chat/completions') =>
    call(key, 'POST', p, { model, messages: [{ role: 'user', content: 'hello there' }], stream: false });

  // Added while the server runs: in force within a second.
  const changed = nextLog(server, 'API keys changed');
  const added = await keysCli(file, 'add', 'alice', '--models', 'llama3.2', '--nodes', 'beta');
  const addedAtMs = performance.now();
  const key = /^(prx-\S+)$/m.exec(added.stdout)![1]!;
  await changed;
  t.equal((await chat(key)).status, 200, 'the new key works');
  const tookMs = performance.now() - addedAtMs;
  t.ok(tookMs < 1000, `in force ${Math.round(tookMs)} ms after keys add exited`);
  t.equal((await chat(OPS_KEY)).status, 200, "server.yaml's key works beside it");

  // The allow-list: other models do not exist for this key.
  const hidden = await chat(key, 'qwen2.5:0.5b');
  const absent = await chat(key, 'nope:1b');
  t.equal(hidden.status, 404);
  t.same(JSON.parse(hidden.text), {
    error: { message: 'no node shares the model qwen2.5:0.5b', type: 'invalid_request_error', param: null, code: 'model_not_found' },
  });
  t.same([absent.status, hidden.headers['proxima-error']], [404, absent.headers['proxima-error']], 'as a model no node has');
  t.same(JSON.parse((await chat(key, 'qwen2.5:0.5b', '/api/chat')).text), { error: 'no node shares the model qwen2.5:0.5b' });
  const listed = (k: string) => call(k, 'GET', '/v1/models').then((r) => (JSON.parse(r.text).data as { id: string }[]).map((m) => m.id));
  t.same(await listed(key), ['llama3.2:latest'], '/v1/models hides the others');
  t.ok((await listed(OPS_KEY)).length > 1, 'another key sees them all');
  const tags = JSON.parse((await call(key, 'GET', '/api/tags')).text) as { models: { name: string }[] };
  t.same(
    tags.models.map((m) => m.name),
    ['llama3.2:latest'],
    '/api/tags too',
  );
  t.equal((await call(key, 'GET', '/v1/models/qwen2.5:0.5b')).status, 404);

  // Tokens per minute: once the last minute's tokens reach the limit, 429 until they age out.
  const used = JSON.parse((await call(key, 'GET', '/v1/key')).text).usage.tokensThisMinute as number;
  t.ok(used > 0, `the first answer's ${used} tokens count`);
  const tpm = nextLog(server, 'API keys changed');
  await keysCli(file, 'set', 'alice', '--tpm', String(used + 1));
  await tpm;
  t.equal((await chat(key)).status, 200, 'under the limit');
  const limited = await chat(key);
  t.equal(limited.status, 429);
  t.match(JSON.parse(limited.text), {
    error: { type: 'requests', code: 'rate_limit_exceeded', message: `key alice is over its limit of ${used + 1} tokens per minute` },
  });
  t.match(limited.headers['retry-after'], /^\d+$/);

  // /v1/key: the key's own limits and usage.
  const own = JSON.parse((await call(key, 'GET', '/v1/key')).text);
  t.match(own, {
    object: 'api_key',
    id: /^key-[0-9a-f]{12}$/,
    name: 'alice',
    limits: { requestsPerMinute: null, tokensPerMinute: used + 1, budget: null, models: ['llama3.2:latest'] },
    usage: { requestsThisMinute: Number, tokensThisMinute: Number, creditsToday: Number, creditsThisMonth: Number },
    period: null,
  });
  t.ok(
    own.usage.tokensThisMinute > used && own.usage.creditsToday > 0 && own.usage.requestsThisMinute >= 3,
    `used ${own.usage.tokensThisMinute} tokens, ${own.usage.creditsToday} credits`,
  );
  t.same(
    Object.keys(own.limits),
    ['requestsPerMinute', 'tokensPerMinute', 'budget', 'models'],
    "the limits only: no digest, not the owner's nodes",
  );
  t.equal((await call('wrong-key-0123456789', 'GET', '/v1/key')).status, 401);

  // A budget already spent today: 429 insufficient_quota, in each API's shape.
  const budget = nextLog(server, 'API keys changed');
  await keysCli(file, 'set', 'alice', '--clear', 'tpm', '--budget', '0.000001', '--per', 'day');
  await budget;
  const spent = await chat(key);
  t.equal(spent.status, 429);
  t.equal(spent.headers['proxima-error'], 'PRX_ERR_QUOTA_EXCEEDED');
  t.match(JSON.parse(spent.text), {
    error: {
      type: 'insufficient_quota',
      code: 'insufficient_quota',
      message: /^key alice has spent its budget of 0.000001 credits this day \(until \d{4}-/,
    },
  });
  const midnight = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 1);
  t.ok(Math.abs(Number(spent.headers['retry-after']) * 1000 - (midnight - Date.now())) < 5_000, 'Retry-After: the next UTC day');
  const withBudget = JSON.parse((await call(key, 'GET', '/v1/key')).text);
  t.match(
    withBudget,
    {
      limits: { tokensPerMinute: null, budget: { credits: 0.000001, per: 'day' } },
      period: { start: /T00:00:00.000Z$/, end: new Date(midnight).toISOString() },
    },
    '/v1/key answers a key whose budget is spent',
  );
  const ollamaSpent = await chat(key, 'llama3.2', '/api/chat');
  t.equal(ollamaSpent.status, 429);
  t.match(JSON.parse(ollamaSpent.text), { error: /budget/ });

  // Revoked: 401 within a second.
  const revokedLog = nextLog(server, 'API keys changed');
  await keysCli(file, 'revoke', 'alice');
  const revokedAtMs = performance.now();
  await revokedLog;
  const refused = await chat(key);
  const refusedMs = performance.now() - revokedAtMs;
  t.ok(refusedMs < 1000, `refused ${Math.round(refusedMs)} ms after keys revoke exited`);
  t.same([refused.status, JSON.parse(refused.text).error.code], [401, 'invalid_api_key']);
});

t.test('the admin API manages keys too; a spent budget survives a restart (read back from the ledger)', async (t) => {
  const { dir, file, server: again, base: url } = await startStack(t, ['admin: { token: admin-token-0123456789, listen: "127.0.0.1:0" }']);
  const admin = (method: string, p: string, body?: unknown, token = 'admin-token-0123456789') =>
    rawRequest(`${url}${p}`, {
      method,
      agent: false,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  t.equal((await admin('GET', '/keys', undefined, 'wrong-token-0123456789')).status, 401);
  const created = await admin('POST', '/keys', { name: 'dave', budget: { credits: 0.000001, per: 'month' } });
  t.equal(created.status, 201);
  const dave = JSON.parse(created.text) as { id: string; key: string };
  t.match(dave, { id: /^key-/, name: 'dave', key: /^prx-/, budget: { credits: 0.000001, per: 'month' } });
  t.same((await admin('POST', '/keys', { name: 'ops' })).status, 409, "a server.yaml key's id is taken");
  t.match(JSON.parse((await admin('PATCH', `/keys/${dave.id}`, { tokensPerMinute: -1 })).text), {
    error: { code: 'PRX_ERR_HTTP_BAD_REQUEST', message: /^tokensPerMinute: / },
  });
  const body = { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] };
  const use = (u: string) =>
    rawRequest(`${u}/v1/chat/completions`, {
      method: 'POST',
      agent: false,
      headers: { authorization: `Bearer ${dave.key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  // POST answered once the key was durable; the server took it from its own write.
  t.equal((await use(url)).status, 200);
  t.equal((await use(url)).status, 429, 'the month is spent');
  const listed = JSON.parse((await admin('GET', '/keys')).text) as { keys: Record<string, unknown>[] };
  t.same(
    listed.keys.map((k) => [k.name, 'sha256' in k]),
    [['dave', false]],
  );

  again.child.kill('SIGTERM');
  await again.exited;
  const third = startBin(t, 'proxima-server', ['-c', file], dir);
  const port3 = (await logLine(third, 'listening')).http.port as number;
  t.match(await logLine(third, 'API key usage of this month read from the ledger'), { records: 1 });
  // The node cannot follow to the new control port; the budget is checked before any routing anyway.
  const after = await use(`http://127.0.0.1:${port3}`);
  t.same([after.status, JSON.parse(after.text).error.code], [429, 'insufficient_quota'], 'still spent after a restart');
  const revoked = await rawRequest(`http://127.0.0.1:${port3}/keys/dave`, {
    method: 'DELETE',
    agent: false,
    headers: { authorization: 'Bearer admin-token-0123456789' },
  });
  t.match(JSON.parse(revoked.text), { name: 'dave', revokedAt: /^\d{4}-/ });
  t.equal((await use(`http://127.0.0.1:${port3}`)).status, 401, 'revoked through the admin API: refused at once');
});
