/** Time to the first SSE event for N streams opened at once, measured on raw sockets. */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** Where a stream is opened: a port on loopback and the Host to ask for. */
export interface SseTarget {
  port: number;
  host: string;
}

function oneStream({ port, host }: SseTarget): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.setNoDelay(true);
      socket.write(`GET /sse HTTP/1.1\r\nHost: ${host}\r\nAccept: text/event-stream\r\n\r\n`);
    });
    let seen = '';
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      if (seen.includes('data: ')) {
        resolve(performance.now() - start);
        socket.destroy();
      }
    });
    socket.once('error', reject);
  });
}

/** One round: `concurrent` streams opened at once; their times to the first event in ms. */
function round(target: SseTarget, concurrent: number): Promise<number[]> {
  return Promise.all(Array.from({ length: concurrent }, () => oneStream(target)));
}

/**
 * Opens rounds of `concurrent` streams, direct and proxied in turn, for `ms`: each wrk cell is
 * warmed for 2 s, and the keep-alive cells before leave the new-connection code cold. (Fifty rounds
 * a side, which this replaced, take about 0.3 s; past them, the p50 through Proxima went on falling:
 * 5.1-5.8 ms in the second block of 1,000 streams, 3.0-4.0 ms from the fifth on, in six runs.)
 */
export async function warmFirstEvents(direct: SseTarget, proxied: SseTarget, ms = 2_000, concurrent = 20): Promise<void> {
  const until = performance.now() + ms;
  for (let r = 0; performance.now() < until; r++) await round(r % 2 === 0 ? direct : proxied, concurrent);
}

/**
 * Rounds of `concurrent` streams; returns every time to first event in ms, sorted. A round's streams
 * finish together, so the p99 is in effect the slowest 1% of rounds: with 50 rounds (1,000 samples,
 * as until 2026-11-26) that was the single slowest, and the added p99 moved by up to 11 ms between
 * blocks of one run; 300 rounds make it the third slowest.
 */
export async function sseFirstEvent(target: SseTarget, concurrent = 20, rounds = 300): Promise<number[]> {
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) samples.push(...(await round(target, concurrent)));
  return samples.sort((a, b) => a - b);
}
