/**
 * `npm run bench:public`: requests per second through the public listener and the tunnel, measured
 * with wrk (which must be installed). The listener and the super node's end of the mux session run
 * here; the Forwarder and a local web server run in a child process; wrk is a third process. Each
 * workload runs BENCH_SECONDS (10) with BENCH_CONNECTIONS (64) keep-alive connections. Besides
 * requests per second it reports the CPU time this process spent per request (user + system), which
 * says more than the rate on a machine shared with other work:
 *
 * - `tenant`: every request for one node's service (the hot path);
 * - `api`: every request for the API host (handed to the API by the public connection itself);
 * - `switching` (trustProxy): each connection's requests cycle over two services of the node and
 *   the API, as a pool of nginx upstream connections would send them: every request switches.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Session } from '../../src/mux/index.js';
import { applyRuntimeTuning, tuningMode } from '../../src/runtime/index.js';
import { openNodeStream } from '../../src/server/control/node-stream.js';
import type { LiveNode, NodeDirectory } from '../../src/server/node-directory.js';
import { PublicListener } from '../../src/server/public/public-listener.js';
import { ownedTempDir } from '../children.js';

// As the programs do: the runtime tricks per PROXIMA_RUNTIME_TUNING (auto by default).
await applyRuntimeTuning(tuningMode('auto'));

const NODE_SIDE = fileURLToPath(new URL('./node.js', import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const DOMAIN = 'bench.test';
const API_BODY = Buffer.from('hello from the api\n');

const child = spawn(process.execPath, [NODE_SIDE], { stdio: ['pipe', 'pipe', 'inherit'] });
const [line] = await createInterface({ input: child.stdout! })
  [Symbol.asyncIterator]()
  .next()
  .then((r) => [r.value as string]);
const { port: controlPort } = JSON.parse(line!) as { port: number };
const socket = net.connect(controlPort, '127.0.0.1');
await once(socket, 'connect');
const session = new Session(socket, { role: 'server' });
const node: LiveNode = {
  name: 'alpha',
  services: [
    { name: 'web', kind: 'http' },
    { name: 'docs', kind: 'http' },
  ],
  openStream: (service, remote) => openNodeStream(session, service, remote),
};
const directory: NodeDirectory = { live: (name) => (name === 'alpha' ? node : undefined), isRegistered: (name) => name === 'alpha' };

const scripts = ownedTempDir('proxima-bench-');
const hostsScript = (hosts: string[]): string => {
  const file = path.join(scripts, `${hosts.length}.lua`);
  fs.writeFileSync(
    file,
    [
      `local hosts = { ${hosts.map((h) => `"${h}"`).join(', ')} }`,
      'local i = 0',
      'request = function()',
      '  i = i + 1',
      '  return wrk.format("GET", "/", { Host = hosts[(i % #hosts) + 1] })',
      'end',
      '',
    ].join('\n'),
  );
  return file;
};

/** Runs wrk against `port`; resolves with requests per second, requests in all and the count of non-2xx answers. */
async function wrk(port: number, args: string[]): Promise<{ rps: number; requests: number; non2xx: number; errors: string }> {
  const proc = spawn('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, ...args, `http://127.0.0.1:${port}/`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await once(proc, 'exit');
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = /Socket errors: .*/.exec(out)?.[0] ?? '';
  return { rps, requests, non2xx, errors };
}

const workloads: { name: string; trustProxy: boolean; args: string[] }[] = [
  { name: 'tenant', trustProxy: false, args: ['-H', `Host: alpha.${DOMAIN}`] },
  { name: 'tenant (trustProxy)', trustProxy: true, args: ['-H', `Host: alpha.${DOMAIN}`] },
  { name: 'api', trustProxy: false, args: ['-H', `Host: ${DOMAIN}`] },
  { name: 'switching (trustProxy)', trustProxy: true, args: ['-s', hostsScript([`alpha.${DOMAIN}`, `docs--alpha.${DOMAIN}`, DOMAIN])] },
];
const only = process.argv[2];
process.stdout.write(`| workload | requests/s | listener CPU µs/request | non-2xx | socket errors |\n|---|---|---|---|---|\n`);
for (const w of workloads) {
  if (only !== undefined && !w.name.startsWith(only)) continue;
  const listener = new PublicListener({
    domain: DOMAIN,
    directory,
    trustProxy: w.trustProxy,
    api: (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': API_BODY.length });
      res.end(API_BODY);
    },
  });
  const { port } = await listener.listen();
  const cpu = process.cpuUsage();
  const r = await wrk(port, w.args);
  const { user, system } = process.cpuUsage(cpu);
  await listener.destroy();
  process.stdout.write(
    `| ${w.name} | ${Math.round(r.rps)} | ${((user + system) / r.requests).toFixed(1)} | ${r.non2xx} | ${r.errors || '-'} |\n`,
  );
}
fs.rmSync(scripts, { recursive: true, force: true });
await session.destroy();
child.stdin!.end();
await once(child, 'exit');
