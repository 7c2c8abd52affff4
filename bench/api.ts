/**
 * What the super node adds to an API request: the real programs, each in its own process (a fake
 * Ollama, `proxima-client` in front of it, `proxima-server`), and this process as the user. Measures
 * the time to the first byte of a streamed chat, sequentially, through the super node and straight to
 * the fake Ollama (interleaved, so both see the same noise); on the same requests, the time from the
 * last content token to the end of the answer (the tail the API holds until the answer's usage
 * record is durable); and non-streamed requests per second with CONCURRENCY users. Each part is measured after a warm-up: in one run, the p99 of each block of
 * 1,000 rounds through the super node went 5.4, 4.1, 1.9, then 1.7–1.8 ms (straight to the fake
 * Ollama 3.2, 1.5, 1.1, then 0.4–0.8), falling for the first 3,000 rounds before it held.
 * Run: `npm run bench:api` (WARMUP=3000 and REQUESTS=5000 rounds, then CONCURRENCY=8 users for
 * BENCH_SECONDS=10 after 2 s of warm-up, by default; BENCH_SECONDS is the tunnel benchmark's too).
 * Then the cell of bench/failing-node.ts: one of three nodes failing every request.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { startFakeOllama } from '../test/fixtures/fakes/ollama/fake-ollama.js';
import { observeLines, observeNote, ownedTempDir, startLine } from './children.js';
import { failingNodeCell } from './failing-node.js';

const REQUESTS = Number(process.env.REQUESTS ?? 5000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8);
const WARMUP = Number(process.env.WARMUP ?? 3000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = 2;
const here = fileURLToPath(import.meta.url);
const repo = path.resolve(path.dirname(here), '../..');
const CHAT = JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true });
const WHOLE = JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }] });
const JSON_HEADERS = { 'content-type': 'application/json' };

/** Child mode: a fake Ollama whose port goes to stdout; it stops when stdin closes. */
async function fakeMode(): Promise<void> {
  const fake = await startFakeOllama({ models: [{ name: 'llama3.2', answerTokens: 16 }] });
  process.stdout.write(`${fake.port}\n`);
  process.stdin.resume();
  process.stdin.once('end', () => void fake.destroy());
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A content token's SSE event: a delta with non-empty content. */
const CONTENT_TOKEN = /"content":"[^"]/;

/**
 * One streamed chat, read to the end: ms from sending it to its first body byte, and ms from the
 * arrival of the last chunk with a content token to the end of the body (the answer's tail: its
 * finish chunk, `[DONE]` and the chunked terminator).
 */
async function streamedChat(
  dispatcher: Agent,
  origin: string,
  headers: Record<string, string>,
): Promise<{ firstMs: number; tailMs: number }> {
  const started = performance.now();
  const { statusCode, body } = await request(`${origin}/v1/chat/completions`, { dispatcher, method: 'POST', headers, body: CHAT });
  let first: number | undefined;
  let lastToken: number | undefined;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    const now = performance.now();
    first ??= now - started;
    if (CONTENT_TOKEN.test(chunk.toString('latin1'))) lastToken = now;
  }
  const ended = performance.now();
  if (statusCode !== 200 || first === undefined || lastToken === undefined) throw new Error(`status ${statusCode}`);
  return { firstMs: first, tailMs: ended - lastToken };
}

/** Non-streamed chats from CONCURRENCY users for `seconds`; answers per second. */
async function wholeChats(dispatcher: Agent, origin: string, seconds: number): Promise<number> {
  const started = performance.now();
  const until = started + seconds * 1000;
  let answered = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        const { statusCode, body } = await request(`${origin}/v1/chat/completions`, {
          dispatcher,
          method: 'POST',
          headers: JSON_HEADERS,
          body: WHOLE,
        });
        await body.text();
        if (statusCode !== 200) throw new Error(`status ${statusCode}`);
        answered++;
      }
    }),
  );
  return (answered * 1000) / (performance.now() - started);
}

