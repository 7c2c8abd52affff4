/**
 * `npm run bench` (tunnel part): the same origin reached directly and through Proxima (real
 * proxima-server and proxima-client processes), measured with wrk in one run. Prints a Markdown
 * table (docs/benchmarks.md). Needs wrk and nginx (Debian packages).
 */
import { observeNote } from '../children.js';
import { startOrigin } from './origin.js';
import { cpuMs, rssMiB, startTunnel } from './proxima.js';
import { sseFirstEvent, warmFirstEvents } from './sse-ttfb.js';
import { type WrkResult, wrk } from './wrk.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

const origin = await startOrigin();
const tunnel = await startTunnel(origin.port, origin.ssePort);
const direct = `http://127.0.0.1:${origin.port}`;
const proxied = `http://127.0.0.1:${tunnel.httpPort}`;
const via = { Host: tunnel.host };
const viaSse = { Host: `sse--${tunnel.host}` };

try {
  const rows: [string, WrkResult | string, WrkResult | string, (r: WrkResult) => string][] = [];
  /** proxima-server's CPU time over the last cell through Proxima, per request: steadier than req/s on a busy machine. */
  let serverCpuUsPerRequest = 0;
  const log = (what: string, r: WrkResult): void => void process.stderr.write(`${what}: ${JSON.stringify(r)}\n`);
  const measure = async (label: string, path: string, connections: number, fmt: (r: WrkResult) => string): Promise<void> => {
    await wrk(`${proxied}${path}`, { connections, seconds: 2, headers: via }); // warm-up
    const d = await wrk(`${direct}${path}`, { connections, seconds: SECONDS });
    log(`direct ${label}`, d);
    const cpuBefore = cpuMs(tunnel.serverPid);
    const p = await wrk(`${proxied}${path}`, { connections, seconds: SECONDS, headers: via });
    serverCpuUsPerRequest = ((cpuMs(tunnel.serverPid) - cpuBefore) * 1000) / Math.max(1, p.requests);
    log(`proxima ${label}`, p);
    rows.push([label, d, p, fmt]);
  };
  await measure(
    '1 KiB responses, 50 connections: req/s (p50 / p99)',
    '/1k',
    50,
    (r) => `${r.requestsPerSecond.toLocaleString('en')} req/s (${r.p50Ms.toFixed(2)} / ${r.p99Ms.toFixed(2)} ms)`,
  );
  // BENCH_CELLS=1k: that cell alone (the cost of a per-request change, measured in alternating runs).
  if (process.env.BENCH_CELLS === '1k') {
    const [[label, d, p, fmt]] = rows as [(typeof rows)[number]];
    const cpu = `proxima-server CPU ${serverCpuUsPerRequest.toFixed(1)} µs/request`;
    process.stdout.write(`| ${label} | ${fmt(d as WrkResult)} | ${fmt(p as WrkResult)} | ${cpu} |\n${observeNote()}\n`);
  } else {
    await measure('10 MiB downloads, 1 connection', '/10m', 1, (r) => `${r.mibPerSecond.toLocaleString('en')} MiB/s`);
    await measure('10 MiB downloads, 8 connections', '/10m', 8, (r) => `${r.mibPerSecond.toLocaleString('en')} MiB/s`);
    const sseDirectAt = { port: origin.ssePort, host: '127.0.0.1' };
    const sseProxiedAt = { port: tunnel.httpPort, host: viaSse.Host };
    await warmFirstEvents(sseDirectAt, sseProxiedAt);
    const sseDirect = await sseFirstEvent(sseDirectAt);
    const sseProxied = await sseFirstEvent(sseProxiedAt);
    const pct = (xs: number[], q: number): string => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!.toFixed(2);
    const sse = (xs: number[]): string => `${pct(xs, 0.5)} / ${pct(xs, 0.99)} ms`;
    const serverRss = rssMiB(tunnel.serverPid);
    const clientRss = rssMiB(tunnel.clientPid);
    const lines = ['| measure | direct | through Proxima |', '|---|---|---|'];
    for (const [label, d, p, fmt] of rows) lines.push(`| ${label} | ${fmt(d as WrkResult)} | ${fmt(p as WrkResult)} |`);
    lines.push(
      `| first SSE event, 300 rounds of 20 streams at once, after 2 s of warm-up (p50 / p99) | ${sse(sseDirect)} | ${sse(sseProxied)} |`,
    );
    lines.push(`| RSS after load: proxima-server / proxima-client | | ${serverRss} / ${clientRss} MiB |`);
    const errors = rows.reduce((n, [, d, p]) => n + (d as WrkResult).errors + (p as WrkResult).errors, 0);
    process.stdout.write(
      lines.join('\n') + `\n\nwrk -t1, ${SECONDS} s per cell; origin nginx on loopback; ${observeNote()}; ${errors} errors.\n`,
    );
  }
} finally {
  await tunnel.stop();
  await origin.stop();
}
