import { once } from 'node:events';
import http from 'node:http';
import t from 'tap';
import WebSocket from 'ws';
import { createLogger } from '../../../src/log.js';
import type { NodeSession } from '../../../src/server/control/node-session.js';
import { startFakeOllama } from '../../fixtures/fakes/ollama/fake-ollama.js';
import { startWebServer, type WebServer } from '../../fixtures/fakes/web/web-server.js';
import { CLUSTER_SECRET, type ClusterPair, startClusterPair } from '../../fixtures/stacks/cluster-pair.js';
import { within } from '../../fixtures/store-helpers.js';

type Teardown = { teardown(fn: () => unknown): void };

async function web(t: Teardown): Promise<WebServer> {
  const server = await startWebServer();
  t.teardown(() => server.destroy());
  return server;
}

/** GET with a fresh connection; resolves with the response, its body read whole. */
function get(url: string, host: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { Host: host }, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.once('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
      res.once('error', reject);
    });
    req.once('error', reject);
  });
}

t.test('through B, a node held by A: a 1 MiB download arrives byte for byte', async (t) => {
  const site = await web(t);
  const pair = await startClusterPair(t);
  await pair.connect('alpha', { web: site });
  const res = await get(pair.url('b', '/download?bytes=1048576&seed=7'), pair.host('alpha'));
  t.equal(res.status, 200);
  t.equal(res.body.length, 1_048_576);
  const { createHash } = await import('node:crypto');
  t.equal(createHash('sha256').update(res.body).digest('hex'), res.headers['x-content-sha256'], 'the SHA-256 the web server computed');
  t.equal(pair.b.cluster!.links.size, 1, 'one peer link');
  const again = await get(pair.url('b', '/echo'), pair.host('alpha'));
  t.equal(again.status, 200, 'a second request reuses the link');
  t.equal(pair.b.cluster!.links.size, 1, 'still one peer link');
});

t.test('through B: a gated SSE stream, each event passed on before the next is sent', async (t) => {
  const site = await web(t);
  const pair = await startClusterPair(t);
  await pair.connect('alpha', { web: site });
  const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
    http.get(pair.url('b', '/sse?count=20&gate=g'), { headers: { Host: pair.host('alpha') }, agent: false }, resolve).once('error', reject),
  );
  const seqs: number[] = [];
  res.on('data', (chunk: Buffer) => {
    for (const m of chunk.toString().matchAll(/"seq":(\d+)/g)) seqs.push(Number(m[1]));
    // The web server sends the next event only now: one held back anywhere would hang the test.
    site.gate('g').open();
  });
  await once(res, 'end');
  t.equal(res.headers['content-type'], 'text/event-stream');
  t.same(
    seqs,
    Array.from({ length: 20 }, (_, i) => i),
    'every event, in order, each before the next',
  );
});

t.test('through B: a WebSocket upgrade echoes both ways', async (t) => {
  const site = await web(t);
  const pair = await startClusterPair(t);
  await pair.connect('alpha', { web: site });
  const ws = new WebSocket(`${pair.url('b', '/ws?greet=1').replace('http', 'ws')}`, { headers: { Host: pair.host('alpha') } });
  t.teardown(() => ws.terminate());
  const next = (): Promise<Buffer> => new Promise((resolve) => ws.once('message', (data: Buffer) => resolve(data)));
  const greeting = next();
  await once(ws, 'open');
  t.match(JSON.parse((await greeting).toString()), { headers: { host: pair.host('alpha') } }, 'the node spoke first');
  const echoed = next();
  ws.send(Buffer.alloc(200_000, 9), { binary: true });
  t.equal((await echoed).length, 200_000);
  ws.close(1000, 'done');
  const [code] = (await once(ws, 'close')) as [number];
  t.equal(code, 1000);
});

t.test('through B: a user who leaves mid-stream cancels the request at the node', async (t) => {
  const fake = await startFakeOllama({ tokenIntervalMs: 20 });
  t.teardown(() => fake.destroy());
  const pair = await startClusterPair(t);
  await pair.connect('alpha', { ollama: fake });
  const req = http.request(pair.url('b', '/api/generate'), { method: 'POST', headers: { Host: pair.host('alpha') }, agent: false });
  req.on('error', () => undefined);
  req.end(JSON.stringify({ model: 'llama3.2', prompt: 'a long answer please' }));
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  t.equal(res.statusCode, 200);
  await once(res, 'data');
  const record = await fake.nextRequest();
  req.destroy();
  const ended = await within(fake.closedByClient(record), 5_000, 'the node closed the request');
  t.ok(ended.closedByClient, 'the fake Ollama saw its client (the node) go');
});

