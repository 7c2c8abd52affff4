/**
 * The cluster benchmark's programs: a throwaway PostgreSQL (test/fixtures/postgres.ts), N real
 * proxima-server instances sharing it (`store.postgres.url`, `cluster:` on probed ports), nginx round
 * robin in front of them when asked (config/nginx/cluster.conf, as the tests derive it), one real
 * proxima-client, node `bench`, connected to instance 0 only, whose services are the benchmark's
 * origin (`web`, `sse`) and a fake Ollama (`ollama`, public). Everything stops when the benchmark
 * exits (children.ts); PostgreSQL is stopped by `stop()`, else SIGQUIT on exit.
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Test } from 'tap';
import { startPostgres, type TestPostgres } from '../../test/fixtures/postgres.js';
import { type NginxProcess, startNginx } from '../../test/fixtures/processes/nginx.js';
import { deriveClusterConfig } from '../../test/fixtures/processes/nginx-cluster.js';
import { reapPidFile } from '../../test/fixtures/processes/reaper.js';
import { observeLines, ownedTempDir, spawnOwned } from '../children.js';
import { freePort } from '../tunnel/origin.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const bin = (name: string): string => path.join(ROOT, 'bin', `${name}.js`);

export interface BenchInstance {
  pid: number;
  http: number;
  control: number;
  child: ChildProcess;
}

export interface BenchCluster {
  pg: TestPostgres;
  url: string;
  instances: BenchInstance[];
  clientPid: number;
  /** The node's hostnames. */
  host: string;
  sseHost: string;
  stop(): Promise<void>;
}

/** Resolves with the first JSON log line on `child`'s stderr whose msg matches. */
function waitLog(child: ChildProcess, msg: string, where: (l: Record<string, any>) => boolean = () => true): Promise<Record<string, any>> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stderr! });
    rl.on('line', (line) => {
      try {
        const parsed = JSON.parse(line);
        if (parsed.msg === msg && where(parsed)) resolve(parsed);
      } catch {
        /* not JSON */
      }
    });
    child.once('exit', (code) => reject(new Error(`${msg}: the process exited with ${code}`)));
  });
}

/** Starts `count` instances; the node at instance 0. */
export async function startBenchCluster(
  count: number,
  origin: { port: number; ssePort: number },
  ollamaPort: number,
): Promise<BenchCluster> {
  const dir = ownedTempDir('prx-bench-cluster-');
  const cleanups: (() => Promise<void>)[] = [];
  // startPostgres needs only t.teardown of a tap Test.
  const pg = await startPostgres({ teardown: (fn: () => Promise<void>) => cleanups.push(fn) } as unknown as Test);
  reapPidFile(path.join(pg.dir, 'data', 'postmaster.pid'), 'SIGQUIT');
  const url = await pg.createDatabase('proxima');
  const secret = randomBytes(32).toString('hex');
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const peer = await freePort();
    const file = path.join(dir, `server-${i}.yaml`);
    fs.mkdirSync(path.join(dir, `data-${i}`));
    fs.writeFileSync(
      file,
      [
        'domain: example.com',
        `dataDir: ./data-${i}`,
        'control: { listen: "127.0.0.1:0" }',
        'http: { listen: "127.0.0.1:0", trustProxy: true }',
        'api: { open: true }',
        `store: { postgres: { url: "${url}" } }`,
        `cluster: { listen: "127.0.0.1:${peer}", advertise: "127.0.0.1:${peer}", secret: "${secret}" }`,
        ...observeLines(),
        '',
      ].join('\n'),
    );
    files.push(file);
  }
  const added = await promisify(execFile)(process.execPath, [bin('proxima-server'), 'nodes', 'add', 'bench', '--json', '-c', files[0]!], {
    cwd: dir,
  });
  const { token } = JSON.parse(added.stdout) as { token: string };
  const instances: BenchInstance[] = [];
  for (const file of files) {
    const child = spawnOwned(process.execPath, [bin('proxima-server'), '-c', file], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    const listening = await waitLog(child, 'listening');
    instances.push({ pid: child.pid!, http: listening.http.port, control: listening.control.port, child });
  }
  const online = waitLog(instances[0]!.child, 'node online');
  const clientFile = path.join(dir, 'client.yaml');
  fs.writeFileSync(
    clientFile,
    [
      `server: 127.0.0.1:${instances[0]!.control}`,
      'name: bench',
      `token: ${token}`,
      'status: false',
      'services:',
      `  - { name: web, local: "127.0.0.1:${origin.port}" }`,
      `  - { name: sse, local: "127.0.0.1:${origin.ssePort}" }`,
      `  - { name: ollama, kind: ollama, local: "127.0.0.1:${ollamaPort}", maxConcurrent: 64 }`,
      'log: { level: warn }',
      '',
    ].join('\n'),
  );
  const client = spawnOwned(process.execPath, [bin('proxima-client'), '-c', clientFile], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  client.stderr!.resume();
  await online;
  for (const i of instances) i.child.stderr!.resume();
  return {
    pg,
    url,
    instances,
    clientPid: client.pid!,
    host: 'bench.example.com',
    sseHost: 'sse--bench.example.com',
    stop: async () => {
      for (const p of [client, ...instances.map((i) => i.child)]) {
        p.kill('SIGTERM');
        if (p.exitCode === null) await new Promise((r) => p.once('exit', r));
      }
      for (const fn of cleanups) await fn();
    },
  };
}

/** nginx from config/nginx/cluster.conf round robin over `instances`, also listening on TCP `port` (for wrk). */
export async function startBenchNginx(instances: BenchInstance[], port: number): Promise<NginxProcess> {
  return startNginx({
    upstream: '',
    config: (p) =>
      deriveClusterConfig(
        p,
        instances.map((i) => `127.0.0.1:${i.http}`),
      ).replaceAll(`    listen unix:${p.httpSocket};`, `    listen unix:${p.httpSocket};\n    listen 127.0.0.1:${port};`),
  });
}
