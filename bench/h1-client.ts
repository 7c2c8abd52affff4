/**
 * The super node's HTTP/1.1 client to nodes (src/http/h1-pool.ts) against undici's Pool, in one
 * process: both send the same requests over loopback TCP connections to the same canned responder
 * in this process, 8 at a time, and read each answer whole. Prints the CPU (user + system) per
 * request of the whole process; the responder's share and the sockets' are the same for both, so
 * the difference is the clients'. Run: `npm run build && node dist/bench/h1-client.js`
 * (REQUESTS=20000 ROUNDS=3). (undici over an in-memory duplexPair never wrote its request: TCP.)
 */
import { once } from 'node:events';
import net from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { Pool } from 'undici';
import type { Dispatcher } from '../src/http/dispatcher.js';
import { H1Pool } from '../src/http/h1-pool.js';

const REQUESTS = Number(process.env.REQUESTS ?? 20_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CONCURRENCY = 8;
const BODY = Buffer.from(JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'hello there' }], stream: false }));
const ANSWER_JSON = JSON.stringify({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  model: 'llama3.2',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello! How can I help you today?' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 11, completion_tokens: 9, total_tokens: 20 },
});
const ANSWERS = {
  length: Buffer.from(
    `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Mon, 07 Dec 2026 18:00:00 GMT\r\nContent-Length: ${ANSWER_JSON.length}\r\n\r\n${ANSWER_JSON}`,
  ),
  chunked: Buffer.from(
    `HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n${[0, 1, 2, 3]
      .map(() => `${ANSWER_JSON.length.toString(16)}\r\n${ANSWER_JSON}\r\n`)
      .join('')}0\r\n\r\n`,
  ),
};

/** The node's end of a stream: answers each request (head and body arrive in one chunk) with `answer`. */
function responder(end: Duplex, answer: Buffer): void {
  end.on('data', () => end.write(answer));
  end.on('end', () => end.end());
  end.on('error', () => undefined);
}

/** A loopback server answering every request with `answer`. */
async function listen(answer: Buffer): Promise<{ port: number; close(): void }> {
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.setNoDelay(true);
    responder(socket, answer);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

function connect(port: number): net.Socket {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  return socket;
}

async function readAll(body: Readable): Promise<number> {
  let n = 0;
  for await (const chunk of body) n += (chunk as Buffer).length;
  return n;
}

async function run(pool: Dispatcher, requests: number): Promise<number> {
  let left = requests;
  const worker = async (): Promise<void> => {
    while (left-- > 0) {
      const res = await pool.request({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { 'content-type': 'application/json', 'x-request-id': 'abc' },
        body: BODY,
      });
      if (res.statusCode !== 200 || (await readAll(res.body)) === 0) throw new Error('bad answer');
    }
  };
  const start = process.cpuUsage();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const used = process.cpuUsage(start);
  return (used.user + used.system) / requests;
}

function makeOwn(port: number): { pool: Dispatcher; close(): Promise<void> } {
  const pool = new H1Pool({
    hostHeader: 'localhost:11434',
    keepAliveMs: 4_000,
    open: () => {
      const stream = connect(port);
      return { stream, opened: once(stream, 'connect') };
    },
  });
  return { pool, close: () => pool.destroy() };
}

function makeUndici(port: number): { pool: Dispatcher; close(): Promise<void> } {
  const pool = new Pool('http://localhost:11434', {
    headersTimeout: 0,
    bodyTimeout: 0,
    keepAliveTimeout: 4_000,
    connect: (_o, callback) => {
      const socket = connect(port);
      socket.once('connect', () => callback(null, socket));
      socket.once('error', (err) => callback(err, null));
    },
  });
  return { pool: pool as unknown as Dispatcher, close: () => pool.destroy() };
}

async function main(): Promise<void> {
  for (const [kind, answer] of Object.entries(ANSWERS)) {
    const server = await listen(answer);
    const results: Record<string, number[]> = { 'h1-pool': [], undici: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, make] of [
        ['h1-pool', makeOwn],
        ['undici', makeUndici],
      ] as const) {
        const { pool, close } = make(server.port);
        await run(pool, REQUESTS / 4); // warm-up
        results[name]!.push(await run(pool, REQUESTS));
        await close();
      }
    }
    server.close();
    for (const [name, us] of Object.entries(results))
      process.stdout.write(`${kind} answers, ${name}: ${us.map((u) => u.toFixed(1)).join(' / ')} µs CPU per request\n`);
  }
}

await main();
