/**
 * The passage of a node's answer to the user: bytes in, bytes out, as they arrive (every complete
 * event or line of a chunk goes out with that chunk), each one read on the way for the ledger. An
 * SSE stream loses the usage the user did not ask for (the usage-only chunk, and the zero usage
 * Ollama puts on /v1/completions chunks); everything else passes as the node sent it.
 *
 * Except the answer's tail, which `push` holds back and `end` hands over: from the event or line that
 * says the answer is finished (a finish reason, `[DONE]`, `done: true`) on, and the last
 * non-whitespace byte of a whole answer on. Without it the user cannot tell a complete answer from a
 * cut one, so the caller writes it only once the answer's usage record is durable (node-call.ts).
 */
import { isUtf8 } from 'node:buffer';
import { ErrorCodes, ProximaError } from '../../../errors.js';
import { ChunkScanner } from '../../../proto/llm/chunk-scanner.js';
import { parseJsonObject, readOllamaFrame, readOpenAiFrame } from '../../../proto/llm/frames.js';
import { NdjsonSplitter } from '../../../proto/llm/ndjson.js';
import { SseParser } from '../../../proto/llm/sse.js';
import type { ApiRoute } from '../api-routes.js';
import type { LlmRequest } from '../llm-request.js';
import { AnswerMeter } from './answer-meter.js';
import { EventRelay } from './event-relay.js';
import { HeldTail } from './held-tail.js';
import { OutBytes } from './out-bytes.js';
import { WholeRelay } from './whole-relay.js';

/** One answer on its way: `push` each chunk from the node, `end` when it ends. */
export interface AnswerRelay {
  readonly meter: AnswerMeter;
  /**
   * What goes to the user for this chunk (empty when nothing is complete yet, or when it belongs to
   * the tail). Throws on an oversized frame.
   */
  push(chunk: Buffer): Buffer;
  /** What goes to the user when the node's answer has ended: the tail held back, and what was left. */
  end(): Buffer;
  /** True when the answer ended the way a complete one does (finish reason, `[DONE]`, `done: true`, whole JSON). */
  readonly complete: boolean;
}

/** The relay for the answer to `request` on `route`. */
export function answerRelay(route: ApiRoute, request: LlmRequest): AnswerRelay {
  if (!request.stream) return new WholeRelay(route);
  if (route.kind === 'responses' || route.kind === 'messages') return new EventRelay(route.kind);
  return route.surface === 'openai' ? new SseRelay(request.wantsUsage) : new NdjsonRelay();
}

/** An SSE event with `data` (one `data:` line per line of it) and `event`, if any. */
function sseText(data: string, event: string | undefined): string {
  const lines = data.split('\n').map((line) => `data: ${line}\n`);
  return `${event === undefined ? '' : `event: ${event}\n`}${lines.join('')}\n`;
}

/** OpenAI's SSE: `data: <json>` events and `data: [DONE]`. */
class SseRelay implements AnswerRelay {
  readonly meter = new AnswerMeter();
  readonly #parser = new SseParser();
  readonly #wantsUsage: boolean;
  #sawDone = false;
  /** The tail: every event from the one that finished the answer on. */
  readonly #held = new HeldTail();
  readonly #out = new OutBytes();
  readonly #scanner = new ChunkScanner();

  constructor(wantsUsage: boolean) {
    this.#wantsUsage = wantsUsage;
  }