async function main(): Promise<void> {
  const dir = ownedTempDir('proxima-bench-api-');
  const children: ChildProcess[] = [];
  try {
    const fake = startLine(repo, [here, 'fake'], 'stdout', (l) => /^\d+$/.test(l));
    children.push(fake.child);
    const fakePort = Number(await fake.line);
    const serverFile = path.join(dir, 'server.yaml');
    fs.writeFileSync(
      serverFile,
      [
        'domain: proxima.bench',
        'dataDir: ./data',
        'control: { listen: "127.0.0.1:0" }',
        'http: { listen: "127.0.0.1:0" }',
        'api: { open: true }',
        ...observeLines(),
        '',
      ].join('\n'),
    );
    const bin = (name: string): string => path.join(repo, 'bin', `${name}.js`);
    const added = spawn(process.execPath, [bin('proxima-server'), 'nodes', 'add', 'bench', '--json', '-c', serverFile], { cwd: repo });
    let printed = '';
    added.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    await once(added, 'exit');
    const { token } = JSON.parse(printed) as { token: string };
    const server = startLine(repo, [bin('proxima-server'), '-c', serverFile], 'stderr', (l) => l.includes('"msg":"listening"'));
    children.push(server.child);
    const { control, http } = JSON.parse(await server.line) as { control: { port: number }; http: { port: number } };
    const clientFile = path.join(dir, 'client.yaml');
    fs.writeFileSync(
      clientFile,
      [
        `server: 127.0.0.1:${control.port}`,
        'name: bench',
        `token: ${token}`,
        'services:',
        // public: the tunnel-only row reaches the same Ollama on the node's hostname (network, the default, refuses it)
        `  - { name: ollama, kind: ollama, local: "127.0.0.1:${fakePort}", maxConcurrent: 64, expose: public }`,
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
    const client = startLine(repo, [bin('proxima-client'), '-c', clientFile], 'stderr', () => false);
    children.push(client.child);

    const superNode = `http://127.0.0.1:${http.port}`;
    const ollama = `http://127.0.0.1:${fakePort}`;
    const dispatcher = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 60_000 });
    for (;;) {
      const { body } = await request(`${superNode}/v1/models`, { dispatcher });
      if ((await body.text()).includes('llama3.2')) break;
      await new Promise((resolve) => setTimeout(resolve, 50)); // the node is still logging in
    }

    // The node's own hostname: the data plane's tunnel to the same Ollama, without the API's work
    // (on connections of its own: a public connection serves one tenant).
    const tunnel = { ...JSON_HEADERS, host: 'bench.proxima.bench' };
    const tenant = new Agent({ keepAliveTimeout: 60_000 });
    const direct: number[] = [];
    const tunnelled: number[] = [];
    const through: number[] = [];
    const tails = { direct: [] as number[], tunnelled: [] as number[], through: [] as number[] };
    // What the disk of the server's ledger takes for one record on its own, in the same rounds.
    const disk = await open(path.join(dir, 'fdatasync-probe'), 'a');
    const line = Buffer.from(`${'x'.repeat(529)}\n`);
    const syncs: number[] = [];
    for (let i = 0; i < WARMUP + REQUESTS; i++) {
      const d = await streamedChat(dispatcher, ollama, JSON_HEADERS);
      const n = await streamedChat(tenant, superNode, tunnel);
      const s = await streamedChat(dispatcher, superNode, JSON_HEADERS);
      if (i >= WARMUP) {
        direct.push(d.firstMs);
        tunnelled.push(n.firstMs);
        through.push(s.firstMs);
        tails.direct.push(d.tailMs);
        tails.tunnelled.push(n.tailMs);
        tails.through.push(s.tailMs);
      }
      const synced = performance.now();
      await disk.write(line);
      await disk.datasync();
      if (i >= WARMUP) syncs.push(performance.now() - synced);
    }
    await disk.close();
    for (const list of [direct, tunnelled, through, syncs, ...Object.values(tails)]) list.sort((a, b) => a - b);
    const ms = (list: number[], p: number): string => `${percentile(list, p).toFixed(3)} ms`;
    const row = (name: string, list: number[]): string => `${name.padEnd(38)} p50 ${ms(list, 50)}   p99 ${ms(list, 99)}\n`;
    const addedMs = (a: number[], b: number[], p: number): string => `${(percentile(a, p) - percentile(b, p)).toFixed(3)} ms`;
    const addedRow = (name: string, a: number[], b: number[]): string =>
      `${name.padEnd(38)} p50 ${addedMs(a, b, 50)}   p99 ${addedMs(a, b, 99)}\n`;
    process.stdout.write(
      `first byte of a streamed chat, ${REQUESTS} sequential requests each way after ${WARMUP} (Node ${process.version}, ${os.cpus().length} cores; ${observeNote()})\n`,
    );
    process.stdout.write(
      row('straight to Ollama', direct) + row("the node's hostname (tunnel only)", tunnelled) + row('the API (routed by model)', through),
    );
    process.stdout.write(addedRow("added by the super node's API", through, direct));
    // The API holds an answer's tail until its usage record is durable (docs/architecture.md).
    process.stdout.write('last content token to the end of the answer, the same requests\n');
    process.stdout.write(
      row('straight to Ollama', tails.direct) +
        row("the node's hostname (tunnel only)", tails.tunnelled) +
        row('the API (routed by model)', tails.through),
    );
    process.stdout.write(addedRow("added by the super node's API", tails.through, tails.direct));
    process.stdout.write(row('the disk: 530 B appended + fdatasync', syncs));

    for (const [name, origin] of [
      ['straight to Ollama', ollama],
      ['through the super node', superNode],
    ] as const) {
      await wholeChats(dispatcher, origin, WARMUP_SECONDS);
      const perSecond = await wholeChats(dispatcher, origin, SECONDS);
      process.stdout.write(`non-streamed chat, ${CONCURRENCY} users, ${name}: ${Math.round(perSecond).toLocaleString('en')} requests/s\n`);
    }
    await Promise.all([dispatcher.close(), tenant.close()]);
  } finally {
    for (const child of children.reverse()) {
      child.stdin?.end();
      child.kill('SIGTERM');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'fake') await fakeMode();
else {
  await main();
  await failingNodeCell(); // bench/failing-node.ts: the router when one of three nodes fails every request
}
