/**
 * Server-sent events, incrementally (WHATWG HTML "event stream interpretation"): lines end in
 * CRLF, LF or CR; `data:` lines accumulate; a blank line dispatches; lines starting with `:` are
 * comments. The super node reads a node's SSE stream event by event, so it can pass each one on
 * at once, count what it carries, and drop the usage chunk a user did not ask for.
 */
import { ErrorCodes, ProximaError } from '../../errors.js';

/** One dispatched event, or a comment line (`: keep-alive`). */
export type SseItem = { kind: 'event'; data: string; event: string | undefined } | { kind: 'comment'; text: string };

/** Largest event the parser holds (a chat chunk is a few hundred bytes). */
export const MAX_SSE_EVENT_BYTES = 1024 * 1024;

/** Splits a byte stream into SSE events and comments, however it is chunked. */
export class SseParser {
  #partial = '';
  #data: string[] = [];
  #dataBytes = 0;
  #event: string | undefined;
  #skipLf = false;

  readonly #maxEventBytes: number;

  constructor(maxEventBytes = MAX_SSE_EVENT_BYTES) {
    this.#maxEventBytes = maxEventBytes;
  }

  push(chunk: Buffer): SseItem[] {
    const out: SseItem[] = [];
    // UTF-8 is never split inside a line terminator, and a multi-byte character split across
    // chunks stays in `partial` until its line ends: decode only whole lines.
    let text = chunk.toString('latin1');
    if (this.#skipLf && text.startsWith('\n')) text = text.slice(1);
    this.#skipLf = false;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      const line = this.#partial + text.slice(start, i);
      this.#partial = '';
      this.#line(Buffer.from(line, 'latin1').toString('utf8'), out);
      if (c === 0x0d) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 0x0a) i++;
        } else this.#skipLf = true;
      }
      start = i + 1;
    }
    this.#partial += text.slice(start);
    if (this.#partial.length + this.#dataBytes > this.#maxEventBytes) {
      throw new ProximaError(ErrorCodes.HTTP_BAD_RESPONSE, `an SSE event exceeds ${this.#maxEventBytes} bytes`);
    }
    return out;
  }

  #line(text: string, out: SseItem[]): void {
    if (text === '') {
      if (this.#data.length > 0 || this.#event !== undefined) out.push({ kind: 'event', data: this.#data.join('\n'), event: this.#event });
      this.#data = [];
      this.#dataBytes = 0;
      this.#event = undefined;
      return;
    }
    if (text.startsWith(':')) {
      out.push({ kind: 'comment', text: text.slice(1).trimStart() });
      return;
    }
    const colon = text.indexOf(':');
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      this.#data.push(value);
      this.#dataBytes += value.length;
    } else if (field === 'event') this.#event = value;
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
