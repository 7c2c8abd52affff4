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
import { scanOllamaLine, scanOpenAiChunk } from '../../../proto/llm/chunk-scan.js';
import { readEventsObject } from '../../../proto/llm/event-frames.js';
import { parseJsonObject, readOllamaFrame, readOpenAiFrame } from '../../../proto/llm/frames.js';
import { NdjsonSplitter } from '../../../proto/llm/ndjson.js';
import { SseParser } from '../../../proto/llm/sse.js';
import type { ApiRoute } from '../api-routes.js';
import type { LlmRequest } from '../llm-request.js';
import { AnswerMeter } from './answer-meter.js';
import { EventRelay } from './event-relay.js';
import { checkHeldBytes, HeldTail } from './held-tail.js';
import { OutBytes } from './out-bytes.js';

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

/** The most of a whole (non-streamed) answer kept to be read for usage; larger ones pass unread. */
export const MAX_READ_ANSWER_BYTES = 16 * 1024 * 1024;

/** The relay for the answer to `request` on `route`. */
export function answerRelay(route: ApiRoute, request: LlmRequest): AnswerRelay {
  if (!request.stream) return new WholeRelay(route);
  if (route.kind === 'responses' || route.kind === 'messages') return new EventRelay(route.kind);
  return route.surface === 'openai' ? new SseRelay(request.wantsUsage) : new NdjsonRelay();
}

const EMPTY = Buffer.alloc(0);

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

  constructor(wantsUsage: boolean) {
    this.#wantsUsage = wantsUsage;
  }

  get complete(): boolean {
    return (this.meter.finished || this.#sawDone) && this.meter.error === undefined;
  }

  push(chunk: Buffer): Buffer {
    const out = this.#out;
    const from = this.#parser.idle ? this.#plainEvents(chunk) : 0;
    if (from === chunk.length) return out.take();
    const raws: (Buffer | undefined)[] = [];
    for (const [k, item] of this.#parser.push(from === 0 ? chunk : chunk.subarray(from), raws).entries()) {
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
    return out.take();
  }

  end(): Buffer {
    return this.#held.take();
  }

  /**
   * The fast lane, taken while the parser holds nothing: the events at the start of `chunk` that are
   * one `data: <chunk JSON>` line ended by LF, in UTF-8, of the plain shape scanOpenAiChunk reads, are
   * metered and passed on here without the parser or JSON.parse. Returns where it stopped: at the
   * first other event (or the first one once the answer finished), which the parser then reads as
   * it reads every event (the parser, idle, starts at an event's start either way).
   */
  #plainEvents(chunk: Buffer): number {
    let at = 0;
    const cr = chunk.indexOf(CR);
    while (!this.meter.finished && !this.#sawDone && startsWithData(chunk, at)) {
      const lf = chunk.indexOf(LF, at + DATA.length);
      if (lf < 0 || chunk[lf + 1] !== LF) break;
      if (cr >= 0 && cr < lf) break; // a CR ends lines too: the parser's business
      const event = chunk.subarray(at, lf + 2);
      if (!isUtf8(event)) break;
      const frame = scanOpenAiChunk(chunk, at + DATA.length, lf);
      if (frame === undefined) break;
      this.meter.openai(frame);
      if (this.meter.finished) this.#held.push(event.toString('utf8'));
      else this.#out.add(event);
      at = lf + 2;
    }
    return at;
  }
}

const CR = 0x0d;
const LF = 0x0a;
const DATA = Buffer.from('data: ', 'latin1');

/** True when `chunk` holds `data: ` at `at`. */
function startsWithData(chunk: Buffer, at: number): boolean {
  return chunk.length - at > DATA.length && chunk.compare(DATA, 0, DATA.length, at, at + DATA.length) === 0;
}

/** Ollama's NDJSON: one object a line, the last with `done: true`. */
class NdjsonRelay implements AnswerRelay {
  readonly meter = new AnswerMeter();
  readonly #splitter = new NdjsonSplitter();
  /** The tail: every line from the one with `done: true` on. */
  readonly #held = new HeldTail();
  readonly #out = new OutBytes();

  get complete(): boolean {
    return this.meter.finished && this.meter.error === undefined;
  }

