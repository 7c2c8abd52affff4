/**
 * What the super node adds to an API request, and what it costs: the real programs, each in its own
 * process (a fake Ollama, `proxima-client` in front of it, `proxima-server`), and this process as
 * the user (bench/api-load.ts). Every cell is measured against the fake Ollama directly in the same
 * run, after a warm-up, and ends in a markdown table with the targets of issue 21:
 * 1. One streamed chat at a time (16 tokens), WARMUP + REQUESTS rounds, each straight to the fake,
 *    through the node's hostname (the tunnel only) and through the API (interleaved, so all see the
 *    same noise): time to the first byte and to the first *content* chunk (the role-only chunk before
 *    it does not count), and from the last content token to the end (the tail the API holds until the
 *    answer's usage record is durable), with one fdatasync of the benchmark's own per round. In one
 *    run the p99 through the super node fell for the first 3,000 rounds (5.4, 4.1, 1.9, then
 *    1.7–1.8 ms per block of 1,000) before it held.
 * 2. STREAMS (20) streamed chats at once for BENCH_SECONDS / 2 each way: the first content chunk's
 *    p50 and p99, and the CPU of the two Proxima processes per streamed chat.
 * 3. Non-streamed chats from CONCURRENCY (50) connections for BENCH_SECONDS each way (direct, the
 *    node's hostname, the API), after 2 s: requests per second, and the CPU µs per chat of
 *    proxima-server and proxima-client together (utime + stime from /proc; the fake Ollama and the
 *    load generator are not counted). The hostname's row is the tunnel alone carrying the same
 *    bytes: the floor under what the API's metering, routing and ledger can cost.
 * 4. 200-token and 16-token streams (tokens at once, no interval), 4 at a time for BENCH_SECONDS / 2
 *    each, in TOKEN_PHASES alternating phases of each: the CPU of the two processes per token, as
 *    the whole stream's CPU / 200 and as the slope against 16-token streams (what one more token costs).
 * Then the cell of bench/failing-node.ts: one of three nodes failing every request.
 * Run: `npm run bench:api`; WARMUP=2000 and REQUESTS=3000 rounds, BENCH_SECONDS=10 by default.
 */
import type { ChildProcess } from 'node:child_process';
import { open } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { startFakeOllama } from '../test/fixtures/fakes/ollama/fake-ollama.js';
import { loop, percentile, streamBody, streamedChat, wholeBody, wholeChat, withCpu } from './api-load.js';
import { observeLines, observeNote, ownedTempDir, startBenchPair, stopChildren } from './children.js';
import { failingNodeCell } from './failing-node.js';

const REQUESTS = Number(process.env.REQUESTS ?? 3000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 50);
const STREAMS = Number(process.env.STREAMS ?? 20);
const WARMUP = Number(process.env.WARMUP ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
/** The per-token cell runs each length in this many phases, alternating long and short (ABBA). */
const TOKEN_PHASES = 4;
const WARMUP_SECONDS = 2;
const LONG_TOKENS = 200;
const SHORT_TOKENS = 16;
const here = fileURLToPath(import.meta.url);
const repo = path.resolve(path.dirname(here), '../..');
const CHAT = streamBody('llama3.2');
const WHOLE = wholeBody('llama3.2');
const LONG = streamBody('bench-200');
const JSON_HEADERS = { 'content-type': 'application/json' };
/** Flags for node before proxima-server and proxima-client (`--cpu-prof --cpu-prof-dir=/tmp/p` to profile them). */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
/** Only these cells (`first`, `streams`, `whole`, `tokens`, `failing`, comma-separated); all by default. */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'first,streams,whole,tokens,failing').split(','));
/** Only this way of the `whole` cell (`direct`, `tunnelled`, `through`): a profile of one way alone. */
const WAY = process.env.BENCH_WAY;

