/**
 * Server-sent events, incrementally (WHATWG HTML "event stream interpretation"): lines end in
 * CRLF, LF or CR; `data:` lines accumulate; a blank line dispatches; lines starting with `:` are
 * comments. The super node reads a node's SSE stream event by event, so it can pass each one on
 * at once, count what it carries, and drop the usage chunk a user did not ask for.
 */
import { isUtf8 } from 'node:buffer';
import { ErrorCodes, ProximaError } from '../../errors.js';

/** One dispatched event, or a comment line (`: keep-alive`). */
export type SseItem = { kind: 'event'; data: string; event: string | undefined } | { kind: 'comment'; text: string };

/** Largest event the parser holds (a chat chunk is a few hundred bytes). */
export const MAX_SSE_EVENT_BYTES = 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;
const DATA_PREFIX = Buffer.from('data: ', 'latin1');

/**
 * Splits a byte stream into SSE events and comments, however it is chunked. It reads bytes and
 * decodes only what it keeps (a field's value, a comment), once.
 */
export class SseParser {
  /** The bytes of a line not yet ended. */
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #data: string[] = [];
  #dataBytes = 0;
  #event: string | undefined;
  #skipLf = false;
  /** Lines of the event being read, and whether it is one `data: ` line ended by LF, begun at `#rawStart` of this chunk. */
  #lines = 0;
  #canonical = false;
  #rawStart = -1;

  readonly #maxEventBytes: number;

  constructor(maxEventBytes = MAX_SSE_EVENT_BYTES) {
    this.#maxEventBytes = maxEventBytes;
  }

  /** True between events: nothing of a line or an event is held, so the next byte starts a line. */
  get idle(): boolean {
    return this.#partialBytes === 0 && this.#lines === 0 && this.#data.length === 0 && this.#event === undefined && !this.#skipLf;
  }

  /**
   * The events and comments completed by `chunk`. With `raws`, one entry per item is pushed to it:
   * the event's own bytes in `chunk` when they are exactly `data: <data>\n\n` in valid UTF-8 (what
   * serialising the item again would give), else undefined; a relay passes those on as they are.
   */
  push(chunk: Buffer, raws?: (Buffer | undefined)[]): SseItem[] {
    const out: SseItem[] = [];
    let start = 0;
    if (this.#skipLf && chunk.length > 0 && chunk[0] === LF) start = 1;
    this.#skipLf = false;
    this.#rawStart = -1;
    let nextLf = chunk.indexOf(LF, start);
    let nextCr = chunk.indexOf(CR, start);
    while (nextLf >= 0 || nextCr >= 0) {
      const i = nextCr < 0 || (nextLf >= 0 && nextLf < nextCr) ? nextLf : nextCr;
      const whole = this.#partialBytes === 0;
      const piece = chunk.subarray(start, i);
      const line = whole ? piece : Buffer.concat([...this.#partial, piece]);
      this.#partial = [];
      this.#partialBytes = 0;
      this.#line(line, chunk[i] === LF && whole ? start : -1, i, chunk, out, raws);
      let end = i;
      if (chunk[i] === CR) {
        if (i + 1 < chunk.length) {
          if (chunk[i + 1] === LF) end = i + 1;
        } else this.#skipLf = true;
      }
      start = end + 1;
      if (nextLf >= 0 && nextLf < start) nextLf = chunk.indexOf(LF, start);
      if (nextCr >= 0 && nextCr < start) nextCr = chunk.indexOf(CR, start);
    }
    if (start < chunk.length) {
      this.#partial.push(chunk.subarray(start));
      this.#partialBytes += chunk.length - start;
    }
    if (this.#partialBytes + this.#dataBytes > this.#maxEventBytes) {
      throw new ProximaError(ErrorCodes.HTTP_BAD_RESPONSE, `an SSE event exceeds ${this.#maxEventBytes} bytes`);
    }
    return out;
  }

  /**
   * One line (without its end, at `at` of `chunk`). `lineStart` is where it began in `chunk` when it
   * lies whole there and ends with a bare LF, else -1.
   */
  #line(line: Buffer, lineStart: number, at: number, chunk: Buffer, out: SseItem[], raws: (Buffer | undefined)[] | undefined): void {
    if (line.length === 0) {
      if (this.#data.length > 0 || this.#event !== undefined) {
        out.push({ kind: 'event', data: this.#data.join('\n'), event: this.#event });
        if (raws !== undefined) {
          const canonical = this.#canonical && this.#lines === 1 && lineStart >= 0 && this.#rawStart >= 0;
          const raw = canonical ? chunk.subarray(this.#rawStart, at + 1) : undefined;
          raws.push(raw !== undefined && isUtf8(raw) ? raw : undefined);
        }
      }
      this.#data = [];
      this.#dataBytes = 0;
      this.#event = undefined;
      this.#lines = 0;
      this.#canonical = false;
      this.#rawStart = -1;
      return;
    }
    this.#lines++;
    this.#canonical = this.#lines === 1 && lineStart >= 0 && line.length >= 6 && line.subarray(0, 6).equals(DATA_PREFIX);
    if (this.#canonical) this.#rawStart = lineStart;
    if (line[0] === COLON) {
      out.push({ kind: 'comment', text: line.toString('utf8', 1).trimStart() });
      raws?.push(undefined);
      return;
    }
    const colon = line.indexOf(COLON);
    const fieldEnd = colon < 0 ? line.length : colon;
    let valueStart = colon < 0 ? line.length : colon + 1;
    if (line[valueStart] === SPACE) valueStart++;
    if (fieldEnd === 4 && line.toString('latin1', 0, 4) === 'data') {
      const value = line.toString('utf8', valueStart);
      this.#data.push(value);
      this.#dataBytes += value.length;
    } else if (fieldEnd === 5 && line.toString('latin1', 0, 5) === 'event') this.#event = line.toString('utf8', valueStart);
  }
}

/** One SSE event carrying `data` (one line of JSON, say). */
export function sseEvent(data: string): Buffer {
  return Buffer.from(`data: ${data}\n\n`, 'utf8');
}

/** An SSE comment: ignored by clients, keeps front proxies from timing out an idle stream. */
export function sseComment(text: string): Buffer {
  return Buffer.from(`: ${text}\n\n`, 'utf8');
}
