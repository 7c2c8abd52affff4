/**
 * The node's guard alone: its CPU per request, without the mux, the super node or a real Ollama.
 * The guard of each build named on the command line (a `dist` folder; default: this one) is fed by
 * in-memory stream pairs, a raw TCP "Ollama" in a child process answers at once (a non-streamed chat
 * with a length, or a chunked SSE stream of TOKENS events), and this process's CPU is counted per
 * request: the guard and the harness's own client together. Builds alternate, ROUNDS times.
 * Run: `npx tsc -p . && node dist/bench/guard.js [/other/checkout/dist ...]`; REQUESTS, CONCURRENCY, TOKENS.
 */
import { fork } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';

const REQUESTS = Number(process.env.REQUESTS ?? 8000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 20);
const TOKENS = Number(process.env.TOKENS ?? 200);
const ROUNDS = Number(process.env.ROUNDS ?? 2);

const CHAT = JSON.stringify({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  model: 'llama3.2',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there, how can I help you today?' }, finish_reason: 'stop' }],
});
const event = (i: number): string =>
  `data: ${JSON.stringify({ object: 'chat.completion.chunk', model: 'llama3.2', choices: [{ index: 0, delta: { content: `tok${i}` } }] })}\n\n`;

/** Child mode: answers every request at once; prints its port. */
function ollamaMode(mode: string): void {
  const whole = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(CHAT)}\r\n\r\n${CHAT}`;
  const server = net.createServer({ noDelay: true }, (socket) => {
    let buffered = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: *(\d+)/i.exec(buffered.slice(0, end))?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.slice(end + 4 + length);
        if (mode === 'chat') socket.write(whole);
        else stream(socket);
      }
    });
  });
  server.listen(0, '127.0.0.1', () => process.send?.((server.address() as net.AddressInfo).port));
}

/** One chunked SSE answer, an event per write, as Ollama flushes each token. */
function stream(socket: net.Socket): void {
  socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
  let i = 0;
  const next = (): void => {
    if (i === TOKENS) return void socket.write('0\r\n\r\n');
    const data = event(i++);
    socket.write(`${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`);
    setImmediate(next);
  };
  next();
}

/** Whether `bytes` hold one whole answer (with a length, or chunked to its last chunk). */
function complete(bytes: Buffer): boolean {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const length = /content-length: *(\d+)/i.exec(bytes.toString('latin1', 0, end))?.[1];
  if (length !== undefined) return bytes.length >= end + 4 + Number(length);
  return bytes.subarray(-7).toString('latin1') === '\r\n0\r\n\r\n';
}

interface Guard {
  serve(stream: Duplex): Promise<void>;
  destroy(): Promise<void>;
}

async function measure(dist: string, mode: string, port: number): Promise<string> {
  const { OllamaGuard } = (await import(path.join(dist, 'src/client/ollama/ollama-guard.js'))) as {
    OllamaGuard: new (o: object) => Guard;
  };
  const { duplexPair } = (await import(path.join(dist, 'src/streams/duplex-pair.js'))) as { duplexPair: () => [Duplex, Duplex] };
  const guard = new OllamaGuard({ service: { name: 'ollama', local: { host: '127.0.0.1', port }, hostHeader: 'localhost', share: '*' } });
  const body = JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], stream: mode !== 'chat' });
  const request = Buffer.from(
    `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  const total = mode === 'chat' ? REQUESTS : Math.ceil(REQUESTS / 8);
  const run = async (): Promise<void> => {
    let sent = 0;
    const user = async (): Promise<void> => {
      const [mine, theirs] = duplexPair();
      void guard.serve(theirs);
      let parts: Buffer[] = [];
      let answered = (): void => undefined;
      mine.on('data', (chunk: Buffer) => {
        parts.push(chunk);
        const all = Buffer.concat(parts);
        parts = [all];
        if (complete(all)) {
          parts = [];
          answered();
        }
      });
      while (sent++ < total) {
        await new Promise<void>((resolve) => {
          answered = resolve;
          mine.write(request);
        });
      }
      mine.end();
    };
    await Promise.all(Array.from({ length: mode === 'chat' ? CONCURRENCY : 4 }, user));
  };
  await run(); // warm-up
  const before = process.cpuUsage();
  const started = performance.now();
  await run();
  const cpu = process.cpuUsage(before);
  const seconds = (performance.now() - started) / 1000;
  await guard.destroy();
  const perRequest = (cpu.user + cpu.system) / total;
  return `${dist} ${mode}: ${perRequest.toFixed(1)} µs CPU per request, ${Math.round(total / seconds)} req/s`;
}

async function main(): Promise<void> {
  const own = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const dists = process.argv.slice(2).length > 0 ? process.argv.slice(2).map((d) => path.resolve(d)) : [own];
  for (const mode of ['chat', 'sse']) {
    const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, GUARD_BENCH_OLLAMA: mode } });
    const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(m as number)));
    try {
      for (let round = 0; round < ROUNDS; round++) for (const dist of dists) process.stdout.write(`${await measure(dist, mode, port)}\n`);
    } finally {
      child.kill();
    }
  }
}

if (process.env.GUARD_BENCH_OLLAMA !== undefined) ollamaMode(process.env.GUARD_BENCH_OLLAMA);
else await main();