/** Child mode: a fake Ollama whose port goes to stdout; it stops when stdin closes. */
async function fakeMode(): Promise<void> {
  const fake = await startFakeOllama({
    models: [
      { name: 'llama3.2', answerTokens: SHORT_TOKENS },
      { name: 'bench-200', answerTokens: LONG_TOKENS },
    ],
  });
  process.stdout.write(`${fake.port}\n`);
  process.stdin.resume();
  process.stdin.once('end', () => void fake.destroy());
}

const sorted = (list: number[]): number[] => list.sort((a, b) => a - b);
const fmt = (ms: number): string => `${ms.toFixed(3)} ms`;
const whole = (n: number): string => Math.round(n).toLocaleString('en');

async function main(): Promise<void> {
  const dir = ownedTempDir('proxima-bench-api-');
  const children: ChildProcess[] = [];
  try {
    const { server, client, fakePort, httpPort } = await startBenchPair(
      {
        repo,
        dir,
        fakeScript: here,
        serverLines: ['api: { open: true }', ...observeLines()],
        // public: the tunnel-only row reaches the same Ollama on the node's hostname (network, the default, refuses it)
        serviceExtra: ', expose: public',
        nodeArgs: NODE_ARGS,
      },
      children,
    );

    const superNode = `http://127.0.0.1:${httpPort}`;
    const ollama = `http://127.0.0.1:${fakePort}`;
    const dispatcher = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 60_000 });
    for (;;) {
      const { body } = await request(`${superNode}/v1/models`, { dispatcher });
      const text = await body.text();
      if (text.includes('llama3.2') && text.includes('bench-200')) break;
      await new Promise((resolve) => setTimeout(resolve, 50)); // the node is still logging in
    }
    const pids = [server.pid!, client.pid!];

    // 1. One at a time. The node's own hostname: the data plane's tunnel to the same Ollama, without
    // the API's work (on connections of its own: a public connection serves one tenant).
    const tunnel = { ...JSON_HEADERS, host: 'bench.proxima.bench' };
    const tenant = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 60_000 });
    const ways = ['direct', 'tunnelled', 'through'] as const;
    const first = { direct: [] as number[], tunnelled: [] as number[], through: [] as number[] };
    const content = { direct: [] as number[], tunnelled: [] as number[], through: [] as number[] };
    const tails = { direct: [] as number[], tunnelled: [] as number[], through: [] as number[] };
    // What the disk of the server's ledger takes for one record on its own, in the same rounds.
    const disk = await open(path.join(dir, 'fdatasync-probe'), 'a');
    const line = Buffer.from(`${'x'.repeat(529)}\n`);
    const syncs: number[] = [];
    for (let i = 0; ONLY.has('first') && i < WARMUP + REQUESTS; i++) {
      const got = {
        direct: await streamedChat(dispatcher, ollama, CHAT),
        tunnelled: await streamedChat(tenant, superNode, CHAT, tunnel),
        through: await streamedChat(dispatcher, superNode, CHAT),
      };
      if (i >= WARMUP)
        for (const way of ways) {
          first[way].push(got[way].firstMs);
          content[way].push(got[way].contentMs);
          tails[way].push(got[way].tailMs);
        }
      const synced = performance.now();
      await disk.write(line);
      await disk.datasync();
      if (i >= WARMUP) syncs.push(performance.now() - synced);
    }
    await disk.close();
    for (const list of [syncs, ...Object.values(first), ...Object.values(content), ...Object.values(tails)]) sorted(list);
    const p = percentile;
    const row = (name: string, list: number[]): string => `${name.padEnd(38)} p50 ${fmt(p(list, 50))}   p99 ${fmt(p(list, 99))}\n`;
    const addedMs = (a: number[], b: number[], q: number): number => p(a, q) - p(b, q);
    const addedRow = (name: string, a: number[], b: number[]): string =>
      `${name.padEnd(38)} p50 ${fmt(addedMs(a, b, 50))}   p99 ${fmt(addedMs(a, b, 99))}\n`;
    const threeRows = (lists: Record<(typeof ways)[number], number[]>): string =>
      row('straight to Ollama', lists.direct) +
      row("the node's hostname (tunnel only)", lists.tunnelled) +
      row('the API (routed by model)', lists.through) +
      addedRow("added by the super node's API", lists.through, lists.direct);
    const out = (text: string): boolean => process.stdout.write(text);
    out(
      `one streamed chat at a time, ${REQUESTS} requests each way after ${WARMUP} (Node ${process.version}, ${os.cpus().length} cores; ${observeNote()})\n`,
    );
    out(`first byte\n${threeRows(first)}first content chunk\n${threeRows(content)}`);
    // The API holds an answer's tail until its usage record is durable (docs/architecture.md).
    out(`last content token to the end of the answer\n${threeRows(tails)}`);
    out(row('the disk: 530 B appended + fdatasync', syncs));

    // 2. STREAMS streamed chats at once: the first content chunk, and the CPU per streamed chat.
    const concurrent: Record<string, number[]> = { direct: [], through: [] };
    let streamCpu = 0;
    for (const [way, origin] of [
      ['direct', ollama],
      ['through', superNode],
    ] as const) {
      if (!ONLY.has('streams')) break;
      const list = concurrent[way]!;
      const chat = async (keep: boolean): Promise<void> => {
        const times = await streamedChat(dispatcher, origin, CHAT);
        if (keep) list.push(times.contentMs);
      };
      await loop(STREAMS, 1, () => chat(false));
      const measured = await withCpu(pids, () => loop(STREAMS, SECONDS / 2, () => chat(true)));
      if (way === 'through') streamCpu = measured.cpuUs / measured.value.rounds;
    }
    sorted(concurrent.direct!);
    sorted(concurrent.through!);
    out(`first content chunk, ${STREAMS} streams at once for ${SECONDS / 2} s each way\n`);
    out(row('straight to Ollama', concurrent.direct!) + row('the API', concurrent.through!));
    out(addedRow("added by the super node's API", concurrent.through!, concurrent.direct!));

    // 3. Non-streamed chats from CONCURRENCY connections.
    // The tunnel only (the node's hostname) is the floor of what the API can cost: same bytes, no metering.
    const perSecond: Record<string, number> = {};
    const wholeCpu: Record<string, number> = {};
    for (const [way, agent, origin, headers] of [
      ['direct', dispatcher, ollama, JSON_HEADERS],
      ['tunnelled', tenant, superNode, tunnel],
      ['through', dispatcher, superNode, JSON_HEADERS],
    ] as const) {
      if (!ONLY.has('whole')) break;
      if (WAY !== undefined && WAY !== way) continue;
      const once = (): Promise<void> => wholeChat(agent, origin, WHOLE, headers);
      await loop(CONCURRENCY, WARMUP_SECONDS, once);
      const measured = await withCpu(pids, () => loop(CONCURRENCY, SECONDS, once));
      perSecond[way] = (measured.value.rounds * 1000) / measured.value.ms;
      wholeCpu[way] = measured.cpuUs / measured.value.rounds;
      const [server, client] = measured.each.map(
        (e) => `${whole(e.user / measured.value.rounds)} / ${whole(e.system / measured.value.rounds)}`,
      );
      out(
        `non-streamed chat, ${CONCURRENCY} connections, ${way}: ${whole(perSecond[way]!)} requests/s, ${whole(wholeCpu[way]!)} µs of CPU each (user / system µs: super node ${server}, node ${client})\n`,
      );
    }

    // 4. CPU per token: 200-token and 16-token streams through the API, 4 at a time, in TOKEN_PHASES
    // phases of each, alternating (the order flipped each round): the machine's drift falls on both.
    const perStream: Record<string, number> = {};
    const kinds = [
      { name: 'long', chat: LONG, us: 0, rounds: 0, user: [0, 0], system: [0, 0] },
      { name: 'short', chat: CHAT, us: 0, rounds: 0, user: [0, 0], system: [0, 0] },
    ];
    for (let phase = 0; ONLY.has('tokens') && phase < 2 * TOKEN_PHASES; phase++) {
      const kind = kinds[(phase + (phase >> 1)) % 2]!; // long, short, short, long, long, short, …
      const once = async (): Promise<void> => void (await streamedChat(dispatcher, superNode, kind.chat));
      if (phase < 2) await loop(4, 1, once);
      const measured = await withCpu(pids, () => loop(4, SECONDS / 2 / TOKEN_PHASES, once));
      kind.us += measured.cpuUs;
      kind.rounds += measured.value.rounds;
      measured.each.forEach((e, i) => {
        kind.user[i]! += e.user;
        kind.system[i]! += e.system;
      });
    }
    for (const kind of kinds) {
      if (kind.rounds === 0) continue;
      perStream[kind.name] = kind.us / kind.rounds;
      const [server, client] = [0, 1].map((i) => `${whole(kind.user[i]! / kind.rounds)} / ${whole(kind.system[i]! / kind.rounds)}`);
      out(`${kind.name} streams: ${kind.rounds} in ${TOKEN_PHASES} phases (user / system µs each: super node ${server}, node ${client})\n`);
    }
    const perToken = perStream.long! / LONG_TOKENS;
    const slope = (perStream.long! - perStream.short!) / (LONG_TOKENS - SHORT_TOKENS);
    out(
      `CPU of the two processes per streamed chat: ${whole(perStream.long!)} µs for ${LONG_TOKENS} tokens, ${whole(perStream.short!)} µs for ${SHORT_TOKENS}\n`,
    );

    const ms = (n: number): string => `${n.toFixed(2)} ms`;
    const plus = (n: number): string => `+${n.toFixed(2)} ms`;
    out(
      [
        '',
        '| measure | direct | through Proxima | added / cost | target |',
        '|---|---|---|---|---|',
        `| first content chunk, one at a time, p50 | ${ms(p(content.direct, 50))} | ${ms(p(content.through, 50))} | ${plus(addedMs(content.through, content.direct, 50))} | ≤ +1 ms |`,
        `| first content chunk, one at a time, p99 | ${ms(p(content.direct, 99))} | ${ms(p(content.through, 99))} | ${plus(addedMs(content.through, content.direct, 99))} | |`,
        `| first content chunk, ${STREAMS} at once, p50 | ${ms(p(concurrent.direct!, 50))} | ${ms(p(concurrent.through!, 50))} | ${plus(addedMs(concurrent.through!, concurrent.direct!, 50))} | ≤ +3 ms |`,
        `| first content chunk, ${STREAMS} at once, p99 | ${ms(p(concurrent.direct!, 99))} | ${ms(p(concurrent.through!, 99))} | ${plus(addedMs(concurrent.through!, concurrent.direct!, 99))} | ≤ +10 ms |`,
        `| non-streamed chats/s, ${CONCURRENCY} connections | ${whole(perSecond.direct!)} | ${whole(perSecond.through!)} | ${(perSecond.through! / perSecond.direct!).toFixed(3)} of direct | ≥ 0.25 |`,
        `| CPU per non-streamed chat, server + client (tunnel only: ${whole(wholeCpu.tunnelled!)} µs) | | ${whole(wholeCpu.through!)} µs | | ≤ 120 µs |`,
        `| CPU per streamed chat (${SHORT_TOKENS} tokens, ${STREAMS} at once) | | ${whole(streamCpu)} µs | | |`,
        `| CPU per token, ${LONG_TOKENS}-token stream (whole stream / ${LONG_TOKENS}; slope vs ${SHORT_TOKENS}) | | ${perToken.toFixed(2)} µs; ${slope.toFixed(2)} µs | | ≤ 2 µs |`,
        '',
      ].join('\n'),
    );
    await Promise.all([dispatcher.close(), tenant.close()]);
  } finally {
    await stopChildren(children, dir);
  }
}

if (process.argv[2] === 'fake') await fakeMode();
else {
  await main();
  if (ONLY.has('failing')) await failingNodeCell(); // bench/failing-node.ts: the router when one of three nodes fails every request
}
