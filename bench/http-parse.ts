/**
 * Micro-benchmark of the HTTP/1.1 wire code on a typical ~400-byte request head:
 * heads parsed per second (whole and split), heads re-serialised with the proxy's edits, and
 * chunked bodies framed. Run: `npx tsc -p . && node dist/bench/http-parse.js`.
 */
import { ChunkedFramer } from '../src/proto/http/chunked.js';
import { REQUEST_SIDE } from '../src/proto/http/error.js';
import { serializeRequestHead } from '../src/proto/http/head-edit.js';
import { parseRequestHead, RequestHeadParser } from '../src/proto/http/request-head.js';

const HEAD = Buffer.from(
  'POST /v1/chat/completions HTTP/1.1\r\n' +
    'Host: alpha.proxima.example\r\n' +
    'User-Agent: OpenAI/JS 6.49.0\r\n' +
    'Accept: application/json\r\n' +
    'Accept-Encoding: gzip, deflate, br\r\n' +
    'Content-Type: application/json\r\n' +
    'Authorization: Bearer sk-proxima-0123456789abcdef0123456789abcdef\r\n' +
    'X-Stainless-Lang: js\r\n' +
    'X-Stainless-Package-Version: 6.49.0\r\n' +
    'X-Stainless-Runtime: node\r\n' +
    'X-Stainless-Runtime-Version: v20.18.0\r\n' +
    'Connection: keep-alive\r\n' +
    'Content-Length: 182\r\n' +
    '\r\n',
  'latin1',
);

/** Runs `fn` for about `ms` milliseconds after a warm-up; returns operations per second. */
function measure(fn: () => void, ms = 1500): number {
  for (let i = 0; i < 20_000; i++) fn();
  let ops = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(ms) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < 1000; i++) fn();
    ops += 1000;
    elapsed = process.hrtime.bigint() - start;
  }
  return (ops * 1e9) / Number(elapsed);
}

function report(name: string, perSecond: number, unit: string): void {
  process.stdout.write(`${name.padEnd(48)} ${Math.round(perSecond).toLocaleString('en-US').padStart(12)} ${unit}\n`);
}

const parser = new RequestHeadParser();
const first = HEAD.subarray(0, 200);
const second = HEAD.subarray(200);
let sink = 0;

process.stdout.write(`request head: ${HEAD.length} bytes, node ${process.version}\n`);
report(
  'parse, whole head in one chunk',
  measure(() => {
    sink += parser.push(HEAD)!.head.fields.list.length;
  }),
  'heads/s',
);
report(
  'parse, head split in two chunks',
  measure(() => {
    parser.push(first);
    sink += parser.push(second)!.head.fields.list.length;
  }),
  'heads/s',
);
const head = parseRequestHead(HEAD);
report(
  'serialise with X-Forwarded-* and Host edits',
  measure(() => {
    sink += serializeRequestHead(head, {
      set: { Host: 'localhost:11434', 'X-Forwarded-Host': 'alpha.proxima.example', 'X-Forwarded-Proto': 'https' },
      append: { 'X-Forwarded-For': '203.0.113.7' },
    }).length;
  }),
  'heads/s',
);
const chunk = Buffer.alloc(16 * 1024, 0x61);
const body = Buffer.concat([Buffer.from('4000\r\n'), chunk, Buffer.from('\r\n')]);
const framer = new ChunkedFramer(REQUEST_SIDE);
const bodyPerSecond = measure(() => {
  sink += framer.push(body).bytes.length;
});
report('chunked framing, 16 KiB chunks', (bodyPerSecond * body.length) / 2 ** 20, 'MiB/s');
if (sink === 0) process.stdout.write('unreachable\n');
