import t from 'tap';
import { createLogger } from '../../../src/log.js';
import { openNodeStream } from '../../../src/server/control/node-stream.js';
import type { RemotePeer } from '../../../src/server/node-directory.js';
import { startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { startWebServer, type WebServer } from '../../fixtures/fakes/web/web-server.js';
import { freePort, parseResponses, rawConnect, rawExchange, startTunnel, type Tunnel } from '../../fixtures/stacks/tunnel.js';
import { sessionPair } from '../../fixtures/wire/mux-pair.js';

type Teardown = { teardown(fn: () => unknown): void };

async function web(t: Teardown): Promise<WebServer> {
  const server = await startWebServer();
  t.teardown(() => server.destroy());
  return server;
}

/** Paths the web server was asked for, in order. */
function requestLog(server: WebServer): string[] {
  const paths: string[] = [];
  server.on('request', (req) => paths.push(req.url ?? ''));
  return paths;
}

const get = (host: string, path = '/echo', extra = '') => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;

/** One request on a fresh connection; the single response it got, and whether the connection closed. */
async function answer(t: Teardown, tunnel: Tunnel, request: string) {
  const { bytes, reset } = await rawExchange(t, tunnel.port, request);
  const [response] = parseResponses(bytes);
  return { response: response!, reset, all: bytes.toString('latin1') };
}

t.test('the pages: unknown host 404, offline 502, refused 502 naming node and service, unknown service 404', async (t) => {
  const port = await freePort();
  const logLines: string[] = [];
  const logger = createLogger({ level: 'info', stream: { write: (line: string) => logLines.push(line) > 0 } });
  const tunnel = await startTunnel(t, {
    nodes: [{ name: 'alpha', services: [{ name: 'web', port }] }],
    registered: ['beta'],
    listener: { logger },
  });
  const cases: [string, number, string, string][] = [
    [tunnel.host('gamma'), 404, 'PRX_ERR_UNKNOWN_HOST', `no node answers to ${tunnel.host('gamma')}\n`],
    [`x.y.${tunnel.domain}`, 404, 'PRX_ERR_UNKNOWN_HOST', `no node answers to x.y.${tunnel.domain}\n`],
    [tunnel.host('beta'), 502, 'PRX_ERR_NODE_OFFLINE', 'node beta is offline\n'],
    [tunnel.host('alpha'), 502, 'PRX_ERR_TARGET_UNREACHABLE', 'node alpha: service web refused the connection\n'],
    [tunnel.host('alpha', 'docs'), 404, 'PRX_ERR_SERVICE_UNKNOWN', 'node alpha has no service docs\n'],
  ];
  const ids: string[] = [];
  for (const [host, status, code, text] of cases) {
    const { response } = await answer(t, tunnel, get(host));
    const id = response.header('x-request-id') ?? '';
    t.match(id, /^req_[0-9a-f]{32}$/, 'every page has a request id');
    ids.push(id);
    // A 5xx is the node's side failing: the text names the id, for the user to quote to the host.
    const said = status >= 500 ? `${text}request id: ${id}\n` : text;
    t.same(
      [response.status, response.header('proxima-error'), response.text, response.header('connection')],
      [status, code, said, 'close'],
      host,
    );
  }
  t.equal(new Set(ids).size, ids.length, 'a new id each time');
  const warned = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'tenant request failed');
  t.same(
    warned.map((l) => [l.level, l.requestId, l.code, l.node]),
    [
      ['warn', ids[2], 'PRX_ERR_NODE_OFFLINE', 'beta'],
      ['warn', ids[3], 'PRX_ERR_TARGET_UNREACHABLE', 'alpha'],
    ],
    "the super node's log has each failure under the page's request id",
  );
  t.match(warned[1]?.err, { message: `service web: connect ECONNREFUSED 127.0.0.1:${port}` }, "with the node's detail");
  const head = await answer(t, tunnel, `HEAD / HTTP/1.1\r\nHost: ${tunnel.host('beta')}\r\n\r\n`);
  t.notOk(head.all.endsWith('offline\n'), 'HEAD: no body');
});

