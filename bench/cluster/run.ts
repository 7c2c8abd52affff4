/**
 * `npm run bench:cluster`: what a second instance costs and brings. Two real proxima-server
 * instances on one PostgreSQL (peer link between them), the node `bench` connected to instance 0.
 * Cells:
 * - the 1 KiB tunnel cell (wrk, 50 connections) through nginx in front of instance 0 alone, then in
 *   front of both (round robin: half the requests enter at instance 1 and cross to instance 0);
 *   req/s, p50/p99 and the CPU time of both instances and the client per request;
 * - the added latency of a crossing: one connection, sequential, straight to instance 0 (no
 *   crossing) and straight to instance 1 (every request crosses), p50/p99;
 * - a streamed API chat (16 tokens) sequentially at instance 0 and at instance 1: time to first
 *   byte and to the end, p50/p99, CPU per request;
 * - PostgreSQL rows written per second (inserted + updated + deleted, pg_stat_database) while the
 *   two instances and the node sit idle; then bench/cluster/presence-writes.ts (1,000 and 10,000
 *   simulated sessions, run as its own process) when it is there.
 * Prints Markdown (docs/scaling.md). Needs wrk, nginx and PostgreSQL (Debian packages).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { Agent, request } from 'undici';
import { startFakeOllama } from '../../test/fixtures/fakes/ollama/fake-ollama.js';
import { observeNote } from '../children.js';
import { freePort, startOrigin } from '../tunnel/origin.js';
import { cpuMs } from '../tunnel/proxima.js';
import { type WrkResult, wrk } from '../tunnel/wrk.js';
import { type BenchCluster, startBenchCluster, startBenchNginx } from './instances.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CHATS = Number(process.env.CHATS ?? 1000);
const IDLE_SECONDS = Number(process.env.IDLE_SECONDS ?? 20);
/** Longer than PostgreSQL's PGSTAT_IDLE_INTERVAL (10 s), after which an idle backend's counts are in. */
const STATS_SETTLE_MS = 11_000;
const CHAT = JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: true });

const pct = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const ms = (x: number): string => x.toFixed(2);
const log = (what: string, value: unknown): void => void process.stderr.write(`${what}: ${JSON.stringify(value)}\n`);

/** CPU ms of every Proxima process of the cluster (both instances and the client). */
const clusterCpu = (c: BenchCluster): number => c.instances.reduce((sum, i) => sum + cpuMs(i.pid), cpuMs(c.clientPid));

/** wrk on `url` with the node's Host; CPU µs per request of the cluster's processes over the run. */
async function cell(c: BenchCluster, url: string, connections: number): Promise<{ r: WrkResult; cpuUs: number }> {
  await wrk(url, { connections, seconds: 2, headers: { Host: c.host } }); // warm-up
  const before = clusterCpu(c);
  const r = await wrk(url, { connections, seconds: SECONDS, headers: { Host: c.host } });
  const cpuUs = ((clusterCpu(c) - before) * 1000) / Math.max(1, r.requests);
  log(url, { ...r, cpuUs });
  return { r, cpuUs };
}

/** CHATS streamed chats one after the other at `port`: first byte and end, ms each; CPU µs per chat. */
async function chats(c: BenchCluster, port: number): Promise<{ first: number[]; total: number[]; cpuUs: number }> {
  const dispatcher = new Agent({ connections: 1 });
  const headers = { host: 'api.example.com', 'content-type': 'application/json' };
  const one = async (): Promise<[number, number]> => {
    const started = performance.now();
    const { statusCode, body } = await request(`http://127.0.0.1:${port}/v1/chat/completions`, {
      dispatcher,
      method: 'POST',
      headers,
      body: CHAT,
    });
    let first: number | undefined;
    for await (const _ of body as AsyncIterable<Buffer>) first ??= performance.now() - started;
    if (statusCode !== 200) throw new Error(`chat at ${port}: status ${statusCode}`);
    return [first ?? 0, performance.now() - started];
  };
  for (let i = 0; i < 200; i++) await one(); // warm-up
  const before = clusterCpu(c);
  const first: number[] = [];
  const total: number[] = [];
  for (let i = 0; i < CHATS; i++) {
    const [f, t] = await one();
    first.push(f);
    total.push(t);
  }
  const cpuUs = ((clusterCpu(c) - before) * 1000) / CHATS;
  await dispatcher.close();
  return { first, total, cpuUs };
}

