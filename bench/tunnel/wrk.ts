/** Runs wrk (Debian's package) and reads its report: requests/s, transfer/s and latency percentiles. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export interface WrkResult {
  requestsPerSecond: number;
  /** Requests completed in the run. */
  requests: number;
  mibPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
const UNIT_MIB: Record<string, number> = { B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024 };

function latencyMs(text: string, percentile: string): number {
  const m = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
  if (!m) throw new Error(`wrk printed no ${percentile}% latency:\n${text}`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** `wrk -t1 -c<connections> -d<seconds>s --latency` against `url`, with extra headers. */
export async function wrk(
  url: string,
  options: { connections: number; seconds: number; threads?: number; headers?: Record<string, string> },
): Promise<WrkResult> {
  const args = [`-t${options.threads ?? 1}`, `-c${options.connections}`, `-d${options.seconds}s`, '--latency'];
  for (const [k, v] of Object.entries(options.headers ?? {})) args.push('-H', `${k}: ${v}`);
  const { stdout } = await promisify(execFile)('wrk', [...args, url], { maxBuffer: 1 << 20 });
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  const transfer = /Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/.exec(stdout);
  const errors = /Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  if (!rps || !transfer) throw new Error(`unexpected wrk output:\n${stdout}`);
  return {
    requestsPerSecond: Math.round(Number(rps[1])),
    requests: Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0),
    mibPerSecond: Math.round(Number(transfer[1]) * UNIT_MIB[transfer[2]!]!),
    p50Ms: latencyMs(stdout, '50'),
    p99Ms: latencyMs(stdout, '99'),
    errors: Number(errors?.[1] ?? 0) + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0),
  };
}
