/**
 * A body trickled a byte at a time, over a real socket: on a tenant host it is cut at
 * http.bodyTimeoutMs however short its gaps (408, and the node's service sees the request aborted,
 * not a short body); on the model API at api.bodyTimeoutMs; and a body the API never reads (a 401)
 * does not keep the connection open past http.bodyTimeoutMs either.
 */
import t, { type Test } from 'tap';
import { startPublicListener } from '../../../src/server/public/public-listener.js';
import { startWebServer } from '../../fixtures/fakes/web/web-server.js';
import { startServer, tempDir, testServerConfig } from '../../fixtures/stacks/control-plane.js';
import { parseResponses, type RawConnection, rawConnect, startTunnel } from '../../fixtures/stacks/tunnel.js';

/** Writes one byte every `everyMs` until the server closes the connection: the attack, paced. */
function trickle(conn: RawConnection, everyMs: number): { sent: () => number } {
  let sent = 0;
  const timer = setInterval(() => {
    if (conn.socket.writable) {
      conn.socket.write('x');
      sent++;
    }
  }, everyMs);
  void conn.closed.then(() => clearInterval(timer));
  return { sent: () => sent };
}

const post = (host: string, path: string, extra = '') =>
  `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n${extra}\r\n`;

t.test('a tenant host: a body trickled every 20 ms is cut at http.bodyTimeoutMs with 408', async (t) => {
  const site = await startWebServer();
  t.teardown(() => site.destroy());
  const tunnel = await startTunnel(t, {
    nodes: [{ name: 'alpha', services: [{ name: 'web', port: site.port }] }],
    listener: { idleTimeoutMs: 5_000, bodyTimeoutMs: 500 },
  });
  const seen = new Promise<{ complete: boolean }>((resolve) =>
    site.once('request', (req) => {
      req.resume();
      req.once('close', () => resolve({ complete: req.complete }));
    }),
  );
  const conn = await rawConnect(t, tunnel.port);
  const started = performance.now();
  conn.socket.write(post(tunnel.host('alpha'), '/upload'));
  const paced = trickle(conn, 20);
  const { bytes } = await conn.closed;
  const elapsedMs = performance.now() - started;
  t.same(
    parseResponses(bytes).map((r) => [r.status, r.header('proxima-error')]),
    [[408, 'PRX_ERR_HTTP_BODY_TIMEOUT']],
  );
  t.ok(elapsedMs >= 450, `cut after ${Math.round(elapsedMs)} ms and ${paced.sent()} bytes, never stalled for idleTimeoutMs`);
  t.same(await seen, { complete: false }, 'the service saw the request aborted, not a short body');
});

async function apiServer(t: Test): Promise<number> {
  const dataDir = tempDir(t);
  const config = testServerConfig(dataDir, {
    http: { bodyTimeoutMs: 500 },
    api: { keys: [{ id: 'k1', key: 'sk-good-key-0123456789' }], bodyTimeoutMs: 300 },
  });
  const server = await startServer(t, { dataDir, config, publicListener: startPublicListener });
  return server.httpAddress()!.port;
}

t.test('the model API: a trickled body gets 408 request_timeout at api.bodyTimeoutMs', async (t) => {
  const port = await apiServer(t);
  const conn = await rawConnect(t, port);
  conn.socket.write(post('localhost', '/v1/chat/completions', 'Authorization: Bearer sk-good-key-0123456789\r\n'));
  trickle(conn, 20);
  const { bytes } = await conn.closed;
  const [response] = parseResponses(bytes);
  t.same([response!.status, response!.header('proxima-error')], [408, 'PRX_ERR_HTTP_BODY_TIMEOUT']);
  t.match(bytes.toString('latin1'), /"code":"request_timeout"/);
});

t.test('the model API: a body it never reads (401) cannot hold the connection past http.bodyTimeoutMs', async (t) => {
  const port = await apiServer(t);
  const conn = await rawConnect(t, port);
  const started = performance.now();
  conn.socket.write(post('localhost', '/v1/chat/completions'));
  trickle(conn, 20);
  const { bytes } = await conn.closed;
  const statuses = parseResponses(bytes).map((r) => r.status);
  t.equal(statuses[0], 401, 'the 401 comes at once');
  t.ok(performance.now() - started >= 450, 'then the connection is closed at the body deadline');
});
