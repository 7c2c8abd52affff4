import net from 'node:net';
import { Registry } from 'prom-client';
import t, { type Test } from 'tap';
import { createLogger } from '../../../src/log.js';
import { requestObserver } from '../../../src/server/observe/request-observer.js';
import { metricValue } from '../../fixtures/metric-values.js';
import { startTunnel } from '../../fixtures/stacks/tunnel.js';
import { rawRequest } from '../../fixtures/wire/raw-http.js';

/** A raw origin: answers `/missing` 404, anything else 200 with a 1000-byte body; counts the bytes it read. */
async function startOrigin(t: Test): Promise<{ port: number; bytesRead: () => number }> {
  let read = 0;
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined); // reset when the tunnel goes at teardown
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      read += chunk.length;
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        const body = head.startsWith('GET /missing') ? 'no\n' : 'x'.repeat(1000);
        const status = head.startsWith('GET /missing') ? '404 Not Found' : '200 OK';
        socket.write(`HTTP/1.1 ${status}\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return { port: (server.address() as net.AddressInfo).port, bytesRead: () => read };
}

const SECRET = 'Bearer sk-never-in-a-log-0123456789';

t.test('tunnel requests are counted once each, by status class, with their bytes, and logged once each', async (t) => {
  const origin = await startOrigin(t);
  const registry = new Registry();
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', stream: { write: (line: string) => lines.push(line) > 0 } });
  const observer = requestObserver({ registry, accessLog: true, logger, sources: { queueDepth: () => 0 } });
  const tunnel = await startTunnel(t, {
    nodes: [{ name: 'alpha', services: [{ name: 'web', port: origin.port }] }],
    listener: { observer },
  });
  const host = tunnel.host('alpha');
  const N = 7;
  let received = 0;
  for (let i = 0; i < N; i++) {
    const res = await rawRequest(tunnel.url(`/page?token=q${i}`), { agent: false, headers: { Host: host, Authorization: SECRET } });
    t.equal(res.status, 200);
    t.equal(res.body.length, 1000);
  }
  const missing = await rawRequest(tunnel.url('/missing'), { agent: false, headers: { Host: host } });
  t.equal(missing.status, 404);
  const unknown = await rawRequest(tunnel.url('/'), { agent: false, headers: { Host: `nobody.${tunnel.domain}` } });
  t.equal(unknown.status, 404, 'refused by the super node');
  received =
    N * (1000 + 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n'.length) +
    'HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n'.length;

  t.equal(await metricValue(registry, 'proxima_tunnel_requests_total', { status_class: '2xx' }), N);
  t.equal(await metricValue(registry, 'proxima_tunnel_requests_total', { status_class: '4xx' }), 2, 'the 404 of the node and the refusal');
  t.equal(await metricValue(registry, 'proxima_tunnel_requests_total', { status_class: '5xx' }), 0);
  t.equal(
    await metricValue(registry, 'proxima_tunnel_bytes_total', { direction: 'in' }),
    origin.bytesRead(),
    'bytes in: what the node got',
  );
  const out = await metricValue(registry, 'proxima_tunnel_bytes_total', { direction: 'out' });
  t.ok(out > received, 'bytes out: what the node sent, and the refusal page');
  t.equal(await metricValue(registry, 'proxima_tunnel_duration_seconds_count'), N + 2);
  t.equal(await metricValue(registry, 'proxima_tunnel_ttfb_seconds_count'), N + 2);

  await new Promise((resolve) => setImmediate(resolve)); // access lines go out once per turn of the loop
  const access = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.component === 'access');
  t.equal(access.length, N + 2, 'one access line per request');
  const first = access[0]!;
  t.match(first, {
    level: 'info',
    msg: 'request',
    kind: 'tunnel',
    requestId: /^req_[0-9a-f]{32}$/,
    host,
    node: 'alpha',
    service: 'web',
    method: 'GET',
    status: 200,
    bytesOut: 1000 + 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n'.length,
  });
  t.ok((first.bytesIn as number) > 0 && typeof first.durationMs === 'number' && typeof first.ttfbMs === 'number');
  t.match(access.at(-1), { status: 404, node: undefined, requestId: unknown.headers['x-request-id'] });
  const all = lines.join('');
  t.notOk(all.includes('sk-never-in-a-log'), 'no Authorization text in the log');
  t.notOk(all.includes('token=q'), 'no query string in the log');
  t.notOk(all.includes('/page'), 'no path in the log');
});

t.test('the id a request came with is its id in the log, when it is one of ours', async (t) => {
  const origin = await startOrigin(t);
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', stream: { write: (line: string) => lines.push(line) > 0 } });
  const observer = requestObserver({ registry: undefined, accessLog: true, logger, sources: { queueDepth: () => 0 } });
  const tunnel = await startTunnel(t, {
    nodes: [{ name: 'alpha', services: [{ name: 'web', port: origin.port }] }],
    listener: { observer },
  });
  const id = `req_${'ab'.repeat(16)}`;
  await rawRequest(tunnel.url('/'), { agent: false, headers: { Host: tunnel.host('alpha'), 'X-Request-Id': id } });
  await rawRequest(tunnel.url('/'), { agent: false, headers: { Host: tunnel.host('alpha'), 'X-Request-Id': 'made-up <id>' } });
  await new Promise((resolve) => setImmediate(resolve));
  const ids = lines.map((l) => JSON.parse(l).requestId as string);
  t.equal(ids[0], id);
  t.match(ids[1], /^req_[0-9a-f]{32}$/);
  t.not(ids[1], id);
});

t.test('a request cut before its response is counted failed', async (t) => {
  // Closes without answering: the super node answers 502 itself.
  const server = net.createServer((socket) => socket.on('error', () => undefined).once('data', () => socket.end()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const registry = new Registry();
  const observer = requestObserver({
    registry,
    accessLog: false,
    logger: createLogger({ level: 'silent' }),
    sources: { queueDepth: () => 0 },
  });
  const port = (server.address() as net.AddressInfo).port;
  const tunnel = await startTunnel(t, { nodes: [{ name: 'alpha', services: [{ name: 'web', port }] }], listener: { observer } });
  const res = await rawRequest(tunnel.url('/'), { agent: false, headers: { Host: tunnel.host('alpha') } });
  t.equal(res.status, 502);
  t.equal(await metricValue(registry, 'proxima_tunnel_requests_total', { status_class: 'failed' }), 1);
  t.equal(await metricValue(registry, 'proxima_tunnel_requests_total', { status_class: '2xx' }), 0);
});

t.test('with metrics and the access log off there is no observer', async (t) => {
  const logger = createLogger({ level: 'info', stream: { write: () => true } });
  t.equal(requestObserver({ registry: undefined, accessLog: false, logger, sources: { queueDepth: () => 0 } }), undefined);
  const quiet = createLogger({ level: 'warn', stream: { write: () => true } });
  t.equal(
    requestObserver({ registry: undefined, accessLog: true, logger: quiet, sources: { queueDepth: () => 0 } }),
    undefined,
    'below info: no lines',
  );
});
