/**
 * The relay of a whole (non-streamed) answer (answer-relays.ts has the streams'): passed on as it
 * comes, read for usage once it is all there, its last byte held until the usage record is durable.
 */
import { readEventsObject } from '../../../proto/llm/event-frames.js';
import { parseJsonObject, readOllamaFrame, readOpenAiFrame } from '../../../proto/llm/frames.js';
import type { ApiRoute } from '../api-routes.js';
import { AnswerMeter } from './answer-meter.js';
import { checkHeldBytes } from './held-tail.js';

/** The most of a whole (non-streamed) answer kept to be read for usage; larger ones pass unread. */
export const MAX_READ_ANSWER_BYTES = 16 * 1024 * 1024;

const EMPTY = Buffer.alloc(0);

/**
 * A whole JSON answer: passed on as it comes, read once it is all there. Its last non-whitespace
 * byte (the closing brace) and what follows it are held, so the user cannot parse it before `end`.
 * An AnswerRelay (answer-relays.ts), not declared so: that module imports this one.
 */
export class WholeRelay {
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
