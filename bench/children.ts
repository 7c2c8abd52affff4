/**
 * The processes and temp folders a benchmark makes, cleaned up when the benchmark exits however it
 * exits: an uncaught error, Ctrl-C, or stdout closed under it (`npm run bench | head` ends in
 * EPIPE). Without this, a crashed run leaves proxima-server, proxima-client or nginx running, and
 * they skew every later measurement, and leaves its folders (10 MiB files among them) in the temp
 * directory.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

const running = new Set<ChildProcess>();
const folders = new Set<string>();

// SIGTERM, not SIGKILL: nginx's master stops its workers on SIGTERM, while SIGKILL would leave them
// running; the Proxima programs drain and exit, and their users are gone by then.
process.once('exit', () => {
  for (const child of running) child.kill('SIGTERM');
  for (const dir of folders) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // A child still stopping may write into its folder meanwhile; a throw here would replace the
      // benchmark's own exit code and error with this one.
    }
  }
});
// Ctrl-C, or `timeout`: exit through the cleanup above (a signal's default action skips 'exit').
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)
  process.once(signal, () => process.exit(code));

/** A new folder in the temp directory, named `prefix` and a random suffix, removed when this process exits. */
export function ownedTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  folders.add(dir);
  return dir;
}

/** `spawn`, with the child killed when this process exits if it is still running then. */
export function spawnOwned(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, options);
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/**
 * The server.yaml lines of the observability switches, from the environment: BENCH_METRICS=off sets
 * `metrics.enabled: false`, BENCH_ACCESS_LOG=off sets `log.access: false` (both on by default, as a
 * super node runs by default; its log level is info, so access lines are written). The admin
 * listener takes any free port, so runs side by side do not fight over 7070.
 */
export function observeLines(observe: Observe = observeFromEnv()): string[] {
  return [
    'admin: { listen: "127.0.0.1:0" }',
    `metrics: { enabled: ${observe.metrics} }`,
    `log: { level: info, access: ${observe.accessLog} }`,
  ];
}

/** The observability switches of one super node in a benchmark. */
export interface Observe {
  metrics: boolean;
  accessLog: boolean;
}

/** BENCH_METRICS and BENCH_ACCESS_LOG (`off` switches one off). */
export function observeFromEnv(): Observe {
  return { metrics: process.env.BENCH_METRICS !== 'off', accessLog: process.env.BENCH_ACCESS_LOG !== 'off' };
}

/** What observeLines set, for a report's footer. */
export function observeNote(): string {
  return `metrics ${process.env.BENCH_METRICS === 'off' ? 'off' : 'on'}, access log ${process.env.BENCH_ACCESS_LOG === 'off' ? 'off' : 'on'}`;
}

/**
 * Runs node with `args` in `cwd`; `line` resolves with the first line of `stream` that `match`
 * accepts (and rejects if the program exits first). The other output is drained, so a chatty
 * program never blocks on a full pipe.
 */
export function startLine(
  cwd: string,
  args: string[],
  stream: 'stdout' | 'stderr',
  match: (line: string) => boolean,
): { child: ChildProcess; line: Promise<string> } {
  const child = spawnOwned(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd });
  const lines = createInterface({ input: child[stream]! });
  const line = new Promise<string>((resolve, reject) => {
    lines.on('line', (l) => match(l) && resolve(l));
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited (${code}) first`)));
  });
  line.catch(() => undefined); // a program whose line nobody awaits may exit at the end
  (stream === 'stdout' ? child.stderr : child.stdout)!.resume();
  return { child, line };
}

/** What startBenchPair starts: a fake Ollama, a super node with `serverLines` and node `bench` sharing the fake. */
export interface BenchPairOptions {
  repo: string;
  dir: string;
  /** server.yaml's lines after the listeners (the API, admin, log, observation settings). */
  serverLines: string[];
  /** The benchmark's own script: run with `fake`, it starts the fake Ollama and prints its port. */
  fakeScript: string;
  /** Extra fields of the node's ollama service (`expose: public`, say). */
  serviceExtra?: string;
  /** Node options for both programs (`--cpu-prof`, say). */
  nodeArgs?: string[];
}

/**
 * Starts the fake Ollama (in a process of its own), registers node `bench`, starts `proxima-server`
 * and then `proxima-client` with one `ollama` service in front of the fake (maxConcurrent 64);
 * resolves once the server listens, with the programs (each pushed onto `children` too, for
 * stopChildren), the fake's port and the server's HTTP port.
 */
export async function startBenchPair(
  o: BenchPairOptions,
  children: ChildProcess[],
): Promise<{ server: ChildProcess; client: ChildProcess; fakePort: number; httpPort: number }> {
  const fake = startLine(o.repo, [o.fakeScript, 'fake'], 'stdout', (l) => /^\d+$/.test(l));
  children.push(fake.child);
  const fakePort = Number(await fake.line);
  const serverFile = path.join(o.dir, 'server.yaml');
  const listeners = ['domain: proxima.bench', 'dataDir: ./data', 'control: { listen: "127.0.0.1:0" }', 'http: { listen: "127.0.0.1:0" }'];
  fs.writeFileSync(serverFile, [...listeners, ...o.serverLines, ''].join('\n'));
  const bin = (name: string): string => path.join(o.repo, 'bin', `${name}.js`);
  const added = startLine(o.repo, [bin('proxima-server'), 'nodes', 'add', 'bench', '--json', '-c', serverFile], 'stdout', () => false);
  let printed = '';
  added.child.stdout!.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  await once(added.child, 'exit');
  const { token } = JSON.parse(printed) as { token: string };
  const nodeArgs = o.nodeArgs ?? [];
  const server = startLine(o.repo, [...nodeArgs, bin('proxima-server'), '-c', serverFile], 'stderr', (l) =>
    l.includes('"msg":"listening"'),
  );
  children.push(server.child);
  const { control, http } = JSON.parse(await server.line) as { control: { port: number }; http: { port: number } };
  const clientFile = path.join(o.dir, 'client.yaml');
  const service = `{ name: ollama, kind: ollama, local: "127.0.0.1:${fakePort}", maxConcurrent: 64${o.serviceExtra ?? ''} }`;
  const clientLines = [
    `server: 127.0.0.1:${control.port}`,
    'name: bench',
    `token: ${token}`,
    'services:',
    `  - ${service}`,
    'log: { level: warn }',
  ];
  fs.writeFileSync(clientFile, [...clientLines, ''].join('\n'));
  const client = startLine(o.repo, [...nodeArgs, bin('proxima-client'), '-c', clientFile], 'stderr', () => false);
  children.push(client.child);
  return { server: server.child, client: client.child, fakePort, httpPort: http.port };
}

/** Stops `children` newest first (SIGTERM, stdin ended: each drains), waits for each, then removes `dir`. */
export async function stopChildren(children: ChildProcess[], dir: string): Promise<void> {
  for (const child of [...children].reverse()) {
    child.stdin?.end();
    child.kill('SIGTERM');
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
  }
  fs.rmSync(dir, { recursive: true, force: true });
}