  push(chunk: Buffer): Buffer {
    const from = this.#splitter.buffered === 0 ? this.#plainLines(chunk) : 0;
    if (from === chunk.length) return this.#out.take();
    const raws: (Buffer | undefined)[] = [];
    for (const [k, line] of this.#splitter.push(from === 0 ? chunk : chunk.subarray(from), raws).entries()) this.#line(line, raws[k]);
    return this.#out.take();
  }

  /**
   * The fast lane, as SseRelay's: the lines at the start of `chunk` that end in a bare LF, in UTF-8,
   * of the plain shape scanOllamaLine reads (not the last line), are metered and passed on here.
   * Returns where it stopped; the splitter, holding nothing, reads the rest.
   */
  #plainLines(chunk: Buffer): number {
    let at = 0;
    while (!this.meter.finished) {
      const lf = chunk.indexOf(LF, at);
      if (lf <= at || chunk[lf - 1] === CR) break;
      const line = chunk.subarray(at, lf + 1);
      if (!isUtf8(line)) break;
      const frame = scanOllamaLine(chunk, at, lf);
      if (frame === undefined) break;
      this.meter.ollama(frame);
      this.#out.add(line);
      at = lf + 1;
    }
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

/**
 * A whole JSON answer: passed on as it comes, read once it is all there. Its last non-whitespace
 * byte (the closing brace) and what follows it are held, so the user cannot parse it before `end`.
 */
class WholeRelay implements AnswerRelay {
  readonly meter = new AnswerMeter();
  readonly #route: ApiRoute;
  #parts: Buffer[] = [];
  #bytes = 0;
  #read: 'pending' | 'ok' | 'bad' = 'pending';
  #held: Buffer = EMPTY;

  constructor(route: ApiRoute) {
    this.#route = route;
  }

  get complete(): boolean {
    return this.#read === 'ok';
  }

  push(chunk: Buffer): Buffer {
    this.#bytes += chunk.length;
    if (this.#bytes <= MAX_READ_ANSWER_BYTES) this.#parts.push(chunk);
    else this.#parts = [];
    const last = lastNonSpace(chunk);
    if (last < 0) {
      checkHeldBytes(this.#held.length + chunk.length); // whitespace after the closing brace, without end
      this.#held = this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk]);
      return EMPTY;
    }
    const out = this.#held.length === 0 ? chunk.subarray(0, last) : Buffer.concat([this.#held, chunk.subarray(0, last)]);
    this.#held = chunk.subarray(last);
    return out;
  }

  end(): Buffer {
    const tail = this.#held;
    this.#held = EMPTY;
    if (this.#bytes > MAX_READ_ANSWER_BYTES) {
      this.#read = 'ok'; // too large to read for usage; it is delivered whole
      this.meter.finished = true;
      return tail;
    }
    const json = parseJsonObject(Buffer.concat(this.#parts).toString('utf8'));
    this.#parts = [];
    // A Responses object carries `"error": null` when all is well.
    const failed = json !== undefined && json.error !== undefined && json.error !== null;
    this.#read = json === undefined || failed ? 'bad' : 'ok';
    if (json === undefined) return tail;
    const { surface, kind } = this.#route;
    if (kind === 'embedding') {
      const usage = json.usage as { prompt_tokens?: unknown } | undefined;
      const reported = surface === 'openai' ? usage?.prompt_tokens : json.prompt_eval_count;
      this.meter.embedding(typeof reported === 'number' ? reported : surface === 'ollama' ? 0 : undefined);
    } else if (kind === 'show') this.meter.finished = true;
    else if (kind === 'responses' || kind === 'messages') this.meter.event(readEventsObject(kind, json));
    else if (surface === 'openai') this.meter.openai(readOpenAiFrame(json));
    else this.meter.ollama(readOllamaFrame(json));
    if (failed) this.meter.error ??= String(typeof json.error === 'string' ? json.error : JSON.stringify(json.error));
    return tail;
  }
}

/** The index of the last byte of `chunk` that is not JSON whitespace; -1 when there is none. */
function lastNonSpace(chunk: Buffer): number {
  for (let i = chunk.length - 1; i >= 0; i--) {
    const b = chunk[i];
    if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return i;
  }
  return -1;
}

/** The error a node's answer ended with when it was not complete: the node's own, or "unfinished". */
export function unfinished(relay: AnswerRelay): ProximaError {
  const why = relay.meter.error ?? 'the node ended its answer without finishing it';
  return new ProximaError(ErrorCodes.NODE_FAILED, why);
}