t.test('a node gone: B answers as a single instance does (502 PRX_ERR_NODE_OFFLINE)', async (t) => {
  const site = await web(t);
  const pair = await startClusterPair(t);
  await pair.connect('alpha', { web: site });
  await pair.connect('beta', { web: site });
  // Beta leaves A, but B has not heard yet: A itself answers that it is offline.
  const stale = pair.feed.get('beta')!;
  const session = pair.a.nodes.live('beta') as NodeSession;
  const gone = once(pair.b.cluster!.directory, 'closed');
  await session.destroy();
  await gone;
  pair.feed.emit('put', stale);
  const viaA = await get(pair.url('a', '/'), pair.host('beta'));
  const viaB = await get(pair.url('b', '/'), pair.host('beta'));
  t.equal(viaA.status, 502);
  t.equal(viaB.status, 502, 'same status');
  t.equal(viaB.headers['proxima-error'], viaA.headers['proxima-error'], 'same code');
  t.equal(viaB.headers['proxima-error'], 'PRX_ERR_NODE_OFFLINE');
  // Once the feed says it left, B answers on its own, the same way.
  pair.feed.drop('beta', 'instance-a');
  const after = await get(pair.url('b', '/'), pair.host('beta'));
  t.same([after.status, after.headers['proxima-error']], [502, 'PRX_ERR_NODE_OFFLINE']);
  const unknown = await get(pair.url('b', '/'), pair.host('gamma'));
  t.equal(unknown.status, 404, 'a name nobody registered is 404, as ever');
  const alive = await get(pair.url('b', '/echo'), pair.host('alpha'));
  t.equal(alive.status, 200, 'the other node still answers through the same link');
});

t.test('a peer with the wrong secret is refused, with a clear line on both sides', async (t) => {
  const site = await web(t);
  const lines = { a: [] as string[], b: [] as string[] };
  const logger = (side: 'a' | 'b') =>
    createLogger({ level: 'info', format: 'json', stream: { write: (l: string) => lines[side].push(l) > 0 } });
  const pair: ClusterPair = await startClusterPair(t, { secretB: `${CLUSTER_SECRET}-wrong`, loggers: { a: logger('a'), b: logger('b') } });
  await pair.connect('alpha', { web: site });
  const res = await get(pair.url('b', '/'), pair.host('alpha'));
  t.equal(res.status, 502);
  t.equal(res.headers['proxima-error'], 'PRX_ERR_NODE_OFFLINE', 'the node is unreachable from B');
  t.equal(pair.b.cluster!.links.size, 0, 'no link');
  t.ok(
    lines.b.some((l) => l.includes('peer link refused: wrong cluster secret')),
    'B says the listener did not prove our secret',
  );
  t.ok(
    lines.a.some((l) => l.includes('peer link refused: the dialer does not know our cluster secret')),
    'A says the dialer did not prove it',
  );
  t.notOk(
    [...lines.a, ...lines.b].some((l) => l.includes(CLUSTER_SECRET)),
    'the secret is never logged',
  );
});

t.test('a peer link that dies is dialed again by the next request', async (t) => {
  const site = await web(t);
  const pair = await startClusterPair(t);
  await pair.connect('alpha', { web: site });
  t.equal((await get(pair.url('b', '/echo'), pair.host('alpha'))).status, 200);
  const peer = `127.0.0.1:${pair.a.cluster!.address().port}`;
  const link = pair.b.cluster!.links.link(peer)!;
  t.ok(link, 'B holds a link to A');
  await link.destroy();
  t.equal(pair.b.cluster!.links.link(peer), undefined, 'gone');
  const res = await get(pair.url('b', '/echo'), pair.host('alpha'));
  t.equal(res.status, 200, 'the next request dials a new link and is answered');
  t.not(pair.b.cluster!.links.link(peer), link, 'a new link');
  t.equal(pair.b.cluster!.links.size, 1);
});