t.test('a node that does not answer the stream header in time: 504', async (t) => {
  const tunnel = await startTunnel(t);
  const { server, client } = await sessionPair(t);
  client.on('stream', (stream) => stream.resume().on('error', () => undefined)); // accepts, never answers
  tunnel.directory.nodes.set('mute', {
    live: {
      name: 'mute',
      services: [{ name: 'web', kind: 'http' }],
      openStream: (s: string, r: RemotePeer) => openNodeStream(server, s, r, { openTimeoutMs: 50 }),
    },
  } as never);
  const { response } = await answer(t, tunnel, get(tunnel.host('mute')));
  t.same(
    [response.status, response.header('proxima-error'), response.text],
    [504, 'PRX_ERR_NODE_TIMEOUT', `node mute did not answer in time\nrequest id: ${response.header('x-request-id')}\n`],
  );
});

t.test('a head too large: 431; a head that dribbles in: 408, also on a keep-alive connection', async (t) => {
  const site = await web(t);
  const tunnel = await startTunnel(t, {
    nodes: [{ name: 'alpha', services: [{ name: 'web', port: site.port }] }],
    listener: { maxHeadBytes: 1024, headTimeoutMs: 100 },
  });
  const big = await answer(t, tunnel, get(tunnel.host('alpha'), '/echo', `X-Big: ${'x'.repeat(2000)}\r\n`));
  t.same([big.response.status, big.response.header('proxima-error')], [431, 'PRX_ERR_HTTP_HEAD_TOO_LARGE']);

  const slow = await rawConnect(t, tunnel.port);
  slow.socket.write(`GET / HTTP/1.1\r\nHost: ${tunnel.host('alpha')}\r\nX-Slow: `);
  const { bytes } = await slow.closed;
  t.same(
    parseResponses(bytes).map((r) => [r.status, r.header('proxima-error')]),
    [[408, 'PRX_ERR_HTTP_HEAD_TIMEOUT']],
  );

  const kept = await rawConnect(t, tunnel.port);
  kept.socket.write(get(tunnel.host('alpha')));
  await kept.waitFor('"connectionRequests"');
  kept.socket.write('GET /echo HTTP/1.1\r\nHo');
  const second = await kept.closed;
  t.same(
    parseResponses(second.bytes).map((r) => r.status),
    [200, 408],
    'the answer, then 408 for the head that never finished',
  );
  t.equal(site.connections.length, 1, 'the slow heads never reached the node');
});

t.test('no request smuggling: ambiguous framing is 400, and what it hid never reaches the node', async (t) => {
  const site = await web(t);
  const seen = requestLog(site);
  const tunnel = await startTunnel(t, { nodes: [{ name: 'alpha', services: [{ name: 'web', port: site.port }] }] });
  const host = tunnel.host('alpha');
  const smuggled = `GET /smuggled HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
  const attacks: [string, string][] = [
    ['CL+TE', `POST /echo/a HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`],
    [
      'duplicate CL',
      `POST /echo/b HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    ],
    ['bad chunk size', `POST /upload HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n-0\r\n\r\n${smuggled}`],
  ];
  for (const [name, attack] of attacks) {
    const conn = await rawConnect(t, tunnel.port);
    conn.socket.write(get(host, '/echo/first'));
    await conn.waitFor('"connectionRequests"');
    conn.socket.write(attack);
    const { bytes } = await conn.closed;
    const responses = parseResponses(bytes);
    t.same(
      responses.map((r) => [r.status, r.header('proxima-error')]),
      [
        [200, undefined],
        [400, 'PRX_ERR_HTTP_AMBIGUOUS_FRAMING'],
      ],
      name,
    );
  }
  t.notOk(seen.includes('/smuggled'), 'the smuggled request never reached the node');
  t.notOk(seen.includes('/echo/a') || seen.includes('/echo/b'), 'nor did the ambiguous heads');
});

