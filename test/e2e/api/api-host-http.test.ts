/**
 * The API host's HTTP for browsers and keep-alive (issue 18). Against the real `bin/proxima-server`:
 * the Keep-Alive it advertises is the idle timeout it applies (a raw socket sees `timeout=1`, then
 * the close after at least that), and with `api.cors.origins` a preflight is answered without a key.
 * Then CORS in full on a cluster (a super node in this process, a real proxima-client in front of a
 * fake Ollama): what a browser sends, a preflight without credentials, then the request with its
 * Origin; the official openai client with that Origin reads the headers a page's script could.
 */

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { logLine, startBin } from '../../fixtures/processes/bin-process.js';
import { collect, startApiCluster, TEST_KEY } from '../../fixtures/stacks/api-cluster.js';
import { tempDir } from '../../fixtures/stacks/control-plane.js';
import { parseResponses } from '../../fixtures/stacks/tunnel.js';

const PAGE = 'https://chat.example.com';
const OTHER = 'https://evil.example.net';
const HI = [{ role: 'user' as const, content: 'hi' }];

t.test('proxima-server: Keep-Alive timeout= as applied, and CORS preflights', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'server.yaml');
  fs.writeFileSync(
    file,
    [
      'dataDir: ./data',
      'control: { listen: "127.0.0.1:0" }',
      'admin: { listen: "127.0.0.1:0" }',
      'http: { listen: "127.0.0.1:0", idleTimeoutMs: 1500, drainTimeoutMs: 2000 }',
      `api: { cors: { origins: ["${PAGE}"] } }`,
      '',
    ].join('\n'),
  );
  const server = startBin(t, 'proxima-server', ['-c', file], dir);
  const { http } = await logLine(server, 'listening');
  const port = http.port as number;

  const socket = net.connect({ port, host: '127.0.0.1' });
  t.teardown(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  const parts: Buffer[] = [];
  let answeredMs = 0;
  socket.on('data', (chunk: Buffer) => {
    parts.push(chunk);
    answeredMs = performance.now();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  // A preflight, then a GET without a key (401): two keep-alive answers on one connection.
  socket.write(
    `OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${PAGE}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization, content-type\r\n\r\n` +
      `GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${PAGE}\r\n\r\n`,
  );
  await closed;
  const idleMs = performance.now() - answeredMs;
  const [preflight, models] = parseResponses(Buffer.concat(parts), ['OPTIONS', 'GET']);
  t.equal(preflight!.status, 204);
  t.equal(preflight!.header('access-control-allow-origin'), PAGE);
  t.equal(preflight!.header('access-control-allow-headers'), 'authorization, content-type');
  t.equal(models!.status, 401, 'no key: 401, after a preflight that needed none');
  t.equal(models!.header('access-control-allow-origin'), PAGE);
  for (const answer of [preflight!, models!])
    t.equal(answer.header('keep-alive'), 'timeout=1', 'http.idleTimeoutMs 1500 ms, in whole seconds');
  t.ok(idleMs >= 1000, `closed ${Math.round(idleMs)} ms after the last answer, not before the second it promised`);
});

t.test('the model API answers preflights and real requests from an allowed origin; admin parts do not', async (t) => {
  const cluster = await startApiCluster(t, {
    nodes: [{ name: 'alpha' }],
    api: { cors: { origins: [PAGE, 'http://localhost:5173'] } },
  });
  const preflight = (path: string, origin: string, headers: string): Promise<Response> =>
    fetch(`${cluster.baseUrl}${path}`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
    });

  // The headers openai-node and @anthropic-ai/sdk send from a browser, and one nobody allowed.
  const asked =
    'authorization, content-type, x-stainless-os, x-stainless-retry-count, openai-organization, anthropic-version, x-api-key, x-tracking';
  // More preflights than the wrong-key throttle allows failures (10): none needs a key or counts as a wrong one.
  for (let i = 0; i < 12; i++) {
    for (const path of ['/v1/chat/completions', '/api/chat', '/v1/messages']) {
      const res = await preflight(path, PAGE, asked);
      t.equal(res.status, 204, `${path}: 204`);
      t.equal(res.headers.get('access-control-allow-origin'), PAGE, `${path}: the origin echoed`);
      if (i > 0) continue;
      t.equal(res.headers.get('access-control-allow-methods'), 'GET, HEAD, POST');
      t.equal(
        res.headers.get('access-control-allow-headers'),
        'authorization, content-type, x-stainless-os, x-stainless-retry-count, openai-organization, anthropic-version, x-api-key',
        `${path}: the asked headers that are allowed`,
      );
      t.equal(res.headers.get('access-control-max-age'), '600');
      t.match(res.headers.get('vary'), /\bOrigin\b/);
      t.equal(await res.text(), '');
    }
  }
  const stranger = await preflight('/v1/chat/completions', OTHER, 'authorization');
  t.equal(stranger.status, 204);
  t.equal(stranger.headers.get('access-control-allow-origin'), null, 'another origin is not allowed: the browser refuses');
  t.equal(stranger.headers.get('access-control-allow-headers'), null);

  // A wrong key after the preflights: 401, not 429 (the preflights counted nothing).
  const wrong = await fetch(`${cluster.baseUrl}/v1/models`, { headers: { origin: PAGE, authorization: 'Bearer sk-wrong-0123456789' } });
  t.equal(wrong.status, 401);
  t.equal(wrong.headers.get('access-control-allow-origin'), PAGE, 'an error carries the origin too');
  t.match(wrong.headers.get('access-control-expose-headers'), /proxima-error/);
  t.equal(wrong.headers.get('proxima-error'), 'PRX_ERR_UNAUTHORIZED');

  // The real request, with the official client: the answer, and the headers a script may read.
  const client = cluster.openai(TEST_KEY).withOptions({ defaultHeaders: { origin: PAGE } });
  const { data, response } = await client.chat.completions.create({ model: 'llama3.2', messages: HI }).withResponse();
  t.equal(data.object, 'chat.completion');
  await cluster.nextUsage();
  t.equal(response.headers.get('access-control-allow-origin'), PAGE);
  const exposed = response.headers.get('access-control-expose-headers') ?? '';
  for (const name of ['x-request-id', 'proxima-error', 'retry-after', 'x-proxima-node']) t.ok(exposed.includes(name), `${name} is exposed`);
  t.equal(response.headers.get('x-proxima-node'), 'alpha');
  const stream = await client.chat.completions.create({ model: 'llama3.2', messages: HI, stream: true }).withResponse();
  t.ok((await collect(stream.data)).length > 0, 'a stream');
  await cluster.nextUsage();
  t.equal(stream.response.headers.get('access-control-allow-origin'), PAGE, 'a stream carries it');
  const missing = await fetch(`${cluster.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { origin: PAGE, authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'no-such-model', messages: HI }),
  });
  t.equal(missing.status, 404);
  t.equal(missing.headers.get('access-control-allow-origin'), PAGE, 'model_not_found carries it');
  const ollama = await fetch(`${cluster.baseUrl}/api/tags`, {
    headers: { origin: 'HTTP://LOCALHOST:5173', authorization: `Bearer ${TEST_KEY}` },
  });
  t.equal(ollama.status, 200);
  t.equal(
    ollama.headers.get('access-control-allow-origin'),
    'HTTP://LOCALHOST:5173',
    'origins compare without case; the request’s is echoed',
  );
  const other = await fetch(`${cluster.baseUrl}/api/tags`, { headers: { origin: OTHER, authorization: `Bearer ${TEST_KEY}` } });
  t.equal(other.status, 200, 'another origin is answered (a browser hides it from the page)');
  t.equal(other.headers.get('access-control-allow-origin'), null);

  // Admin parts: no CORS at all, preflight or not.
  for (const path of ['/nodes', '/keys', '/nodes/alpha/usage']) {
    const res = await preflight(path, PAGE, 'authorization');
    t.not(res.status, 204, `${path}: no preflight answer`);
    t.equal(res.headers.get('access-control-allow-origin'), null, `${path}: no CORS`);
  }
});

t.test('CORS is off by default: a preflight is an OPTIONS the API does not take', async (t) => {
  const cluster = await startApiCluster(t, { nodes: [{ name: 'alpha' }] });
  const res = await fetch(`${cluster.baseUrl}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: { origin: PAGE, 'access-control-request-method': 'POST' },
  });
  t.equal(res.status, 405);
  t.equal(res.headers.get('access-control-allow-origin'), null);
  const get = await fetch(`${cluster.baseUrl}/v1/models`, { headers: { origin: PAGE, authorization: `Bearer ${TEST_KEY}` } });
  t.equal(get.status, 200);
  t.equal(get.headers.get('access-control-allow-origin'), null);
});
