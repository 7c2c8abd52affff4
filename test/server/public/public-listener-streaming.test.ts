import { once } from 'node:events';
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import t from 'tap';
import WebSocket from 'ws';
import { startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { startWebServer, type WebServer } from '../../fixtures/fakes/web/web-server.js';
import { parseResponses, rawConnect, startTunnel, type Tunnel } from '../../fixtures/stacks/tunnel.js';

type Teardown = { teardown(fn: () => unknown): void };

async function web(t: Teardown): Promise<WebServer> {
  const server = await startWebServer();
  t.teardown(() => server.destroy());
  return server;
}

/** GET through the tunnel with a fresh connection; resolves with the live response. */
function open(tunnel: Tunnel, host: string, path: string): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.get(tunnel.url(path), { headers: { Host: host }, agent: false }, resolve);
    req.once('error', reject);
  });
}

/**
 * Reads a gated stream of `count` events: the server sends each next event only once the test has
 * received the previous one and opened the gate, so an event held back anywhere would hang the test.
 */
async function gatedEvents(t: Teardown, format: 'sse' | 'ndjson', count: number) {
  const site = await web(t);
  const tunnel = await startTunnel(t, { nodes: [{ name: 'alpha', services: [{ name: 'web', port: site.port }] }] });
  const res = await open(tunnel, tunnel.host('alpha'), `/${format}?count=${count}&gate=g`);
  const events: { seq: number; sentAt: number; receivedAt: number }[] = [];
  let reads = 0;
  let coalesced = 0;
  res.on('data', (chunk: Buffer) => {
    const receivedAt = Date.now();
    reads++;
    const found = [...chunk.toString().matchAll(/\{"seq":(\d+),"sentAt":(\d+)\}/g)];
    if (found.length !== 1) coalesced++;
    for (const m of found) events.push({ seq: Number(m[1]), sentAt: Number(m[2]), receivedAt });
    site.gate('g').open();
  });
  await once(res, 'end');
  return { res, events, reads, coalesced };
}

function latencyComment(events: { sentAt: number; receivedAt: number }[]): string {
  const lags = events.map((e) => e.receivedAt - e.sentAt).sort((a, b) => a - b);
  return `sender-to-receiver lag over ${lags.length} events: p50 ${lags[lags.length >> 1]} ms, max ${lags[lags.length - 1]} ms`;
}

t.test('SSE: 200 events, each passed on as it was sent, none held back or coalesced', async (t) => {
  const { res, events, reads, coalesced } = await gatedEvents(t, 'sse', 200);
  t.equal(res.headers['content-type'], 'text/event-stream');
  t.same(
    events.map((e) => e.seq),
    Array.from({ length: 200 }, (_, i) => i),
    'every event, in order',
  );
  t.same([reads, coalesced], [200, 0], 'one read per event: nothing waited to be sent with the next');
  t.comment(latencyComment(events));
});

t.test("NDJSON: the same for application/x-ndjson (Ollama's native streams)", async (t) => {
  const { res, events, coalesced } = await gatedEvents(t, 'ndjson', 200);
  t.equal(res.headers['content-type'], 'application/x-ndjson');
  t.same([events.length, coalesced], [200, 0]);
  t.comment(latencyComment(events));
});

t.test('WebSocket: the upgrade becomes a two-way pipe; text and binary echo both ways', async (t) => {
  const site = await web(t);
  const tunnel = await startTunnel(t, { nodes: [{ name: 'alpha', services: [{ name: 'web', port: site.port }] }] });
  const ws = new WebSocket(`ws://127.0.0.1:${tunnel.port}/ws?greet=1`, { headers: { Host: tunnel.host('alpha') } });
  t.teardown(() => ws.terminate());
  const messages: { data: Buffer; binary: boolean }[] = [];
  const next = (): Promise<{ data: Buffer; binary: boolean }> =>
    new Promise((resolve) => ws.once('message', (data: Buffer, binary) => resolve({ data, binary })));
  const greeting = next();
  await once(ws, 'open');
  const { headers } = JSON.parse((await greeting).data.toString()) as { headers: Record<string, string> };
  t.equal(headers.host, tunnel.host('alpha'), 'the server spoke first: the node-to-user direction works');
  t.equal(headers['x-forwarded-host'], tunnel.host('alpha'));
  for (const [payload, binary] of [
    ['hello', false],
    [Buffer.alloc(300_000, 7), true],
  ] as const) {
    const echoed = next();
    ws.send(payload, { binary });
    messages.push(await echoed);
  }
  t.same(
    messages.map((m) => [m.data.length, m.binary]),
    [
      [5, false],
      [300_000, true],
    ],
  );
  t.equal(tunnel.listener.stats().upgraded, 1, 'counted as an upgraded connection');
  ws.close(1000, 'done');
  const [code] = (await once(ws, 'close')) as [number];
  t.equal(code, 1000, 'the close handshake crossed the pipe both ways');
});

