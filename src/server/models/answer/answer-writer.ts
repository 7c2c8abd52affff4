/**
 * The user's end of one answer: the head (once), the bytes (flushed as written, with the socket's
 * backpressure), SSE keep-alive comments while a stream waits for its first token, and errors in the
 * right form: a JSON error before the head, in-band once a stream has begun, a cut connection once
 * a whole JSON answer has begun (a short body must never pass for a complete one).
 */
import type { HttpResponse } from '../../../http/exchange.js';
import type { Logger } from '../../../log.js';
import { sseComment } from '../../../proto/llm/sse.js';
import { abortStream } from '../../../streams/stream-relay.js';
import { inBandError, type Surface, sendApiError } from '../api-errors.js';

/** How the answer is framed: SSE or NDJSON streams take in-band errors; a whole answer cannot. */
export type AnswerFraming = 'sse' | 'ndjson' | 'whole';

/** Headers of a streamed answer: no cache, and no buffering in nginx. */
export const STREAM_HEADERS: Readonly<Record<string, string>> = { 'cache-control': 'no-cache', 'x-accel-buffering': 'no' };

const KEEP_ALIVE = sseComment('keep-alive');

/** Writes one answer to the user. */
export class AnswerWriter {
  /** Body bytes written (keep-alives and in-band errors included). */
  bytesOut = 0;
  readonly #res: HttpResponse;
  readonly #surface: Surface;
  readonly #framing: AnswerFraming;
  readonly #headers: Record<string, string>;
  readonly #logger: Logger;

  constructor(res: HttpResponse, options: { surface: Surface; framing: AnswerFraming; headers: Record<string, string>; logger: Logger }) {
    this.#res = res;
    this.#surface = options.surface;
    this.#framing = options.framing;
    this.#headers = { ...options.headers };
    this.#logger = options.logger;
  }

  /** True once the head is out: from then on the user has a byte and no other node may answer. */
  get started(): boolean {
    return this.#res.headersSent;
  }

  /** True once the user is gone or the answer is over. */
  get closed(): boolean {
    return this.#res.destroyed || this.#res.writableEnded;
  }

  /** A header every answer from now on carries (x-proxima-node once a node is chosen). */
  setHeader(name: string, value: string): void {
    this.#headers[name] = value;
  }

  /** Sends the head of the node's answer. */
  head(status: number, headers: Record<string, string>): void {
    if (this.started || this.closed) return;
    const stream = this.#framing === 'whole' ? {} : STREAM_HEADERS;
    this.#res.writeHead(status, { ...headers, ...stream, ...this.#headers });
  }

  /** Writes answer bytes; false when the user's socket is full (wait for `drain`). */
  write(bytes: Buffer): boolean {
    if (bytes.length === 0 || this.closed) return true;
    this.bytesOut += bytes.length;
    return this.#res.write(bytes);
  }

  /** Calls `fn` once the user's socket has room again. */
  onDrain(fn: () => void): void {
    this.#res.once('drain', fn);
  }

  /** An SSE comment while the first token is awaited; it sends a 200 SSE head if none is out. */
  keepAlive(): void {
    if (this.#framing !== 'sse' || this.closed) return;
    this.head(200, { 'content-type': 'text/event-stream' });
    this.write(KEEP_ALIVE);
  }

  /** Ends the answer. */
  end(): void {
    if (!this.closed) this.#res.end();
  }

  /**
   * Ends the answer with `err`: as a JSON error (with `retryAfterMs` for 429/503) when nothing was
   * sent, in-band in a stream, or by cutting the connection in a whole answer already begun.
   */
  fail(err: unknown, retryAfterMs?: number): void {
    if (this.closed) return;
    if (!this.started) {
      sendApiError(this.#res, this.#surface, err, { headers: this.#headers, retryAfterMs, logger: this.#logger });
      return;
    }
    if (this.#framing === 'whole') {
      const socket = this.#res.socket;
      if (socket === null) this.#res.destroy();
      else abortStream(socket);
      return;
    }
    this.write(inBandError(this.#surface, err));
    this.#res.end();
  }
}