t.test('a request for another tenant on the same connection: 421 after the earlier answers, then close', async (t) => {
  const a = await web(t);
  const b = await web(t);
  const seenB = requestLog(b);
  const tunnel = await startTunnel(t, {
    nodes: [
      { name: 'alpha', services: [{ name: 'web', port: a.port }] },
      { name: 'beta', services: [{ name: 'web', port: b.port }] },
    ],
  });
  const conn = await rawConnect(t, tunnel.port);
  conn.socket.write(
    get(tunnel.host('alpha'), '/delay?ms=50') + get(tunnel.host('beta'), '/echo/other') + get(tunnel.host('alpha'), '/echo/after'),
  );
  const { bytes } = await conn.closed;
  const responses = parseResponses(bytes);
  t.same(
    responses.map((r) => [r.status, r.header('proxima-error')]),
    [
      [200, undefined],
      [421, 'PRX_ERR_HTTP_MISDIRECTED'],
    ],
  );
  t.equal(responses[0]!.text, 'waited 50 ms', 'the earlier answer came whole, first');
  t.match(responses[1]!.text, /this connection is for alpha\.proxima\.test; open a new one for beta\.proxima\.test/);
  t.same(seenB, [], 'beta never saw the request');

  const api = await rawConnect(t, tunnel.port);
  api.socket.write(get(tunnel.domain, '/v1/models') + get(tunnel.host('alpha'), '/echo/via-api'));
  const viaApi = parseResponses((await api.closed).bytes);
  t.same(
    viaApi.map((r) => [r.status, r.header('proxima-error')]),
    [
      [200, undefined],
      [421, 'PRX_ERR_HTTP_MISDIRECTED'],
    ],
    'an API connection cannot reach a tenant either',
  );
});

t.test('a tunnel stream cut mid-response resets the public connection: never a short body on a live connection', async (t) => {
  const site = await web(t);
  const tunnel = await startTunnel(t, { nodes: [{ name: 'alpha', services: [{ name: 'web', port: site.port }] }] });
  const conn = await rawConnect(t, tunnel.port);
  conn.socket.write(get(tunnel.host('alpha'), '/sse?count=3&gate=cut'));
  await conn.waitFor('"seq":0');
  await tunnel.directory.nodes.get('alpha')!.server.destroy();
  const { bytes, reset } = await conn.closed;
  const [response] = parseResponses(bytes);
  t.same([response!.status, response!.complete, reset], [200, false, true], 'the client sees an incomplete body and a reset');
});

t.test('a body that stalls: 408 when nothing was answered yet, and the node sees a reset, not a short body', async (t) => {
  const fake = await startFakeOllama();
  t.teardown(() => fake.destroy());
  const tunnel = await startTunnel(t, {
    nodes: [{ name: 'alpha', services: [{ name: 'ollama', port: fake.port, hostHeader: `localhost:${fake.port}` }] }],
    listener: { idleTimeoutMs: 100 },
  });
  const conn = await rawConnect(t, tunnel.port);
  conn.socket.write(`POST /api/generate HTTP/1.1\r\nHost: ${tunnel.host('alpha')}\r\nContent-Length: 100\r\n\r\n{"model":`);
  const { bytes } = await conn.closed;
  t.same(
    parseResponses(bytes).map((r) => [r.status, r.header('proxima-error')]),
    [[408, 'PRX_ERR_HTTP_BODY_TIMEOUT']],
  );
  const [record] = fake.requests;
  const closed = await fake.closedByClient(record!);
  t.same(
    [closed.closedByClient, closed.status, closed.body],
    [true, undefined, undefined],
    'Ollama saw the connection cut, never a request to answer',
  );
});
