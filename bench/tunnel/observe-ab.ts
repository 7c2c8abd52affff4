/**
 * `npm run bench:observe`: what the metrics and the access log cost the 1 KiB tunnel cell, measured
 * as differences, not as two separate runs. Three super nodes run side by side on one origin, each
 * with its own node: metrics and access log off, metrics on, both on. wrk drives one at a time in
 * short windows, in a rotating order, round after round, so whatever slows the machine for a while
 * (another process, a warmer cache) falls on all three alike. Separate runs of `BENCH_CELLS=1k`
 * differed by up to 20% from one another on this machine, more than the cost being measured.
 *
 * BENCH_ROUNDS (default 10) rounds of BENCH_SECONDS (default 3) per super node.
 */
import type { Observe } from '../children.js';
import { startOrigin } from './origin.js';
import { cpuMs, startTunnel, type Tunnel } from './proxima.js';
import { wrk } from './wrk.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONNECTIONS = 50;

interface Arm {
  label: string;
  observe: Observe;
  tunnel?: Tunnel;
  requests: number;
  seconds: number;
  cpuMs: number;
  /** Requests per second of each round, in round order. */
  rounds: number[];
}

const arms: Arm[] = [
  { label: 'metrics off, access log off', observe: { metrics: false, accessLog: false } },
  { label: 'metrics on, access log off', observe: { metrics: true, accessLog: false } },
  { label: 'metrics on, access log on', observe: { metrics: true, accessLog: true } },
].map((a) => ({ ...a, requests: 0, seconds: 0, cpuMs: 0, rounds: [] }));

const origin = await startOrigin();
try {
  for (const arm of arms) arm.tunnel = await startTunnel(origin.port, origin.ssePort, arm.observe);
  const url = (t: Tunnel): string => `http://127.0.0.1:${t.httpPort}/1k`;
  for (const arm of arms) await wrk(url(arm.tunnel!), { connections: CONNECTIONS, seconds: 2, headers: { Host: arm.tunnel!.host } });
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate who goes first, and reverse every other round, so no arm always follows the same one.
    const order = arms.map((_, i) => arms[(i + round) % arms.length]!);
    if (round % 2 === 1) order.reverse();
    for (const arm of order) {
      const t = arm.tunnel!;
      const before = cpuMs(t.serverPid);
      const r = await wrk(url(t), { connections: CONNECTIONS, seconds: SECONDS, headers: { Host: t.host } });
      if (r.errors > 0) throw new Error(`${arm.label}: ${r.errors} errors`);
      arm.cpuMs += cpuMs(t.serverPid) - before;
      arm.requests += r.requests;
      arm.seconds += SECONDS;
      arm.rounds.push(r.requestsPerSecond);
    }
    process.stderr.write(`round ${round + 1}: ${arms.map((a) => `${a.label} ${a.rounds.at(-1)}`).join(' | ')}\n`);
  }
  const base = arms[0]!;
  const rate = (a: Arm): number => a.requests / a.seconds;
  const cpu = (a: Arm): number => (a.cpuMs * 1000) / a.requests;
  /** The median over rounds of this arm's req/s relative to the base's in the same round. */
  const medianRatio = (a: Arm): number => {
    const ratios = a.rounds.map((r, i) => r / base.rounds[i]!).sort((x, y) => x - y);
    const mid = ratios.length >> 1;
    return ratios.length % 2 === 1 ? ratios[mid]! : (ratios[mid - 1]! + ratios[mid]!) / 2;
  };
  const pct = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
  const lines = [
    '| 1 KiB responses, 50 connections | req/s (all rounds) | vs off | median of rounds vs off | proxima-server CPU µs/request |',
    '|---|---|---|---|---|',
  ];
  for (const a of arms) {
    const vs = a === base ? '' : pct(rate(a) / rate(base) - 1);
    const med = a === base ? '' : pct(medianRatio(a) - 1);
    lines.push(`| ${a.label} | ${Math.round(rate(a)).toLocaleString('en')} | ${vs} | ${med} | ${cpu(a).toFixed(1)} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n\n${ROUNDS} rounds of ${SECONDS} s per super node, in rotating order; wrk -t1.\n`);
} finally {
  for (const arm of arms) await arm.tunnel?.stop();
  await origin.stop();
}
