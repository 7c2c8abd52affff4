/**
 * The super node's parse of a request body (src/server/models/llm-request.ts), both ways, by body
 * size: JSON.parse (parseWithJson) and on the bytes (parseOnBytes), and parseLlmRequest of other
 * builds named on the command line (a `dist` folder, e.g. an older checkout's) for comparison.
 * Microseconds per parse, the median of ROUNDS rounds, ways alternating within each round.
 * Run: `npx tsc -p . && node dist/bench/llm-request.js [/other/checkout/dist ...]`; ROUNDS, MS (per way and round).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const MS = Number(process.env.MS ?? 150);
const here = path.dirname(fileURLToPath(import.meta.url));

type Parse = (route: unknown, raw: Buffer) => { promptChars: number };
interface Build {
  name: string;
  ways: [string, Parse][];
  route: (path: string) => unknown;
}

async function load(dist: string, own: boolean): Promise<Build> {
  const request = await import(path.join(dist, 'src/server/models/llm-request.js'));
  const routes = await import(path.join(dist, 'src/server/models/api-routes.js'));
  const route = (p: string): unknown => routes.matchRoute('POST', p).route;
  const ways: [string, Parse][] = own
    ? [
        ['JSON.parse', request.parseWithJson],
        ['bytes', request.parseOnBytes],
      ]
    : [[`parseLlmRequest of ${dist}`, request.parseLlmRequest]];
  return { name: dist, ways, route };
}

/** A chat of about `bytes`: a system prompt and a user message of prose with some escapes and accents. */
function chat(bytes: number, stream: boolean): Buffer {
  const prose = 'The quick brown fox jumps over the lazy dog; "quoted", café, naïve.\n';
  const content = prose.repeat(Math.max(1, Math.ceil(bytes / prose.length))).slice(0, Math.max(2, bytes - 120));
  const messages = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content },
  ];
  return Buffer.from(JSON.stringify({ model: 'llama3.2', messages, ...(stream ? { stream: true } : {}) }));
}

function time(parse: Parse, route: unknown, body: Buffer): number {
  let n = 0;
  const start = performance.now();
  let sink = 0;
  for (;;) {
    sink += parse(route, body).promptChars;
    n++;
    if ((n & 7) === 0 && performance.now() - start > MS) break;
  }
  if (sink < 0) throw new Error('unreachable');
  return ((performance.now() - start) * 1000) / n;
}

const builds = [await load(path.join(here, '..'), true), ...(await Promise.all(process.argv.slice(2).map((d) => load(d, false))))];
const sizes = (process.env.SIZES ?? '80,1024,4096,16384,65536,262144,1048576,15728640').split(',').map(Number);
const out: string[] = [`µs per parse of a /v1/chat/completions body, median of ${ROUNDS} rounds (Node ${process.version})`];
for (const stream of [false, true]) {
  for (const size of sizes) {
    const body = chat(size, stream);
    const results = new Map<string, number[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const build of builds) {
        const route = build.route('/v1/chat/completions');
        for (const [name, parse] of build.ways) {
          const list = results.get(name) ?? [];
          list.push(time(parse, route, body));
          results.set(name, list);
        }
      }
    }
    const cells = [...results].map(([name, list]) => {
      const sorted = [...list].sort((a, b) => a - b);
      return `${name}: ${sorted[Math.floor(sorted.length / 2)]!.toFixed(size < 4096 ? 2 : 0)}`;
    });
    out.push(`${String(body.length).padStart(9)} B${stream ? ', streamed' : ''}   ${cells.join('   ')}`);
    process.stdout.write(`${out[out.length - 1]}\n`);
  }
}
