/** Real proxima-server and proxima-client processes for the benchmark, configured in a temp folder. */
import { type ChildProcess, execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Observe, observeLines, ownedTempDir, spawnOwned } from '../children.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const bin = (name: string): string => path.join(ROOT, 'bin', `${name}.js`);
/** Extra node flags for the two processes, e.g. BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);

export interface Tunnel {
  httpPort: number;
  /** The Host that reaches the benchmark node's service. */
  host: string;
  serverPid: number;
  clientPid: number;
  stop(): Promise<void>;
}

/** Resolves with the first JSON log line on `child`'s stderr whose msg matches. */
function waitLog(child: ChildProcess, msg: string): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stderr! });
    rl.on('line', (line) => {
      try {
        const parsed = JSON.parse(line);
        if (parsed.msg === msg) resolve(parsed);
      } catch {
        /* not JSON */
      }
    });
    child.once('exit', (code) => reject(new Error(`${msg}: the process exited with ${code}`)));
  });
}

/**
 * A super node with one node `bench` whose services `web` and `sse` are the origin's; its metrics
 * and access log as `observe` says (default: BENCH_METRICS, BENCH_ACCESS_LOG).
 */
export async function startTunnel(originPort: number, ssePort: number, observe?: Observe): Promise<Tunnel> {
  const dir = ownedTempDir('prx-bench-tunnel-');
  const serverFile = path.join(dir, 'server.yaml');
  fs.writeFileSync(
    serverFile,
    [
      'domain: proxima.bench',
      'dataDir: ./data',
      'control: { listen: "127.0.0.1:0" }',
      'http: { listen: "127.0.0.1:0" }',
      ...observeLines(observe),
      '',
    ].join('\n'),
  );
  const added = await promisify(execFile)(process.execPath, [bin('proxima-server'), 'nodes', 'add', 'bench', '--json', '-c', serverFile]);
  const { token } = JSON.parse(added.stdout) as { token: string };
  const server = spawnOwned(process.execPath, [...NODE_ARGS, bin('proxima-server'), '-c', serverFile], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const listening = await waitLog(server, 'listening');
  const online = waitLog(server, 'node online');
  const clientFile = path.join(dir, 'client.yaml');
  fs.writeFileSync(
    clientFile,
    [
      `server: 127.0.0.1:${listening.control.port}`,
      'name: bench',
      `token: ${token}`,
      'services:',
      `  - { name: web, local: "127.0.0.1:${originPort}" }`,
      `  - { name: sse, local: "127.0.0.1:${ssePort}" }`,
      'log: { level: warn }',
      '',
    ].join('\n'),
  );
  const client = spawnOwned(process.execPath, [...NODE_ARGS, bin('proxima-client'), '-c', clientFile], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  client.stderr!.resume();
  await online;
  server.stderr!.resume();
  return {
    httpPort: listening.http.port,
    host: 'bench.proxima.bench',
    serverPid: server.pid!,
    clientPid: client.pid!,
    stop: async () => {
      for (const p of [client, server]) {
        p.kill('SIGTERM');
        if (p.exitCode === null) await new Promise((r) => p.once('exit', r));
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** CPU time a process has used (user and system), in ms, from /proc (10 ms ticks). */
export function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** Resident memory of a process, from /proc. */
export function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024);
}
