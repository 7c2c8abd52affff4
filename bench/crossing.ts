/**
 * The added cost of a request that crosses instances: two super nodes of one cluster in this
 * process (as test/fixtures/stacks/cluster-pair.ts builds them), a node at A in front of a 1 KiB
 * origin, and one keep-alive connection asking GET / sequentially, through A (the node's own
 * instance) and through B (forwarded over the peer link), alternating rounds. Prints p50/p99 and
 * this process's CPU per request (client, both instances, node and origin all run here, so the
 * difference between the two is what the crossing adds).
 *
 *   npm run build && node dist/bench/crossing.js      (BENCH_REQUESTS, BENCH_ROUNDS)
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ControlConnection } from '../src/client/control-connection.js';
import { Forwarder } from '../src/client/forwarder.js';
import { parseServerConfig } from '../src/server/config.js';
import type { NodeSession } from '../src/server/control/node-session.js';
import { openNodeStream } from '../src/server/control/node-stream.js';
import type { RemoteNode, RemotePresenceEvents } from '../src/server/presence/remote-presence.js';
import { startPublicListener } from '../src/server/public/public-listener.js';
import { ProximaServer } from '../src/server/server.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const SECRET = 'bench-cluster-secret-0123456789abcdef';
const BODY = Buffer.alloc(1024, 'x');

class Feed extends EventEmitter<RemotePresenceEvents> {
  readonly list: RemoteNode[] = [];
  get(name: string): RemoteNode | undefined {
    return this.list.find((n) => n.name === name);
  }
  nodes(): RemoteNode[] {
    return this.list;
  }
  async close(): Promise<void> {}
}

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'proxima-crossing-'));
const origin = http.createServer((_req, res) => res.end(BODY));
await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
const originPort = (origin.address() as { port: number }).port;

async function start(name: string, feed: Feed): Promise<ProximaServer> {
  const dataDir = path.join(base, name);
  const config = parseServerConfig(
    { dataDir, domain: 'proxima.test', control: { listen: '127.0.0.1:0' }, http: { listen: '127.0.0.1:0' }, log: { access: false } },
    { baseDir: dataDir },
  );
  config.cluster = { listen: { host: '127.0.0.1', port: 0 }, advertise: { host: '127.0.0.1', port: 0 }, secret: SECRET };
  return ProximaServer.start({
    config,
    openStream: openNodeStream,
    publicListener: startPublicListener,
    remotePresence: feed,
    instance: name,
  });
}

const feedA = new Feed();
const feedB = new Feed();
const a = await start('a', feedA);
const b = await start('b', feedB);
const { token } = await a.registry.add('alpha');
await b.registry.add('alpha');
const forwarder = new Forwarder({ services: [{ name: 'web', kind: 'http', local: { host: '127.0.0.1', port: originPort } }] });
const advertised = new Promise<NodeSession>((resolve) => a.nodes.once('advertised', resolve));
const node = await ControlConnection.open({
  server: { host: '127.0.0.1', port: a.controlAddress().port },
  tls: false,
  name: 'alpha',
  token,
  services: [{ name: 'web', kind: 'http' }],
  onStream: (stream) => forwarder.handle(stream),
  timeoutMs: 5_000,
});
const session = await advertised;
const remote: RemoteNode = {
  name: 'alpha',
  instance: 'a',
  peer: `127.0.0.1:${a.cluster!.address().port}`,
  connectedAt: session.connectedAt.toISOString(),
  services: [...session.services],
};
feedB.list.push(remote);
feedB.emit('put', remote);

/** `count` sequential GETs on one keep-alive connection; latencies in ms and CPU µs per request. */
async function run(port: number, count: number): Promise<{ latencies: number[]; cpuUs: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  const get = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { Host: 'alpha.proxima.test' }, agent }, (res) => {
        res.resume();
        res.once('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      });
      req.once('error', reject);
    });
  for (let i = 0; i < 200; i++) await get(); // warm-up
  const cpu = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await get();
    latencies.push(performance.now() - t0);
  }
  const used = process.cpuUsage(cpu);
  agent.destroy();
  return { latencies, cpuUs: (used.user + used.system) / count };
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
const results = { local: [] as number[], crossing: [] as number[], localCpu: [] as number[], crossingCpu: [] as number[] };
for (let round = 0; round < ROUNDS; round++) {
  const local = await run(a.httpAddress()!.port, REQUESTS);
  const crossing = await run(b.httpAddress()!.port, REQUESTS);
  results.local.push(...local.latencies);
  results.crossing.push(...crossing.latencies);
  results.localCpu.push(local.cpuUs);
  results.crossingCpu.push(crossing.cpuUs);
  const line = (r: { latencies: number[]; cpuUs: number }): string => {
    const s = [...r.latencies].sort((x, y) => x - y);
    return `p50 ${pct(s, 50).toFixed(3)} ms p99 ${pct(s, 99).toFixed(3)} ms cpu ${r.cpuUs.toFixed(0)} µs/req`;
  };
  process.stderr.write(`round ${round + 1}: through A ${line(local)}; through B (crossing) ${line(crossing)}\n`);
}
const local = [...results.local].sort((x, y) => x - y);
const crossing = [...results.crossing].sort((x, y) => x - y);
const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
process.stdout.write(
  [
    `| 1 KiB GET, 1 connection, ${ROUNDS} x ${REQUESTS} requests each | p50 | p99 | CPU per request (whole process) |`,
    '|---|---|---|---|',
    `| through A (the node's instance) | ${pct(local, 50).toFixed(3)} ms | ${pct(local, 99).toFixed(3)} ms | ${mean(results.localCpu).toFixed(0)} µs |`,
    `| through B (crossing to A) | ${pct(crossing, 50).toFixed(3)} ms | ${pct(crossing, 99).toFixed(3)} ms | ${mean(results.crossingCpu).toFixed(0)} µs |`,
    `| added by the crossing | ${(pct(crossing, 50) - pct(local, 50)).toFixed(3)} ms | ${(pct(crossing, 99) - pct(local, 99)).toFixed(3)} ms | ${(mean(results.crossingCpu) - mean(results.localCpu)).toFixed(0)} µs |`,
    '',
    `(peer links open at B: ${b.cluster!.links.size}; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores)`,
    '',
  ].join('\n'),
);
await node.destroy();
await forwarder.destroy();
await b.destroy();
await a.destroy();
origin.close();
fs.rmSync(base, { recursive: true, force: true });
