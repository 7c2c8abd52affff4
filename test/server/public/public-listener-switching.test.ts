/**
 * Behind a trusted proxy (http.trustProxy) a public connection carries requests for many upstreams,
 * as nginx's pool of upstream connections sends them: each request goes where its own Host says.
 */

import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import t from 'tap';
import { MAX_PARKED_LEGS } from '../../../src/server/public/connection-legs.js';
import { allClosed, servedService } from '../../fixtures/fakes/served-service.js';
import { startWebServer, type WebServer } from '../../fixtures/fakes/web/web-server.js';
import { attachNode, parseResponses, rawConnect, rawExchange, startTunnel, type Tunnel } from '../../fixtures/stacks/tunnel.js';
import { settle, trackTimers } from '../../fixtures/timers.js';

type Teardown = { teardown(fn: () => unknown): void };

async function web(t: Teardown): Promise<WebServer> {
  const server = await startWebServer();
  t.teardown(() => server.destroy());
  return server;
}

const get = (host: string, path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;
const close = 'Connection: close\r\n';

interface Echo {
  url: string;
  headers: Record<string, string>;
  connectionId: number;
  connectionRequests: number;
}

/** A tunnel with trustProxy in front of alpha and beta, each with one web service, and beta2 registered but offline. */
async function twoTenants(t: Teardown): Promise<{ tunnel: Tunnel; a: WebServer; b: WebServer }> {
  const a = await web(t);
  const b = await web(t);
  const tunnel = await startTunnel(t, {
    nodes: [
      { name: 'alpha', services: [{ name: 'web', port: a.port }] },
      { name: 'beta', services: [{ name: 'web', port: b.port }] },
    ],
    registered: ['gone'],
    listener: { trustProxy: true },
  });
  return { tunnel, a, b };
}

/** A local service whose answers to /slow wait for `release()`; records when each request arrived and each answer finished. */
async function recordingService(t: Teardown) {
  const log: { url: string; arrivedAt: number; finishedAt?: number }[] = [];
  let release = (): void => undefined;
  let slowArrived!: () => void;
  const arrived = new Promise<void>((resolve) => (slowArrived = resolve));
  const server = http.createServer((req, res) => {
    const entry: { url: string; arrivedAt: number; finishedAt?: number } = { url: req.url ?? '', arrivedAt: performance.now() };
    log.push(entry);
    res.on('finish', () => (entry.finishedAt = performance.now()));
    if (req.url !== '/slow') return void res.end(`served ${req.url}`);
    release = () => res.end('slow answer');
    slowArrived();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { port: (server.address() as net.AddressInfo).port, log, slowArrived: arrived, release: () => release() };
}

t.test("one keep-alive connection: tenant A, tenant B, the API, tenant A, each where its Host says; A's stream is reused", async (t) => {
  const { tunnel, a, b } = await twoTenants(t);
  const conn = await rawConnect(t, tunnel.port);
  const forwarded = 'X-Forwarded-For: 203.0.113.9\r\n';
  conn.socket.write(get(tunnel.host('alpha'), '/echo/1', forwarded));
  await conn.waitFor('/echo/1');
  conn.socket.write(get(tunnel.host('beta'), '/echo/2', forwarded));
  await conn.waitFor('/echo/2');
  conn.socket.write(get(tunnel.domain, '/3', forwarded));
  await conn.waitFor(`api ${tunnel.domain} /3`);
  conn.socket.write(get(tunnel.host('alpha'), '/echo/4', forwarded + close));
  const responses = parseResponses((await conn.closed).bytes);
  t.same(
    responses.map((r) => r.status),
    [200, 200, 200, 200],
  );
  const [first, second, api, fourth] = responses;
  const [one, two, four] = [first, second, fourth].map((r) => JSON.parse(r!.text) as Echo);
  t.same(
    [one!.url, two!.url, api!.text, four!.url],
    ['/echo/1', '/echo/2', `api ${tunnel.domain} /3`, '/echo/4'],
    'each request reached its own upstream',
  );
  t.same([one!.headers.host, two!.headers.host], [tunnel.host('alpha'), tunnel.host('beta')]);
  t.equal(two!.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1', 'forwarded headers as with any trusted request');
  t.same([four!.connectionId, four!.connectionRequests], [one!.connectionId, 2], 'back at A: the same stream and local connection');
  t.same([a.connections.length, b.connections.length], [1, 1]);
  t.equal(tunnel.listener.stats().accepted, 1, 'all on one public connection');
});

t.test('a pipelined request for B behind a slow answer of A waits for it, then all are answered in order', async (t) => {
  const slow = await recordingService(t);
  const other = await recordingService(t);
  const tunnel = await startTunnel(t, {
    nodes: [
      { name: 'alpha', services: [{ name: 'web', port: slow.port }] },
      { name: 'beta', services: [{ name: 'web', port: other.port }] },
    ],
    listener: { trustProxy: true },
  });
  const conn = await rawConnect(t, tunnel.port);
  conn.socket.write(
    get(tunnel.host('alpha'), '/slow') +
      get(tunnel.host('beta'), '/held') +
      get(tunnel.domain, '/api') +
      get(tunnel.host('alpha'), '/last'),
  );
  conn.socket.end(); // a client may send everything and half-close: what was held is still answered
  await slow.slowArrived;
  // A whole request to beta on another connection: had /held been sent on at once, beta would have it by now.
  const probe = await rawConnect(t, tunnel.port);
  probe.socket.write(get(tunnel.host('beta'), '/probe', close));
  await probe.closed;
  t.same(
    other.log.map((e) => e.url),
    ['/probe'],
    "the request for beta is held while alpha's answer is due",
  );
  slow.release();
  const { bytes, reset } = await conn.closed;
  t.same(
    parseResponses(bytes).map((r) => r.text),
    ['slow answer', 'served /held', `api ${tunnel.domain} /api`, 'served /last'],
    'answered in order',
  );
  t.notOk(reset, 'closed gracefully after the last answer');
  const held = other.log.find((e) => e.url === '/held')!;
  t.ok(held.arrivedAt >= slow.log[0]!.finishedAt!, "beta got its request only after alpha's answer was complete");
});

t.test(
  'refusals in the middle: an unknown host is 404, an offline node 502, after the answers due; then the connection closes',
  async (t) => {
    const { tunnel, a } = await twoTenants(t);
    const cases: [string, number, string][] = [
      [tunnel.host('nobody'), 404, 'PRX_ERR_UNKNOWN_HOST'],
      [tunnel.host('gone'), 502, 'PRX_ERR_NODE_OFFLINE'],
      [tunnel.host('alpha', 'docs'), 404, 'PRX_ERR_SERVICE_UNKNOWN'],
    ];
    for (const [host, status, code] of cases) {
      const conn = await rawConnect(t, tunnel.port);
      conn.socket.write(get(tunnel.domain, '/first'));
      await conn.waitFor('/first');
      // Pipelined behind a slow answer of alpha: the page comes after it, in order.
      conn.socket.write(get(tunnel.host('alpha'), '/delay?ms=30') + get(host, '/refused') + get(tunnel.host('alpha'), '/echo/never'));
      const { bytes } = await conn.closed;
      const responses = parseResponses(bytes);
      t.same(
        responses.map((r) => [r.status, r.header('proxima-error')]),
        [
          [200, undefined],
          [200, undefined],
          [status, code],
        ],
        host,
      );
      t.equal(responses[1]!.text, 'waited 30 ms');
      t.equal(responses[2]!.header('connection'), 'close');
    }
    t.notOk(
      a.connections.some((c) => c.requests > 1),
      'nothing after a refusal reached a node',
    );
  },
);

t.test('SSE through a switched connection: the API, then a gated event stream of A, then the API again', async (t) => {
  const { tunnel, a } = await twoTenants(t);
  const conn = await rawConnect(t, tunnel.port);
  conn.socket.write(get(tunnel.domain, '/before'));
  await conn.waitFor('/before');
  conn.socket.write(get(tunnel.host('alpha'), '/sse?count=4&gate=switched'));
  for (let seq = 0; seq < 4; seq++) {
    await conn.waitFor(`"seq":${seq}`);
    a.gate('switched').open(); // the next event is written only now: a held-back event would hang here
  }
  conn.socket.write(get(tunnel.domain, '/after', close));
  const responses = parseResponses((await conn.closed).bytes);
  t.same(
    responses.map((r) => [r.status, r.complete]),
    [
      [200, true],
      [200, true],
      [200, true],
    ],
  );
  t.equal(responses[1]!.header('content-type'), 'text/event-stream');
  t.same(
    [...responses[1]!.text.matchAll(/"seq":(\d)/g)].map((m) => Number(m[1])),
    [0, 1, 2, 3],
  );
  t.equal(responses[2]!.text, `api ${tunnel.domain} /after`);
});

t.test('a parked stream is not reused once its local connection closed, nor once its node reconnected', async (t) => {
  const local = await servedService(t, 1);
  const { port, sockets } = local;
  const tunnel = await startTunnel(t, { nodes: [{ name: 'alpha', services: [{ name: 'web', port }] }], listener: { trustProxy: true } });
  const conn = await rawConnect(t, tunnel.port);
  conn.socket.write(get(tunnel.host('alpha'), '/one'));
  await conn.waitFor('served /one');
  conn.socket.write(get(tunnel.domain, '/api-1'));
  await conn.waitFor('/api-1');
  await allClosed(sockets);
  conn.socket.write(get(tunnel.host('alpha'), '/two'));
  await conn.waitFor('served /two');
  t.equal(sockets.length, 2, 'a new stream and local connection served /two');

  local.server.keepAliveTimeout = 60_000;
  conn.socket.write(get(tunnel.domain, '/api-2'));
  await conn.waitFor('/api-2');
  const old = tunnel.directory.nodes.get('alpha')!;
  await attachNode(t, tunnel.directory, { name: 'alpha', services: [{ name: 'web', port }] });
  conn.socket.write(get(tunnel.host('alpha'), '/three'));
  await conn.waitFor('served /three');
  t.equal(sockets.length, 3, 'the node reconnected: /three went on its new session, not the parked stream');
  t.ok(old.server.isOpen, 'though the old session was still up');
});

t.test('nothing outlives a switched connection: parked streams end with it, their local connections close, no timer is left', async (t) => {
  const timers = trackTimers();
  t.teardown(() => timers.stop());
  // They never close idle connections themselves here: only the tunnel's ends can.
  const alpha = await servedService(t, 600_000);
  const beta = await servedService(t, 600_000);
  const tunnel = await startTunnel(t, {
    nodes: [
      { name: 'alpha', services: [{ name: 'web', port: alpha.port }] },
      { name: 'beta', services: [{ name: 'web', port: beta.port }] },
    ],
    listener: { trustProxy: true },
  });
  // node:http keeps a Date header for a second, with a timer: have it made before counting.
  await rawExchange(t, tunnel.port, get(tunnel.domain, '/warm-up', close));
  await settle();
  const before = timers.live();
  const conn = await rawConnect(t, tunnel.port);
  for (const [host, path] of [
    [tunnel.host('alpha'), '/a'],
    [tunnel.domain, '/api'],
    [tunnel.host('beta'), '/b'],
  ] as const) {
    conn.socket.write(get(host, path));
    await conn.waitFor(path);
  }
  conn.socket.write(get(tunnel.domain, '/last', close));
  t.same(
    parseResponses((await conn.closed).bytes).map((r) => r.status),
    [200, 200, 200, 200],
  );
  await allClosed([...alpha.sockets, ...beta.sockets]);
  t.same([alpha.sockets.length, beta.sockets.length], [1, 1], "the services' connections closed once the public one did");
  // The tunnel streams wind down too: the node's ends, then (their FIN crossing back) ours.
  await Promise.all(['alpha', 'beta'].map((name) => tunnel.directory.nodes.get(name)!.forwarder.close()));
  await settle();
  t.same(
    ['alpha', 'beta'].map((name) => tunnel.directory.nodes.get(name)!.server.streamCount),
    [0, 0],
    'no tunnel stream left open',
  );
  t.ok(timers.live() <= before, 'no timer left behind');
});

t.test(`at most ${MAX_PARKED_LEGS} streams are parked: the oldest is retired, its local connection closes`, async (t) => {
  const local = await servedService(t, 600_000);
  const names = Array.from({ length: MAX_PARKED_LEGS + 2 }, (_, i) => `s${i}`);
  const tunnel = await startTunnel(t, {
    nodes: [{ name: 'alpha', services: names.map((name) => ({ name, port: local.port })) }],
    listener: { trustProxy: true },
  });
  const conn = await rawConnect(t, tunnel.port);
  const ask = async (service: string, path: string): Promise<void> => {
    conn.socket.write(get(tunnel.host('alpha', service), path));
    await conn.waitFor(`served ${path}`);
  };
  for (const [i, name] of names.entries()) await ask(name, `/first-${i}`);
  t.equal(local.sockets.length, names.length, 'one stream, one local connection per service');
  await allClosed([local.sockets[0]!]);
  t.pass(`the oldest parked stream (${names[0]}) was retired: its local connection closed`);
  await ask(names[names.length - 2]!, '/again-parked');
  t.equal(local.sockets.length, names.length, 'a parked stream was reused');
  await ask(names[0]!, '/again-evicted');
  t.equal(local.sockets.length, names.length + 1, 'the retired one was opened afresh');
});
