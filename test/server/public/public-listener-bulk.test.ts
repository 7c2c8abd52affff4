import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { promisify } from 'node:util';
import t from 'tap';
import { Agent, fetch } from 'undici';
import { startWebServer } from '../../fixtures/fakes/web/web-server.js';
import { startTunnel, type Tunnel } from '../../fixtures/stacks/tunnel.js';
import { patternBytes, writeRepeated } from '../../fixtures/wire/mux-pair.js';
import { rawRequest } from '../../fixtures/wire/raw-http.js';

const MIB = 1024 * 1024;

type Teardown = { teardown(fn: () => unknown): void };

async function tunnelToWeb(t: Teardown): Promise<Tunnel> {
  const site = await startWebServer();
  t.teardown(() => site.destroy());
  return startTunnel(t, { nodes: [{ name: 'alpha', services: [{ name: 'web', port: site.port }] }] });
}

t.test('100 MiB up and 100 MiB down arrive whole: SHA-256 matches', async (t) => {
  const tunnel = await tunnelToWeb(t);
  const started = performance.now();
  const up = http.request(tunnel.url('/upload'), {
    method: 'POST',
    headers: { Host: tunnel.host('alpha'), 'Content-Length': 100 * MIB },
    agent: false,
  });
  const answered = once(up, 'response') as Promise<[http.IncomingMessage]>;
  const sent = await writeRepeated(up as unknown as Duplex, patternBytes(MIB, 'upload'), 100 * MIB);
  const [res] = await answered;
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  t.same(JSON.parse(Buffer.concat(chunks).toString()), { bytes: 100 * MIB, sha256: sent }, 'upload: the service hashed what was sent');
  const upMs = performance.now() - started;

  const down = await new Promise<http.IncomingMessage>((resolve) =>
    http.get(tunnel.url(`/download?bytes=${100 * MIB}&seed=down`), { headers: { Host: tunnel.host('alpha') }, agent: false }, resolve),
  );
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  for await (const chunk of down) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  t.same([bytes, hash.digest('hex')], [100 * MIB, down.headers['x-content-sha256']], 'download: what the service sent');
  t.comment(`100 MiB up in ${upMs.toFixed(0)} ms, down in ${(performance.now() - started - upMs).toFixed(0)} ms (not a benchmark)`);
});

t.test('200 concurrent requests, each on its own connection, all succeed', async (t) => {
  const tunnel = await tunnelToWeb(t);
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) => rawRequest(tunnel.url(`/echo/${i}`), { headers: { Host: tunnel.host('alpha') }, agent: false })),
  );
  t.same(
    results.map((r) => r.status),
    Array(200).fill(200),
  );
  t.same(
    results.map((r) => (JSON.parse(r.text) as { url: string }).url),
    Array.from({ length: 200 }, (_, i) => `/echo/${i}`),
    'each got its own answer',
  );
  t.equal(tunnel.listener.stats().accepted, 200);
});

t.test('curl, a real client: GET, POST and a streamed answer', async (t) => {
  const tunnel = await tunnelToWeb(t);
  const host = tunnel.host('alpha');
  const curl = (...args: string[]) => promisify(execFile)('curl', ['-sS', '--resolve', `${host}:${tunnel.port}:127.0.0.1`, ...args]);
  const base = `http://${host}:${tunnel.port}`;
  const got = JSON.parse((await curl(`${base}/echo/curl`)).stdout) as { url: string; headers: Record<string, string> };
  t.same([got.url, got.headers.host, got.headers['x-forwarded-for']], ['/echo/curl', `${host}:${tunnel.port}`, '127.0.0.1']);
  const posted = JSON.parse((await curl('--data-binary', 'hello tunnel', `${base}/upload`)).stdout) as { bytes: number; sha256: string };
  t.same(posted, { bytes: 12, sha256: crypto.createHash('sha256').update('hello tunnel').digest('hex') });
  const sse = await curl('-N', `${base}/sse?count=3`);
  t.equal(sse.stdout.match(/^data: /gm)?.length, 3);
  const unknown = await curl(
    '-i',
    `http://nobody.${tunnel.domain}:${tunnel.port}/`,
    '--resolve',
    `nobody.${tunnel.domain}:${tunnel.port}:127.0.0.1`,
  );
  t.match(unknown.stdout, /^HTTP\/1\.1 404 Not Found\r\n[\s\S]*Proxima-Error: PRX_ERR_UNKNOWN_HOST\r\n/);
});

t.test('undici fetch, a real client: a pooled keep-alive agent reuses its tunnel connections', async (t) => {
  const tunnel = await tunnelToWeb(t);
  // The names resolve to the listener, as DNS would send them.
  const agent = new Agent({ connect: { lookup: (_host, _opts, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]) } });
  t.teardown(() => agent.close());
  const url = `http://${tunnel.host('alpha')}:${tunnel.port}`;
  const bodies: { connectionId: number; method: string; bodyBytes: number }[] = [];
  for (let i = 0; i < 5; i++) {
    const res = await fetch(`${url}/echo/${i}`, { method: 'POST', body: 'x'.repeat(i * 1000), dispatcher: agent });
    t.equal(res.status, 200);
    bodies.push((await res.json()) as { connectionId: number; method: string; bodyBytes: number });
  }
  t.same(
    bodies.map((b) => b.bodyBytes),
    [0, 1000, 2000, 3000, 4000],
  );
  // undici may open a second connection while the first is being released; each is kept alive.
  const { accepted } = tunnel.listener.stats();
  t.ok(accepted < 5, `keep-alive connections were reused (${accepted} for 5 requests)`);
  t.equal(new Set(bodies.map((b) => b.connectionId)).size, accepted, 'one local connection per public connection');
});
