import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Duplex, PassThrough } from 'node:stream';
import t, { type Test } from 'tap';
import type { ModelShare } from '../../../src/client/ollama/model-share.js';
import { OllamaGuard, type OllamaGuardOptions } from '../../../src/client/ollama/ollama-guard.js';
import { createLogger } from '../../../src/log.js';
import { relay } from '../../../src/streams/stream-relay.js';
import { type FakeOllama, startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { freePort, rawConnect } from '../../fixtures/stacks/tunnel.js';
import { sessionPair } from '../../fixtures/wire/mux-pair.js';
import { lines, openRequest, type RawRequestOptions, rawRequest } from '../../fixtures/wire/raw-http.js';

/**
 * A guard in front of `ollamaPort`, serving yamux streams as it does in a node: every TCP connection
 * to `port` is relayed (ends and resets crossing) onto a stream the super node's end opens.
 */
async function guarded(t: Test, ollamaPort: number, share: ModelShare = '*', options: Partial<OllamaGuardOptions> = {}) {
  const guard = new OllamaGuard({
    service: { name: 'ollama', local: { host: '127.0.0.1', port: ollamaPort }, hostHeader: `localhost:${ollamaPort}`, share },
    ...options,
  });
  const { client, server: superNode, sockets } = await sessionPair(t);
  for (const socket of [sockets.client, sockets.server]) socket.setNoDelay(true); // as the control connection does
  const served: Promise<void>[] = [];
  client.on('stream', (stream) => served.push(guard.serve(stream)));
  const relays: Promise<unknown>[] = [];
  /** The super node's end of each stream, in the order of the connections. */
  const tunnels: Duplex[] = [];
  /** What each of those streams received, chunk by chunk (a frame that arrives in one read is one chunk). */
  const received: Buffer[][] = [];
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    const stream = superNode.open();
    tunnels.push(stream);
    const chunks: Buffer[] = [];
    received.push(chunks);
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    relays.push(relay(socket, stream));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  t.teardown(async () => {
    await guard.destroy();
    await Promise.all([...served, ...relays]);
    await new Promise((resolve) => server.close(resolve));
  });
  const call = (method: string, path: string, body?: unknown, extra: RawRequestOptions = {}) =>
    rawRequest(`http://127.0.0.1:${port}${path}`, {
      method,
      agent: false,
      headers: { Host: 'alpha.proxima.test', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      ...extra,
    });
  return { guard, port, call, tunnels, received };
}

async function fakeOllama(t: Test, options: Parameters<typeof startFakeOllama>[0] = {}): Promise<FakeOllama> {
  const fake = await startFakeOllama(options);
  t.teardown(() => fake.destroy());
  return fake;
}

const chat = (model: string, extra: object = {}) => ({ model, messages: [{ role: 'user', content: 'hi' }], stream: false, ...extra });

t.test('inference and listing routes reach Ollama, with the Host it wants', async (t) => {
  const fake = await fakeOllama(t);
  const { call } = await guarded(t, fake.port);
  const cases: [string, string, unknown?][] = [
    ['GET', '/'],
    ['HEAD', '/'],
    ['GET', '/api/version'],
    ['GET', '/api/tags'],
    ['HEAD', '/api/tags'],
    ['GET', '/api/ps'],
    ['GET', '/v1/models'],
    ['GET', '/v1/models/llama3.2:latest'],
    ['POST', '/api/chat', chat('llama3.2')],
    ['POST', '/api/generate', { model: 'llama3.2', prompt: 'hi', stream: false }],
    ['POST', '/api/embed', { model: 'all-minilm', input: 'hi' }],
    ['POST', '/api/embeddings', { model: 'all-minilm', prompt: 'hi' }],
    ['POST', '/api/show', { name: 'llama3.2' }],
    ['POST', '/v1/chat/completions', chat('llama3.2')],
    ['POST', '/v1/completions', { model: 'llama3.2', prompt: 'hi' }],
    ['POST', '/v1/embeddings', { model: 'all-minilm', input: 'hi' }],
  ];
  for (const [method, path, body] of cases) {
    const res = await call(method, path, body);
    t.equal(res.status, 200, `${method} ${path}`);
  }
  t.same(
    fake.requests.map((r) => `${r.method} ${r.path}`),
    cases.map(([method, path]) => `${method} ${path}`),
    'each reached Ollama once',
  );
  t.ok(
    fake.requests.every((r) => r.host === `localhost:${fake.port}`),
    'with the Host rewritten: the fake answers 403 to any other',
  );
  const direct = await rawRequest(`${fake.url}/api/tags`, { agent: false });
  t.equal((await call('GET', '/api/tags')).text, direct.text, 'with share "*" a listing passes untouched');
});

t.test('management and anything else is refused with 403 in the shape of its API, and never reaches Ollama', async (t) => {
  const fake = await fakeOllama(t);
  const { call } = await guarded(t, fake.port);
  const refused: [string, string, unknown?][] = [
    ['POST', '/api/pull', { model: 'llama3.2' }],
    ['POST', '/api/push', { model: 'llama3.2' }],
    ['POST', '/api/create', { model: 'x', from: 'llama3.2' }],
    ['DELETE', '/api/delete', { model: 'llama3.2' }],
    ['POST', '/api/copy', { source: 'llama3.2', destination: 'x' }],
    ['POST', `/api/blobs/sha256:${'0'.repeat(64)}`, 'bytes'],
    ['HEAD', `/api/blobs/sha256:${'0'.repeat(64)}`],
    ['GET', '/api/chat'],
    ['PUT', '/api/chat', chat('llama3.2')],
    ['POST', '/api/chat/', chat('llama3.2')],
    ['POST', '/api/%70ull', { model: 'x' }],
    ['POST', '//api/pull', { model: 'x' }],
    ['POST', '/API/pull', { model: 'x' }],
    ['GET', '/api/status'],
    ['OPTIONS', '/api/chat'],
    ['POST', '/v1/audio/transcriptions', { model: 'llama3.2' }],
    ['GET', '/v1/models/me/model'],
    ['GET', '/v1/models/..%2Fapi'],
  ];
  for (const [method, path, body] of refused) {
    const res = await call(method, path, body);
    t.equal(res.status, 403, `${method} ${path}`);
    t.equal(res.headers['proxima-error'], 'PRX_ERR_FORBIDDEN');
    if (method === 'HEAD') continue;
    const error = (JSON.parse(res.text) as { error: unknown }).error;
    if (path.startsWith('/v1/'))
      t.match(error, { message: /not served through Proxima/, type: 'permission_error', param: null, code: 'PRX_ERR_FORBIDDEN' });
    else t.match(error, /^\S+ \S+ is not served through Proxima/);
  }
  t.same(fake.requests, [], 'Ollama saw none of them');
  t.same(
    fake.models.map((m) => m.name),
    ['llama3.2:latest', 'qwen2.5:0.5b', 'all-minilm:latest'],
    'its models are as they were',
  );
});

t.test('a model not shared is refused before Ollama sees anything; listings show only shared models', async (t) => {
  const fake = await fakeOllama(t, {
    models: [{ name: 'llama3.2', loaded: true }, { name: 'qwen2.5:0.5b', loaded: true }, { name: 'all-minilm' }],
  });
  const { call } = await guarded(t, fake.port, ['llama3.2', 'all-minilm']);
  const refused: [string, string, unknown?][] = [
    ['POST', '/api/chat', chat('qwen2.5:0.5b')],
    ['POST', '/api/generate', { model: 'QWEN2.5:0.5b', prompt: 'hi' }],
    ['POST', '/api/show', { name: 'qwen2.5:0.5b' }],
    ['POST', '/api/show', { model: 'qwen2.5:0.5b', name: 'llama3.2' }],
    ['POST', '/v1/chat/completions', chat('qwen2.5:0.5b')],
    ['POST', '/v1/embeddings', { model: 'qwen2.5:0.5b', input: 'x' }],
    ['POST', '/v1/responses', { model: 'qwen2.5:0.5b', input: 'x' }],
    ['POST', '/v1/messages', { model: 'qwen2.5:0.5b', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }],
    ['GET', '/v1/models/qwen2.5:0.5b'],
  ];
  for (const [method, path, body] of refused) {
    const res = await call(method, path, body);
    t.same([res.status, res.headers['proxima-error']], [403, 'PRX_ERR_FORBIDDEN'], `${method} ${path} ${JSON.stringify(body)}`);
    const json = JSON.parse(res.text) as { type?: string; error: string | { message: string; type: string } };
    const error = json.error;
    t.match(typeof error === 'string' ? error : error.message, /^model '(qwen|QWEN)2\.5:0\.5b' is not shared by this node$/);
    if (path === '/v1/messages') t.match(json, { type: 'error', error: { type: 'permission_error' } }, "in Anthropic's shape");
  }
  const unclear: unknown[] = [
    { model: 'llama3.2', Model: 'qwen2.5:0.5b' },
    { MODEL: 'qwen2.5:0.5b' },
    { messages: [] },
    { model: 7 },
    '{"model":',
    '[1]',
  ];
  for (const body of unclear) {
    const res = await call('POST', '/api/chat', body);
    t.same([res.status, res.headers['proxima-error']], [400, 'PRX_ERR_HTTP_BAD_REQUEST'], JSON.stringify(body));
  }
  t.same(fake.requests, [], 'Ollama saw none of them');

  const tags = JSON.parse((await call('GET', '/api/tags')).text) as { models: { name: string; digest: string }[] };
  t.same(
    tags.models.map((m) => m.name),
    ['llama3.2:latest', 'all-minilm:latest'],
  );
  t.equal(tags.models[0]!.digest, fake.models[0]!.digest, 'entries as Ollama wrote them');
  t.same(
    (JSON.parse((await call('GET', '/api/ps')).text) as { models: { name: string }[] }).models.map((m) => m.name),
    ['llama3.2:latest'],
  );
  const v1 = JSON.parse((await call('GET', '/v1/models')).text) as { object: string; data: { id: string }[] };
  t.same([v1.object, v1.data.map((m) => m.id)], ['list', ['llama3.2:latest', 'all-minilm:latest']]);
  t.equal((await call('POST', '/api/chat', chat('llama3.2:latest'))).status, 200, 'a shared model passes, by any of its names');
  t.equal((await call('POST', '/api/show', { model: '', name: 'llama3.2' })).status, 200);
  t.equal((await call('POST', '/v1/responses', { model: 'llama3.2', input: 'hi' })).status, 200, 'the Responses API passes');
  const messages = { model: 'llama3.2', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] };
  t.equal((await call('POST', '/v1/messages', messages)).status, 200, 'the Messages API passes');
});

t.test('bodies are bounded: 413 past maxBodyBytes, 408 when too slow; the connection closes; Ollama sees nothing', async (t) => {
  const fake = await fakeOllama(t);
  const { call, port } = await guarded(t, fake.port, '*', { maxBodyBytes: 1024, bodyTimeoutMs: 200 });
  const big = await call('POST', '/api/chat', chat('llama3.2', { pad: 'x'.repeat(2000) }));
  t.same([big.status, big.headers['proxima-error'], big.headers.connection], [413, 'PRX_ERR_HTTP_BODY_TOO_LARGE', 'close']);
  t.match(JSON.parse(big.text), { error: /larger than 1024 bytes/ });
  const chunked = await call('POST', '/v1/chat/completions', undefined, {
    body: Buffer.alloc(4096, 32),
    headers: { Host: 'x', 'Transfer-Encoding': 'chunked' },
  });
  t.same([chunked.status, chunked.headers['proxima-error']], [413, 'PRX_ERR_HTTP_BODY_TOO_LARGE'], 'counted as it arrives, too');
  t.match(JSON.parse(chunked.text), { error: { type: 'invalid_request_error', code: 'PRX_ERR_HTTP_BODY_TOO_LARGE' } });
  const slow = await rawConnect(t, port);
  slow.socket.write('POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"model":');
  const { bytes } = await slow.closed;
  t.match(bytes.toString(), /^HTTP\/1\.1 408 .*\r\n[\s\S]*Proxima-Error: PRX_ERR_HTTP_BODY_TIMEOUT/);
  t.same(fake.requests, []);
});

t.test('answers stream as they arrive; when the user goes away, the request to Ollama is cut at once', async (t) => {
  const fake = await fakeOllama(t, { faults: { stallAfterTokens: 3 } });
  const { port } = await guarded(t, fake.port);
  const res = await openRequest(`http://127.0.0.1:${port}/api/chat`, {
    method: 'POST',
    agent: false,
    body: JSON.stringify(chat('llama3.2', { stream: true })),
  });
  t.equal(res.headers['content-type'], 'application/x-ndjson');
  const got: unknown[] = [];
  for await (const line of lines(res.res)) {
    got.push(JSON.parse(line));
    if (got.length === 3) break; // the fake holds token 4 until the client leaves: nothing may hold these back
  }
  t.match(
    got,
    [{ done: false, message: { role: 'assistant' } }, { done: false }, { done: false }],
    'three chunks while Ollama is still working',
  );
  const r = fake.requests[0]!;
  const leftMs = performance.now();
  res.abort();
  const closed = await fake.closedByClient(r);
  t.ok(
    closed.clientClosedMs! - leftMs < 1000,
    `Ollama's connection closed ${(closed.clientClosedMs! - leftMs).toFixed(1)} ms after the user left`,
  );
  t.equal(closed.tokensSent, 3);
});

t.test('what of the answer came in with its head goes out with it, in one frame', async (t) => {
  const fake = await fakeOllama(t); // no pause between tokens: each answer comes in one write
  const { call, received } = await guarded(t, fake.port);
  for (const [i, stream] of [
    [0, false],
    [1, true],
  ] as const) {
    const res = await call('POST', '/v1/chat/completions', chat('llama3.2', { stream }));
    t.equal(res.status, 200);
    const first = received[i]![0]!.toString();
    t.match(first, /^HTTP\/1\.1 200 OK\r\n/, 'the first frame begins with the head');
    t.ok(first.includes(stream ? 'data: {' : '"finish_reason":"stop"'), `and holds the ${stream ? 'first event' : 'whole body'} too`);
  }
});

t.test('before the first byte too: a user who leaves while the model loads cancels the request', async (t) => {
  const fake = await fakeOllama(t, { faults: { stallForever: true } });
  const { port } = await guarded(t, fake.port);
  const user = await rawConnect(t, port);
  const body = JSON.stringify(chat('llama3.2', { stream: true }));
  user.socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  const r = await fake.nextRequest();
  user.socket.end(); // an end is enough: the super node sends one only when the user left
  const closed = await fake.closedByClient(r);
  t.equal(closed.firstByteMs, undefined, 'nothing had been answered');
});

t.test('keep-alive: many requests on one stream; Ollama resetting mid-answer resets the stream', async (t) => {
  const fake = await fakeOllama(t);
  const { port, tunnels } = await guarded(t, fake.port);
  const user = await rawConnect(t, port);
  const request = (stream: boolean): string => {
    const body = JSON.stringify(chat('llama3.2', { stream }));
    return `POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  };
  user.socket.write(request(false) + request(false) + 'GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n');
  await user.waitFor('{"version":"0.12.6"}');
  t.equal(
    user
      .received()
      .toString()
      .match(/HTTP\/1\.1 200 OK/g)?.length,
    3,
    'three answers on one connection',
  );
  fake.setFaults({ resetAfterTokens: 2 });
  user.socket.write(request(true));
  const tunnel = tunnels[0]!;
  await new Promise((resolve) => tunnel.once('close', resolve));
  t.match(tunnel.errored, { code: 'PRX_ERR_MUX_STREAM_RESET' }, 'a cut answer resets the stream, never ends it cleanly');
  t.match(fake.requests.at(-1), { resetByServer: true, tokensSent: 2 });
});

t.test('an Ollama that is down gets 502 in the shape of the API, its address only in the log', async (t) => {
  const logLines: string[] = [];
  const logger = createLogger({ level: 'info', stream: { write: (line: string) => logLines.push(line) > 0 } });
  const port = await freePort();
  const { call } = await guarded(t, port, '*', { logger });
  const native = await call('POST', '/api/chat', chat('llama3.2'));
  t.same([native.status, native.headers['proxima-error']], [502, 'PRX_ERR_TARGET_UNREACHABLE']);
  const said = (JSON.parse(native.text) as { error: string }).error;
  t.match(said, /^the node's Ollama did not answer \(request id req_[0-9a-f]{32}\)$/);
  t.notMatch(native.text, /127\.0\.0\.1|ECONNREFUSED/, 'neither the local address nor the system error reaches the user');
  const id = 'req_0123456789abcdef0123456789abcdef';
  const openai = await call('GET', '/v1/models', undefined, { headers: { Host: 'alpha.proxima.test', 'X-Request-Id': id } });
  t.match(JSON.parse(openai.text), { error: { type: 'api_error', code: 'PRX_ERR_TARGET_UNREACHABLE', param: null } });
  t.match(JSON.parse(openai.text).error.message, `request id ${id}`, "the super node's request id is the one named");
  const logged = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'ollama request failed');
  t.same(
    logged.map((l) => [l.level, l.upstream]),
    [
      ['warn', `http://127.0.0.1:${port}`],
      ['warn', `http://127.0.0.1:${port}`],
    ],
    "the node's log has the detail",
  );
  t.same(logged[1]?.requestId, id);
  t.match(logged[0], { err: { code: 'ECONNREFUSED' } });
});

t.test('a stream already closed when it is handed over is done at once', async (t) => {
  const fake = await fakeOllama(t);
  const { guard } = await guarded(t, fake.port);
  const stream = new PassThrough();
  stream.destroy();
  await once(stream, 'close');
  await guard.serve(stream);
  t.same(fake.requests, []);
});

t.test('a stream with no request in progress for idleTimeoutMs is ended, a half-sent head included', async (t) => {
  const fake = await fakeOllama(t);
  const { port } = await guarded(t, fake.port, '*', { idleTimeoutMs: 100 });
  const idle = await rawConnect(t, port);
  const trickle = await rawConnect(t, port);
  trickle.socket.write('GET /api/version HTTP/1.1\r\nHost: x\r\n');
  t.same(await idle.closed, { bytes: Buffer.alloc(0), reset: false });
  t.same(await trickle.closed, { bytes: Buffer.alloc(0), reset: false });
  t.same(fake.requests, []);
});
