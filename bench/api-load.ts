/**
 * The load of bench/api.ts, as the user: streamed chats timed to their first content chunk, whole
 * chats from many connections, and the CPU time of the Proxima processes read from /proc around a
 * cell (utime + stime of proxima-server and proxima-client; the fake Ollama and this process, the
 * load generator, are not counted).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type { Agent } from 'undici';
import { request } from 'undici';

const JSON_HEADERS = { 'content-type': 'application/json' };

/** A content token's SSE event: a delta with non-empty content. */
const CONTENT_TOKEN = /"content":"[^"]/;

/** A streamed chat's body for `model`. */
export const streamBody = (model: string): string => JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], stream: true });
/** A non-streamed chat's body for `model`. */
export const wholeBody = (model: string): string => JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] });

/** What one streamed chat took, in ms from sending it. */
export interface StreamTimes {
  /** The first body byte. */
  firstMs: number;
  /** The first chunk that carries a content token (not the role-only chunk). */
  contentMs: number;
  /** From the arrival of the last content chunk to the end of the body (the answer's tail). */
  tailMs: number;
}

/** One streamed chat, read to the end. */
export async function streamedChat(
  dispatcher: Agent,
  origin: string,
  body: string,
  headers: Record<string, string> = JSON_HEADERS,
): Promise<StreamTimes> {
  const started = performance.now();
  const { statusCode, body: answer } = await request(`${origin}/v1/chat/completions`, { dispatcher, method: 'POST', headers, body });
  let first: number | undefined;
  let content: number | undefined;
  let lastToken: number | undefined;
  for await (const chunk of answer as AsyncIterable<Buffer>) {
    const now = performance.now();
    first ??= now - started;
    if (CONTENT_TOKEN.test(chunk.toString('latin1'))) {
      content ??= now - started;
      lastToken = now;
    }
  }
  const ended = performance.now();
  if (statusCode !== 200 || first === undefined || content === undefined || lastToken === undefined)
    throw new Error(`status ${statusCode}`);
  return { firstMs: first, contentMs: content, tailMs: ended - lastToken };
}

/** `users` loops of `once` for `seconds`; how many rounds ended. */
export async function loop(users: number, seconds: number, once: () => Promise<void>): Promise<{ rounds: number; ms: number }> {
  const started = performance.now();
  const until = started + seconds * 1000;
  let rounds = 0;
  await Promise.all(
    Array.from({ length: users }, async () => {
      while (performance.now() < until) {
        await once();
        rounds++;
      }
    }),
  );
  return { rounds, ms: performance.now() - started };
}

/** One non-streamed chat, read to the end. */
export async function wholeChat(
  dispatcher: Agent,
  origin: string,
  body: string,
  headers: Record<string, string> = JSON_HEADERS,
): Promise<void> {
  const { statusCode, body: answer } = await request(`${origin}/v1/chat/completions`, { dispatcher, method: 'POST', headers, body });
  await answer.text();
  if (statusCode !== 200) throw new Error(`status ${statusCode}`);
}

const TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time of `pid` so far, in µs, user and system, from /proc/<pid>/stat (resolution: a clock tick, 10 ms). */
export function cpuMicros(pid: number): { user: number; system: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5), utime and stime; `fields` starts at field 3.
  return { user: (Number(fields[11]) * 1e6) / TICKS_PER_SECOND, system: (Number(fields[12]) * 1e6) / TICKS_PER_SECOND };
}

/** What `pids` spent while `work` ran: the CPU µs of all together, and user / system µs of each. */
export interface CpuSpent<T> {
  value: T;
  cpuUs: number;
  each: { user: number; system: number }[];
}

/** Runs `work` and returns its result with the CPU `pids` spent meanwhile. */
export async function withCpu<T>(pids: readonly number[], work: () => Promise<T>): Promise<CpuSpent<T>> {
  const before = pids.map(cpuMicros);
  const value = await work();
  const each = pids.map((pid, i) => {
    const now = cpuMicros(pid);
    return { user: now.user - before[i]!.user, system: now.system - before[i]!.system };
  });
  return { value, cpuUs: each.reduce((sum, e) => sum + e.user + e.system, 0), each };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN; // a cell left out with BENCH_ONLY
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
