/**
 * One side of a mux benchmark run, in its own process:
 *   node peer.js receive <transport>            listens, prints {"port"}, counts or echoes
 *   node peer.js send <transport> <port> <workload>   drives the workload, prints its result
 * Workloads: tput-1, tput-100 (1 GiB in 64 KiB writes over 1 or 100 streams), ping-1, ping-100
 * (10,000 round trips of 1 KiB, sequential on 1 stream or 100 at a time). Both sides print
 * their peak RSS on exit.
 */
import { performance } from 'node:perf_hooks';
import { type BenchStream, dial, listen, type TransportName } from './transports.js';

const TOTAL_BYTES = 1024 * 1024 * 1024;
const WRITE_BYTES = 64 * 1024;
const PING_BYTES = 1024;
const ROUND_TRIPS = 10_000;

const print = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n');
const peakRssMiB = (): number => Math.round(process.resourceUsage().maxRSS / 1024);

/** The receiver: the first byte of a stream says what it wants ('t' count, 'p' echo). */
async function receive(transport: TransportName): Promise<void> {
  const server = await listen(transport, (stream) => {
    let mode: 'count' | 'echo' | undefined;
    let expected = 0;
    let got = 0;
    stream.onData((buf) => {
      if (mode === undefined) {
        mode = buf[0] === 0x74 ? 'count' : 'echo';
        if (mode === 'count') expected = buf.readUInt32BE(1) * WRITE_BYTES;
        buf = buf.subarray(mode === 'count' ? 5 : 1);
      }
      if (mode === 'echo') {
        if (buf.length > 0) void stream.write(buf);
        return;
      }
      got += buf.length;
      if (got === expected) void stream.write(Buffer.from('k'));
    });
  });
  print({ port: (server.address() as import('node:net').AddressInfo).port });
  process.stdin.on('data', () => {
    print({ peakRssMiB: peakRssMiB() });
    process.exit(0);
  });
}

async function throughput(streams: BenchStream[]): Promise<number> {
  const chunk = Buffer.alloc(WRITE_BYTES, 0x5a);
  const perStream = Math.floor(TOTAL_BYTES / streams.length / WRITE_BYTES);
  const total = perStream * streams.length * WRITE_BYTES;
  const start = performance.now();
  await Promise.all(
    streams.map(async (s) => {
      const done = new Promise<void>((resolve) => s.onData(() => resolve()));
      const head = Buffer.alloc(5);
      head[0] = 0x74;
      head.writeUInt32BE(perStream, 1);
      await s.write(head);
      for (let i = 0; i < perStream; i++) await s.write(chunk);
      await done;
    }),
  );
  return total / 1024 / 1024 / ((performance.now() - start) / 1000);
}

async function pingPong(streams: BenchStream[]): Promise<number[]> {
  const payload = Buffer.alloc(PING_BYTES, 0x61);
  const samples: number[] = [];
  await Promise.all(
    streams.map(async (s) => {
      let waiting: (() => void) | undefined;
      let got = 0;
      s.onData((buf) => {
        got += buf.length;
        if (got >= PING_BYTES) {
          got -= PING_BYTES;
          waiting?.();
        }
      });
      await s.write(Buffer.from('p'));
      for (let i = 0; i < ROUND_TRIPS / streams.length; i++) {
        const t0 = performance.now();
        await new Promise<void>((resolve) => {
          waiting = resolve;
          void s.write(payload);
        });
        samples.push((performance.now() - t0) * 1000);
      }
    }),
  );
  return samples.sort((a, b) => a - b);
}

async function send(transport: TransportName, port: number, workload: string): Promise<void> {
  const dialer = await dial(transport, port);
  const count = workload.endsWith('-100') ? 100 : 1;
  const streams = await Promise.all(Array.from({ length: count }, () => dialer.open()));
  if (workload.startsWith('tput')) {
    print({ mibPerSecond: Math.round(await throughput(streams)), peakRssMiB: peakRssMiB() });
  } else {
    const us = await pingPong(streams);
    const at = (q: number): number => Math.round(us[Math.min(us.length - 1, Math.floor(q * us.length))]!);
    print({ p50us: at(0.5), p99us: at(0.99), peakRssMiB: peakRssMiB() });
  }
  dialer.close();
  process.exit(0);
}

const [role, transport, port, workload] = process.argv.slice(2);
if (role === 'receive') void receive(transport as TransportName);
else void send(transport as TransportName, Number(port), workload!);