  get complete(): boolean {
    return (this.meter.finished || this.#sawDone) && this.meter.error === undefined;
  }

  push(chunk: Buffer): Buffer {
    let at = 0;
    // An event begun in an earlier chunk is the parser's to finish (up to its blank line: a bare LF
    // first, else the first LF LF); then the fast lane goes on, rather than leaving every later
    // event of the chunk to the parser (a read cuts an event nearly every time).
    for (let tries = 0; tries < 2 && at < chunk.length && !this.#parser.idle; tries++) {
      const end = chunk[at] === LF ? at + 1 : eventEnd(chunk, at);
      this.#parsed(chunk.subarray(at, end));
      at = end;
    }
    if (this.#parser.idle) at = this.#plainEvents(chunk, at);
    if (at < chunk.length) this.#parsed(at === 0 ? chunk : chunk.subarray(at));
    return this.#out.take();
  }

  /** What the parser reads of `bytes`: events metered, and passed on or held. */
  #parsed(bytes: Buffer): void {
    const out = this.#out;
    const raws: (Buffer | undefined)[] = [];
    for (const [k, item] of this.#parser.push(bytes, raws).entries()) {
      if (item.kind === 'comment') continue; // the node's own keep-alives are the node's business
      let data = item.data;
      let raw = raws[k];
      if (data === '[DONE]') this.#sawDone = true;
      else {
        const json = parseJsonObject(data);
        if (json !== undefined) {
          const frame = readOpenAiFrame(json);
          this.meter.openai(frame);
          if (!this.#wantsUsage && frame.usageOnly) continue;
          if (!this.#wantsUsage && 'usage' in json) {
            delete json.usage;
            data = JSON.stringify(json);
            raw = undefined;
          }
        }
      }
      // An event as the node sent it goes on as its own bytes; any other is written out again.
      if (this.meter.finished || this.#sawDone) this.#held.push(raw === undefined ? sseText(data, item.event) : raw.toString('utf8'));
      else out.add(raw ?? Buffer.from(sseText(data, item.event), 'utf8'));
    }
  }

  end(): Buffer {
    return this.#held.take();
  }

  /**
   * The fast lane, taken while the parser holds nothing: the events from `from` on that are one
   * `data: <chunk JSON>` line ended by LF, in UTF-8, of the plain shape the scanner reads, are
   * metered and passed on here without the parser or JSON.parse, as one view of the chunk. Returns
   * where it stopped: at the first other event (or the first one once the answer finished), which
   * the parser then reads as it reads every event (the parser, idle, starts at an event's start
   * either way). UTF-8 is checked once for all the chunk's whole events; per event only if that fails.
   */
  #plainEvents(chunk: Buffer, from: number): number {
    let at = from;
    const cr = chunk.indexOf(CR, from);
    const whole = chunk.lastIndexOf(LF_LF);
    const allUtf8 = whole > from && isUtf8(chunk.subarray(from, whole));
    while (!this.meter.finished && !this.#sawDone && startsWithData(chunk, at)) {
      const lf = chunk.indexOf(LF, at + DATA_LENGTH);
      if (lf < 0 || chunk[lf + 1] !== LF) break;
      if (cr >= 0 && cr < lf) break; // a CR ends lines too: the parser's business
      if (!allUtf8 && !isUtf8(chunk.subarray(at, lf))) break;
      const frame = this.#scanner.openAi(chunk, at + DATA_LENGTH, lf);
      if (frame === undefined) break;
      this.meter.openai(frame);
      if (this.meter.finished) {
        this.#out.add(chunk.subarray(from, at));
        this.#held.push(chunk.toString('utf8', at, lf + 2));
        return lf + 2;
      }
      at = lf + 2;
    }
    this.#out.add(chunk.subarray(from, at));
    return at;
  }
}

const CR = 0x0d;
const LF = 0x0a;
const LF_LF = Buffer.from('\n\n', 'latin1');
const DATA_LENGTH = 6;

/** Past the first LF LF of `chunk` from `at`; the chunk's end when there is none. */
function eventEnd(chunk: Buffer, at: number): number {
  const lfLf = chunk.indexOf(LF_LF, at);
  return lfLf < 0 ? chunk.length : lfLf + 2;
}

/** True when `chunk` holds `data: ` at `at` (and more after it). */
function startsWithData(chunk: Buffer, at: number): boolean {
  return (
    chunk.length - at > DATA_LENGTH &&
    chunk[at] === 0x64 &&
    chunk[at + 1] === 0x61 &&
    chunk[at + 2] === 0x74 &&
    chunk[at + 3] === 0x61 &&
    chunk[at + 4] === 0x3a &&
    chunk[at + 5] === 0x20
  );
}

/** Ollama's NDJSON: one object a line, the last with `done: true`. */
class NdjsonRelay implements AnswerRelay {
  readonly meter = new AnswerMeter();
  readonly #splitter = new NdjsonSplitter();
  /** The tail: every line from the one with `done: true` on. */
  readonly #held = new HeldTail();
  readonly #out = new OutBytes();
  readonly #scanner = new ChunkScanner();

  get complete(): boolean {
    return this.meter.finished && this.meter.error === undefined;
  }

  push(chunk: Buffer): Buffer {
    let at = 0;
    if (this.#splitter.buffered > 0) {
      // A line begun in an earlier chunk: the splitter finishes it, then the fast lane goes on.
      const lf = chunk.indexOf(LF);
      at = lf < 0 ? chunk.length : lf + 1;
      this.#split(at === chunk.length ? chunk : chunk.subarray(0, at));
    }
    if (this.#splitter.buffered === 0) at = this.#plainLines(chunk, at);
    if (at < chunk.length) this.#split(at === 0 ? chunk : chunk.subarray(at));
    return this.#out.take();
  }

  #split(bytes: Buffer): void {
    const raws: (Buffer | undefined)[] = [];
    for (const [k, line] of this.#splitter.push(bytes, raws).entries()) this.#line(line, raws[k]);
  }

  /**
   * The fast lane, as SseRelay's: the lines from `from` on that end in a bare LF, in UTF-8, of the
   * plain shape the scanner reads (not the last line), are metered and passed on here, as one view.
   * Returns where it stopped; the splitter, holding nothing, reads the rest.
   */
  #plainLines(chunk: Buffer, from: number): number {
    let at = from;
    const whole = chunk.lastIndexOf(LF);
    const allUtf8 = whole > from && isUtf8(chunk.subarray(from, whole));
    while (!this.meter.finished) {
      const lf = chunk.indexOf(LF, at);
      if (lf <= at || chunk[lf - 1] === CR) break;
      if (!allUtf8 && !isUtf8(chunk.subarray(at, lf))) break;
      const frame = this.#scanner.ollama(chunk, at, lf);
      if (frame === undefined) break;
      this.meter.ollama(frame);
      at = lf + 1;
    }
    this.#out.add(chunk.subarray(from, at));
    return at;
  }

  end(): Buffer {
    const last = this.#splitter.end();
    if (last !== undefined) this.#line(last, undefined); // a last line without its newline: sent now, held or not
    const rest = this.#out.take();
    return Buffer.concat([this.#held.take(), rest]);
  }

  /** Reads `line`; it goes out (as `raw`, its own bytes, when given), or to the tail once the answer has finished. */
  #line(line: string, raw: Buffer | undefined): void {
    const json = parseJsonObject(line);
    if (json !== undefined) this.meter.ollama(readOllamaFrame(json));
    if (this.meter.finished) this.#held.push(`${line}\n`);
    else this.#out.add(raw ?? Buffer.from(`${line}\n`, 'utf8'));
  }
}

/** The error a node's answer ended with when it was not complete: the node's own, or "unfinished". */
export function unfinished(relay: AnswerRelay): ProximaError {
  const why = relay.meter.error ?? 'the node ended its answer without finishing it';
  return new ProximaError(ErrorCodes.NODE_FAILED, why);
}