t.test('a user who leaves mid-stream cancels the request at the node', async (t) => {
  const fake = await startFakeOllama({ tokenIntervalMs: 20 });
  t.teardown(() => fake.destroy());
  const tunnel = await startTunnel(t, {
    nodes: [{ name: 'alpha', services: [{ name: 'ollama', port: fake.port, hostHeader: `localhost:${fake.port}` }] }],
  });
  const req = http.request(tunnel.url('/api/generate'), { method: 'POST', headers: { Host: tunnel.host('alpha') }, agent: false });
  req.on('error', () => undefined);
  req.end(JSON.stringify({ model: 'llama3.2', prompt: 'a long answer please' }));
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  t.equal(res.statusCode, 200);
  await once(res, 'data');
  const record = await fake.nextRequest();
  req.destroy();
  const closed = await fake.closedByClient(record);
  t.ok(closed.closedByClient, "the node's connection to Ollama closed when the user left");
});

t.test("a user who ends the connection in the middle of an answer cancels it at once, not at the service's next write", async (t) => {
  const site = await web(t);
  const tunnel = await startTunnel(t, { nodes: [{ name: 'alpha', services: [{ name: 'web', port: site.port }] }] });
  const arrived = once(site, 'request') as Promise<[http.IncomingMessage]>;
  const conn = await rawConnect(t, tunnel.port);
  // The gate stays shut: the service sends its first event, then nothing more until it is cut.
  conn.socket.write(`GET /sse?count=2&gate=shut HTTP/1.1\r\nHost: ${tunnel.host('alpha')}\r\n\r\n`);
  await conn.waitFor('"seq":0');
  const [req] = await arrived;
  const serviceClosed = new Promise((resolve) => req.socket.once('close', resolve)); // after a reset (ECONNRESET) or an end
  conn.socket.end(); // the user's FIN, in the middle of the answer
  const bound = new AbortController();
  const outcome = await Promise.race([
    serviceClosed.then(() => 'closed'),
    delay(5000, 'still open', { signal: bound.signal }).catch(() => 'still open'),
  ]);
  bound.abort();
  t.equal(outcome, 'closed', "the node's connection to its service was cut");
  if (outcome !== 'closed') return; // the user's connection would stay open too
  const { bytes, reset } = await conn.closed;
  const [response] = parseResponses(bytes);
  t.same([response?.status, response?.complete, reset], [200, false, true], "the user's connection was reset after the part it had");
});

t.test("the node's service resets mid-stream: the user sees a reset, not a short answer that looks complete", async (t) => {
  const fake = await startFakeOllama({ faults: { resetAfterTokens: 2 } });
  t.teardown(() => fake.destroy());
  const tunnel = await startTunnel(t, {
    nodes: [{ name: 'alpha', services: [{ name: 'ollama', port: fake.port, hostHeader: `localhost:${fake.port}` }] }],
  });
  const conn = await rawConnect(t, tunnel.port);
  const body = JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
  conn.socket.write(`POST /api/chat HTTP/1.1\r\nHost: ${tunnel.host('alpha')}\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  const { bytes, reset } = await conn.closed;
  const [response] = parseResponses(bytes, ['POST']);
  t.notOk(bytes.toString().includes('"done":true'), 'the final line never came');
  // A reset may overtake bytes still in flight (TCP drops them): the head may or may not have arrived.
  if (response?.status === 200) t.same([response.complete, reset], [false, true], 'the answer was cut, and the connection reset');
  else t.ok(reset || response?.status === 502, `reset before the head, or a 502 page in its place (got ${response?.status ?? 'nothing'})`);
});