/**
 * Rows PostgreSQL wrote per second over `seconds` (inserted + updated + deleted): in the whole
 * database (PostgreSQL's own catalogs included) and in Proxima's own tables,
 * with the rows per table; and commits per second.
 */
async function idleWrites(url: string, seconds: number): Promise<{ rows: number; ours: number; tables: string; commits: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const read = async (): Promise<{ rows: number; commits: number; tables: Map<string, number> }> => {
    const r = await client.query<{ rows: string; commits: string }>(
      'SELECT tup_inserted + tup_updated + tup_deleted AS rows, xact_commit AS commits FROM pg_stat_database WHERE datname = current_database()',
    );
    const t = await client.query<{ relname: string; rows: string }>(
      "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del AS rows FROM pg_stat_user_tables WHERE relname LIKE 'proxima_%'",
    );
    const tables = new Map(t.rows.map((row) => [row.relname, Number(row.rows)]));
    return { rows: Number(r.rows[0]!.rows), commits: Number(r.rows[0]!.commits), tables };
  };
  // A backend that goes idle reports its counts to pg_stat_database up to 10 s later
  // (PGSTAT_IDLE_INTERVAL): without this wait, the last chats' ledger rows were counted as idle
  // writes (26 rows/s in the first quiet run).
  await delay(STATS_SETTLE_MS);
  const a = await read();
  await delay(seconds * 1000);
  await client.query('SELECT pg_stat_force_next_flush()').catch(() => undefined);
  const b = await read();
  await client.end();
  const written = [...b.tables].map(([name, rows]) => [name, rows - (a.tables.get(name) ?? 0)] as const).filter(([, n]) => n > 0);
  const ours = written.reduce((sum, [, n]) => sum + n, 0);
  const tables = written.map(([name, n]) => `${name} ${n}`).join(', ') || 'none';
  // Our own four reads are commits too.
  return { rows: (b.rows - a.rows) / seconds, ours: ours / seconds, tables, commits: (b.commits - a.commits - 4) / seconds };
}

/**
 * h3's simulated sessions: `node dist/bench/cluster/presence-writes.js` (its own PostgreSQL, 1,000 and
 * 10,000 sessions), when it is there; one JSON line per count, as it prints them.
 */
async function presenceWrites(): Promise<string> {
  const script = fileURLToPath(new URL('./presence-writes.js', import.meta.url));
  if (!fs.existsSync(script)) return 'not measured: bench/cluster/presence-writes.ts is not there';
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 600_000, maxBuffer: 1 << 20 });
    return `\n\n${stdout
      .trim()
      .split('\n')
      .map((line) => `    ${line}`)
      .join('\n')}`;
  } catch (err) {
    return `not measured: presence-writes.js failed (${(err as Error).message.split('\n')[0]})`;
  }
}

