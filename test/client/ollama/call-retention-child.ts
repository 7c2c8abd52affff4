/**
 * Child program for call-retention.test.ts: CALLS calls to a raw TCP "Ollama"
 * in this process through the node's OllamaPool and OllamaCall, CONCURRENCY at once, then two
 * young-generation collections; prints how many bytes of the old generation a full collection then
 * frees: the finished calls' objects that were promoted instead of dying young.
 * Run with `--expose-gc --no-opt --no-sparkplug`: unoptimized code is where a call's closures over
 * its promise's resolvers kept the calls alive through scavenges (docs/performance-notes.md).
 */
import net from 'node:net';
import v8 from 'node:v8';
import { OllamaCall } from '../../../src/client/ollama/ollama-call.js';
import { OllamaPool } from '../../../src/client/ollama/ollama-pool.js';

const CALLS = Number(process.env.CALLS ?? 800);
const CONCURRENCY = 4;
const BODY = '{"message":{"role":"assistant","content":"hello"},"done":true}'.padEnd(300, ' ');
const ANSWER = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`, 'latin1');
const REQUEST = Buffer.from('POST /api/chat HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}', 'latin1');

type Gc = (options?: { type: 'minor' | 'major' }) => void;
const gc = (globalThis as { gc?: Gc }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

/** Answers each request (a head and a 2-byte body) with ANSWER. */
const server = net.createServer({ noDelay: true }, (socket) => {
  let pending = 0;
  socket.on('data', (chunk: Buffer) => {
    pending += chunk.length;
    while (pending >= REQUEST.length) {
      pending -= REQUEST.length;
      socket.write(ANSWER);
    }
  });
  socket.on('error', () => undefined);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as net.AddressInfo).port;
const pool = new OllamaPool({ local: { host: '127.0.0.1', port }, hostHeader: `localhost:${port}` });

const oldUsed = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;
let next = 0;
let calls = 0;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < CALLS) {
      next++;
      const call = await OllamaCall.start(pool, 'POST', REQUEST);
      const body = await call.readWhole(1024 * 1024);
      if (body.length !== BODY.length) throw new Error(`a body of ${body.length} bytes`);
      calls++;
    }
  }),
);
await pool.destroy();
await new Promise<void>((resolve) => server.close(() => resolve()));
await new Promise((resolve) => setImmediate(resolve));
gc({ type: 'minor' });
gc({ type: 'minor' });
const before = oldUsed();
gc();
process.stdout.write(`${JSON.stringify({ calls, promotedGarbage: before - oldUsed() })}\n`);
