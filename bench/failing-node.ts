/**
 * The router under failure: three nodes share a model (real proxima-server, three proxima-client
 * processes, three fake Ollamas in this process), and one of them answers every inference request
 * 500 before its first byte (the fake's `errorBeforeFirstByte`). CONCURRENCY users send non-streamed
 * chats until that node's breaker has tripped, then FAILING_REQUESTS more. Each request that reached
 * the failing node after the trip needed a retry (a half-open trial; the user still got another
 * node's answer); the share of those is the number to watch (target at most 1%), with how many
 * users saw an error. Server defaults: `routing.breaker` 3 failures, 5 s cooldown doubling to 5 min.
 * Run with `npm run bench:api` (it runs after the latency cells) or `node dist/bench/failing-node.js`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { type FakeOllama, startFakeOllama } from '../test/fixtures/fakes/ollama/fake-ollama.js';
import { ownedTempDir, spawnOwned } from './children.js';

const REQUESTS = Number(process.env.FAILING_REQUESTS ?? 4000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8);
const here = fileURLToPath(import.meta.url);
const repo = path.resolve(path.dirname(here), '../..');
/** A new conversation each time (many users): prompt-cache affinity would keep one on its first node. */
const chat = (n: number): string => JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: `hi ${n}` }] });
const NODES = ['alpha', 'beta', 'failing'] as const;

/** Inference requests a fake got. */
const served = (fake: FakeOllama): number => fake.requests.filter((r) => r.method === 'POST').length;

/** Runs the cell and prints its rows. */
export async function failingNodeCell(): Promise<void> {
  const dir = ownedTempDir('proxima-bench-failing-');
  const children: ChildProcess[] = [];
  const fakes: FakeOllama[] = [];
  try {
    for (const name of NODES) {
      fakes.push(
        await startFakeOllama({
          models: [{ name: 'llama3.2', answerTokens: 16 }],
          ...(name === 'failing' ? { faults: { errorBeforeFirstByte: {} } } : {}),
        }),
      );
    }
    const failing = fakes[2]!;
    const serverFile = path.join(dir, 'server.yaml');
    const base = ['domain: proxima.bench', 'dataDir: ./data', 'control: { listen: "127.0.0.1:0" }', 'http: { listen: "127.0.0.1:0" }'];
    fs.writeFileSync(serverFile, [...base, 'api: { open: true }', 'log: { level: info }', ''].join('\n'));
    const bin = (name: string): string => path.join(repo, 'bin', `${name}.js`);
    const server = spawnOwned(process.execPath, [bin('proxima-server'), '-c', serverFile], { stdio: ['pipe', 'pipe', 'pipe'], cwd: repo });
    children.push(server);
    const online = new Set<string>();
    let onlineChanged: () => void = () => undefined;
    const listening = new Promise<{ control: { port: number }; http: { port: number } }>((resolve) => {
      createInterface({ input: server.stderr! }).on('line', (l) => {
        if (l.includes('"msg":"listening"')) resolve(JSON.parse(l));
        const node = /"msg":"node online".*"node":"([a-z]+)"/.exec(l)?.[1];
        if (node === undefined) return;
        online.add(node);
        onlineChanged();
      });
    });
    const { control, http } = await listening;
    for (const [i, name] of NODES.entries()) {
      const added = spawn(process.execPath, [bin('proxima-server'), 'nodes', 'add', name, '--json', '-c', serverFile], { cwd: repo });
      let printed = '';
      added.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
      await once(added, 'exit');
      const { token } = JSON.parse(printed) as { token: string };
      const clientFile = path.join(dir, `client-${name}.yaml`);
      const service = `{ name: ollama, kind: ollama, local: "127.0.0.1:${fakes[i]!.port}", maxConcurrent: 64 }`;
      fs.writeFileSync(
        clientFile,
        [`server: 127.0.0.1:${control.port}`, `name: ${name}`, `token: ${token}`, 'services:', `  - ${service}`, ''].join('\n'),
      );
      children.push(
        spawnOwned(process.execPath, [bin('proxima-client'), '-c', clientFile], { stdio: ['pipe', 'ignore', 'ignore'], cwd: repo }),
      );
    }
    while (online.size < NODES.length) await new Promise<void>((resolve) => (onlineChanged = resolve));

    const origin = `http://127.0.0.1:${http.port}`;
    const dispatcher = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 60_000 });
    const statuses = new Map<number, number>();
    let trippedAt: number | undefined;
    let sent = 0;
    let afterTrip = 0;
    const startedMs = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (afterTrip < REQUESTS) {
          // The breaker trips at its third failure in a row; every request after that is counted.
          const counted = trippedAt !== undefined;
          const { statusCode, body } = await request(`${origin}/v1/chat/completions`, {
            dispatcher,
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: chat(sent),
          });
          await body.text();
          sent++;
          if (counted) {
            afterTrip++;
            statuses.set(statusCode, (statuses.get(statusCode) ?? 0) + 1);
          }
          if (trippedAt === undefined && served(failing) >= 3) trippedAt = served(failing);
        }
      }),
    );
    const seconds = (performance.now() - startedMs) / 1000;
    await dispatcher.close();
    const retried = served(failing) - trippedAt!;
    const errors = [...statuses].filter(([status]) => status !== 200).reduce((n, [, count]) => n + count, 0);
    process.stdout.write(
      `one of three nodes failing every request, ${CONCURRENCY} users, ${afterTrip} requests after its breaker tripped (${sent} in all, ${seconds.toFixed(1)} s)\n`,
    );
    process.stdout.write(
      `  needed a retry after the trip: ${retried} (${((100 * retried) / afterTrip).toFixed(2)}%)   errors users saw after the trip: ${errors}   requests it got before the trip was seen: ${trippedAt}\n`,
    );
  } finally {
    for (const child of children.reverse()) {
      child.stdin?.end();
      child.kill('SIGTERM');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    }
    await Promise.all(fakes.map((f) => f.destroy()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === here) await failingNodeCell();