const origin = await startOrigin();
const fake = await startFakeOllama({ models: [{ name: 'llama3.2', answerTokens: 16 }] });
const cluster = await startBenchCluster(2, origin, fake.port);
try {
  const lines = ['| cell | one instance | two instances (half cross) | every request crosses |', '|---|---|---|---|'];
  const rps = (r: WrkResult): string => `${r.requestsPerSecond.toLocaleString('en')} req/s (${ms(r.p50Ms)} / ${ms(r.p99Ms)} ms)`;
  const nginxPort = await freePort();
  const one = await startBenchNginx(cluster.instances.slice(0, 1), nginxPort);
  const oneCell = await cell(cluster, `http://127.0.0.1:${nginxPort}/1k`, 50);
  await one.destroy();
  const bothPort = await freePort();
  const both = await startBenchNginx(cluster.instances, bothPort);
  const bothCell = await cell(cluster, `http://127.0.0.1:${bothPort}/1k`, 50);
  await both.destroy();
  lines.push(`| 1 KiB tunnel, 50 connections via nginx: req/s (p50 / p99) | ${rps(oneCell.r)} | ${rps(bothCell.r)} | |`);
  lines.push(`| the same: CPU of all Proxima processes per request | ${oneCell.cpuUs.toFixed(0)} µs | ${bothCell.cpuUs.toFixed(0)} µs | |`);
  const [a, b] = cluster.instances as [BenchCluster['instances'][number], BenchCluster['instances'][number]];
  const near = await cell(cluster, `http://127.0.0.1:${a.http}/1k`, 1);
  const far = await cell(cluster, `http://127.0.0.1:${b.http}/1k`, 1);
  lines.push(
    `| 1 KiB tunnel, 1 connection, straight to an instance: p50 / p99 | ${ms(near.r.p50Ms)} / ${ms(near.r.p99Ms)} ms | | ${ms(far.r.p50Ms)} / ${ms(far.r.p99Ms)} ms |`,
  );
  lines.push(`| the same: CPU per request | ${near.cpuUs.toFixed(0)} µs | | ${far.cpuUs.toFixed(0)} µs |`);
  const chatNear = await chats(cluster, a.http);
  const chatFar = await chats(cluster, b.http);
  log('chats', {
    near: { p50: pct(chatNear.total, 0.5), cpuUs: chatNear.cpuUs },
    far: { p50: pct(chatFar.total, 0.5), cpuUs: chatFar.cpuUs },
  });
  const q = (xs: number[]): string => `${ms(pct(xs, 0.5))} / ${ms(pct(xs, 0.99))} ms`;
  lines.push(`| streamed chat (16 tokens), sequential: first byte p50 / p99 | ${q(chatNear.first)} | | ${q(chatFar.first)} |`);
  lines.push(`| the same: to the end p50 / p99 | ${q(chatNear.total)} | | ${q(chatFar.total)} |`);
  lines.push(`| the same: CPU per chat | ${chatNear.cpuUs.toFixed(0)} µs | | ${chatFar.cpuUs.toFixed(0)} µs |`);
  const crossing = {
    tunnel: [far.r.p50Ms - near.r.p50Ms, far.r.p99Ms - near.r.p99Ms],
    chatFirst: [pct(chatFar.first, 0.5) - pct(chatNear.first, 0.5), pct(chatFar.first, 0.99) - pct(chatNear.first, 0.99)],
  };
  const idle = await idleWrites(cluster.url, IDLE_SECONDS);
  process.stdout.write(
    [
      ...lines,
      '',
      `Added by a crossing (p50 / p99): 1 KiB tunnel ${ms(crossing.tunnel[0]!)} / ${ms(crossing.tunnel[1]!)} ms; chat first byte ${ms(crossing.chatFirst[0]!)} / ${ms(crossing.chatFirst[1]!)} ms.`,
      `PostgreSQL at idle (2 instances, 1 node, ${IDLE_SECONDS} s): ${idle.rows.toFixed(2)} rows written/s in the database, ${idle.ours.toFixed(2)}/s in Proxima's tables (${idle.tables}), ${idle.commits.toFixed(2)} commits/s.`,
      `Simulated sessions: ${await presenceWrites()}`,
      '',
      `wrk -t1, ${SECONDS} s per cell after 2 s of warm-up; ${CHATS} chats per column after 200; ${observeNote()}; ${
        oneCell.r.errors + bothCell.r.errors + near.r.errors + far.r.errors
      } errors.`,
      '',
    ].join('\n'),
  );
} finally {
  await cluster.stop();
  await fake.destroy();
  await origin.stop();
}
