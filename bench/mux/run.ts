/**
 * `npm run bench:mux`: raw TCP, Proxima's mux and @libp2p/yamux side by side, each run in a fresh
 * pair of processes (sender and receiver, one core each). Prints a Markdown table with ratios to
 * raw TCP, as docs/benchmarks.md shows them.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const PEER = fileURLToPath(new URL('./peer.js', import.meta.url));
const TRANSPORTS = ['raw', 'proxima', 'libp2p'] as const;
const WORKLOADS = ['tput-1', 'tput-100', 'ping-1', 'ping-100'] as const;

type Result = { mibPerSecond?: number; p50us?: number; p99us?: number; peakRssMiB: number; receiverRssMiB: number };

/** Lines of JSON a child prints, one at a time. */
function jsonLines(child: ReturnType<typeof spawn>): AsyncIterator<Record<string, number>> {
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return {
    next: async () => {
      const r = await lines.next();
      return r.done ? r : { done: false, value: JSON.parse(r.value) };
    },
  };
}

async function runOne(transport: string, workload: string): Promise<Result> {
  const receiver = spawn(process.execPath, [PEER, 'receive', transport], { stdio: ['pipe', 'pipe', 'inherit'] });
  const fromReceiver = jsonLines(receiver);
  const { port } = (await fromReceiver.next()).value;
  const sender = spawn(process.execPath, [PEER, 'send', transport, String(port), workload], { stdio: ['ignore', 'pipe', 'inherit'] });
  const result = (await jsonLines(sender).next()).value;
  receiver.stdin!.write('bye\n');
  const { peakRssMiB } = (await fromReceiver.next()).value;
  await Promise.all([once(sender, 'exit'), once(receiver, 'exit')]);
  return { ...result, receiverRssMiB: peakRssMiB } as Result;
}

/** Runs per cell; the median is reported (BENCH_RUNS overrides). Transports alternate within a round. */
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const samples = new Map<string, Result[]>();
for (let round = 0; round < RUNS; round++) {
  for (const workload of WORKLOADS) {
    for (const transport of TRANSPORTS) {
      const r = await runOne(transport, workload);
      samples.set(`${transport}/${workload}`, [...(samples.get(`${transport}/${workload}`) ?? []), r]);
      process.stderr.write(`round ${round + 1} ${transport} ${workload}: ${JSON.stringify(r)}\n`);
    }
  }
}
const results = new Map<string, Result>();
for (const [key, rs] of samples) {
  const pick = (f: keyof Result): number | undefined => (rs[0]![f] === undefined ? undefined : median(rs.map((r) => r[f]!)));
  results.set(key, {
    mibPerSecond: pick('mibPerSecond'),
    p50us: pick('p50us'),
    p99us: pick('p99us'),
    peakRssMiB: Math.max(...rs.map((r) => r.peakRssMiB)),
    receiverRssMiB: Math.max(...rs.map((r) => r.receiverRssMiB)),
  });
}

const cell = (transport: string, workload: string): string => {
  const r = results.get(`${transport}/${workload}`)!;
  const raw = results.get(`raw/${workload}`)!;
  if (r.mibPerSecond !== undefined) {
    const ratio = transport === 'raw' ? '' : ` (${Math.round((r.mibPerSecond / raw.mibPerSecond!) * 100)}%)`;
    return `${r.mibPerSecond} MiB/s${ratio}`;
  }
  const ratio = transport === 'raw' ? '' : ` (${(r.p99us! / raw.p99us!).toFixed(2)}x)`;
  return `${r.p50us} / ${r.p99us} µs${ratio}`;
};
const rss = (transport: string): string => {
  const peaks = WORKLOADS.map((w) => results.get(`${transport}/${w}`)!);
  return `${Math.max(...peaks.map((r) => r.peakRssMiB))} / ${Math.max(...peaks.map((r) => r.receiverRssMiB))} MiB`;
};
const rows = [
  ['1 GiB, one stream', 'tput-1'],
  ['1 GiB over 100 streams', 'tput-100'],
  ['10,000 ping-pongs of 1 KiB, one stream (p50 / p99)', 'ping-1'],
  ['the same over 100 streams (p50 / p99)', 'ping-100'],
] as const;
const out = [
  '| workload | raw TCP | Proxima mux | @libp2p/yamux |',
  '|---|---|---|---|',
  ...rows.map(([label, w]) => `| ${label} | ${TRANSPORTS.map((t) => cell(t, w)).join(' | ')} |`),
  `| peak RSS, sender / receiver | ${TRANSPORTS.map(rss).join(' | ')} |`,
];
process.stdout.write(out.join('\n') + '\n');
process.stdout.write(`\nMedian of ${RUNS} runs; Node ${process.version}, ${(await import('node:os')).cpus().length} cores.\n`);
