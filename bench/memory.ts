/**
 * The memory of the two programs, as a home node and a super node see it: real `proxima-server` and
 * `proxima-client` processes (a fake Ollama in a third process, this process as the user), their
 * resident memory (VmRSS of /proc/PID/status) idle after start, after a load of non-streamed and
 * streamed chats, and the rise one 15 MiB chat and eight at once cause. A rise is the peak (VmHWM,
 * reset through /proc/PID/clear_refs before the cell) minus the RSS just before it; `settled` is the
 * RSS 2 s after the cell. Configs are the typical ones: the server's admin listener off and log
 * level warn; the node shares one Ollama, status page off.
 * Run: `npm run bench:memory` (LOAD_SECONDS=10 of each load, CONCURRENCY=8 users; Linux only).
 * PROXIMA_RUNTIME_TUNING=off runs both programs without the runtime tricks.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { startFakeOllama } from '../test/fixtures/fakes/ollama/fake-ollama.js';
import { ownedTempDir, startBenchPair, stopChildren } from './children.js';

const LOAD_SECONDS = Number(process.env.LOAD_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8);
const BIG_BYTES = 15 * 1024 * 1024;
/** Node flags for both programs (BENCH_NODE_ARGS, space-separated), as in bench:api. */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const here = fileURLToPath(import.meta.url);
const repo = path.resolve(path.dirname(here), '../..');
const HEADERS = { 'content-type': 'application/json' };
const chat = (stream: boolean, content = 'hi'): string =>
  JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content }], stream });
const MiB = 1024 * 1024;

/** Child mode: a fake Ollama that forgets each request once answered; its port goes to stdout. */
async function fakeMode(): Promise<void> {
  const fake = await startFakeOllama({ models: [{ name: 'llama3.2', answerTokens: 16 }], maxBodyBytes: 64 * MiB });
  fake.on('end', () => {
    fake.requests.length = 0; // the fake keeps every request's parsed body otherwise
  });
  process.stdout.write(`${fake.port}\n`);
  process.stdin.resume();
  process.stdin.once('end', () => void fake.destroy());
}

/** VmRSS and VmHWM of a process, in bytes. */
function memory(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)![1]) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** Resets a process's peak RSS (VmHWM) to its current RSS. */
const resetPeak = (pid: number): void => fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');

const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function send(dispatcher: Agent, origin: string, body: string): Promise<number> {
  const { statusCode, body: answer } = await request(`${origin}/v1/chat/completions`, {
    dispatcher,
    method: 'POST',
    headers: HEADERS,
    body,
  });
  const text = await answer.text();
  if (statusCode !== 200) throw new Error(`status ${statusCode}: ${text.slice(0, 200)}`);
  return text.length;
}

/** CONCURRENCY users sending `body` for `seconds`; the number of answers. */
async function load(dispatcher: Agent, origin: string, body: string, seconds: number): Promise<number> {
  const until = performance.now() + seconds * 1000;
  let answered = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        await send(dispatcher, origin, body);
        answered++;
      }
    }),
  );
  return answered;
}

async function main(): Promise<void> {
  const dir = ownedTempDir('proxima-bench-memory-');
  const children: ChildProcess[] = [];
  try {
    const { server, client, httpPort } = await startBenchPair(
      {
        repo,
        dir,
        fakeScript: here,
        nodeArgs: NODE_ARGS,
        serverLines: ['admin: { listen: false }', 'api: { open: true }', 'log: { level: info, access: false }'],
      },
      children,
    );
    const origin = `http://127.0.0.1:${httpPort}`;
    const dispatcher = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 60_000, bodyTimeout: 120_000, headersTimeout: 120_000 });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { body } = await request(`${origin}/v1/models`, { dispatcher });
      if ((await body.text()).includes('llama3.2')) break;
      if (Date.now() > deadline) throw new Error('the node did not come online in 20 s');
      await settle(50); // the node is still logging in
    }
    const pids = { server: server.pid!, client: client.pid! };
    const rows: string[] = [];
    const both = (): { server: number; client: number } => ({ server: memory(pids.server).rss, client: memory(pids.client).rss });
    const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;
    const row = (name: string, v: { server: number; client: number }): void => {
      rows.push(`${name.padEnd(44)} server ${mib(v.server).padStart(10)}   client ${mib(v.client).padStart(10)}`);
    };
    await settle(2000); // idle: after start, once the first advertisement is in
    row('idle after start', both());

    const whole = await load(dispatcher, origin, chat(false), LOAD_SECONDS);
    row(`after ${LOAD_SECONDS} s of non-streamed chats (${whole})`, both());
    const streamed = await load(dispatcher, origin, chat(true), LOAD_SECONDS);
    row(`after ${LOAD_SECONDS} s of streamed chats (${streamed})`, both());
    await settle(2000);
    row('2 s later', both());

    const big = chat(false, 'x'.repeat(BIG_BYTES));
    for (const count of [1, 8]) {
      const before = both();
      resetPeak(pids.server);
      resetPeak(pids.client);
      await Promise.all(Array.from({ length: count }, () => send(dispatcher, origin, big)));
      const peak = { server: memory(pids.server).peak - before.server, client: memory(pids.client).peak - before.client };
      row(`rise, ${count} x 15 MiB chat${count > 1 ? 's at once' : ''} (peak - before)`, peak);
      await settle(2000);
      row('  settled 2 s later (RSS)', both());
    }
    await dispatcher.close();
    const tuning = process.env.PROXIMA_RUNTIME_TUNING === 'off' ? 'off' : 'auto';
    process.stdout.write(
      `memory of the programs (Node ${process.version}, runtime tuning ${tuning}, ${CONCURRENCY} users)\n${rows.join('\n')}\n`,
    );
  } finally {
    await stopChildren(children, dir);
  }
}

if (process.argv[2] === 'fake') await fakeMode();
else await main();
