/**
 * Reads the requests of one public connection, one after the other: each head parsed strictly
 * (size-limited), each body delimited by its framing and passed on as received, never copied. The
 * reader can hold what follows a request (until an upgrade is answered, say), or a request whose
 * head it has read (until the answers due on another tunnel stream are out), and stop for good.
 */
import { createBodyFramer } from '../../proto/http/body.js';
import type { BodyFramer } from '../../proto/http/framing.js';
import { type RequestHead, RequestHeadParser } from '../../proto/http/request-head.js';

/** Where a reader sends what it reads. */
export interface RequestSink {
  /**
   * A complete request head, and the bytes after it in the chunk being read. Return true to read
   * its body; false to stop reading (the request was refused); 'hold' to keep the head and what
   * follows until `release()`, which offers the same head again.
   */
  head(head: RequestHead, rest: Buffer): boolean | 'hold';
  /** Bytes of the current request's body, as received (chunked framing included). */
  body(bytes: Buffer): void;
  /** The current request is complete; return false to hold the bytes after it until `release()`. */
  end(head: RequestHead): boolean;
}

const EMPTY = Buffer.alloc(0);

/** Reads requests from a connection's bytes. */
export class RequestReader {
  readonly #sink: RequestSink;
  readonly #heads: RequestHeadParser;
  #head: RequestHead | undefined;
  /** A head offered and held: `release()` offers it again before reading on. */
  #heldHead: RequestHead | undefined;
  #body: BodyFramer | undefined;
  #held: Buffer | undefined;
  #stopped = false;

  constructor(maxHeadBytes: number, sink: RequestSink) {
    this.#heads = new RequestHeadParser({ maxHeadBytes });
    this.#sink = sink;
  }

  /** True while part of a head has arrived but not all of it. */
  get midHead(): boolean {
    return this.#body === undefined && this.#heads.bufferedBytes > 0;
  }

  /** True while a request's head has been read but not all of its body. */
  get midBody(): boolean {
    return this.#body !== undefined;
  }

  /** True while bytes are held: the connection should stop reading until `release()`. */
  get holding(): boolean {
    return this.#held !== undefined;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Takes bytes from the connection. Throws an HttpError (400, 431) for a malformed head or body
   * framing; `midBody` then tells whether a request was under way.
   */
  push(chunk: Buffer): void {
    if (this.#stopped) return;
    if (this.#held !== undefined) this.#held = this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk]);
    else this.#read(chunk);
  }

  /** Reads the held bytes, if any, and goes on reading. */
  release(): void {
    const held = this.#held;
    this.#held = undefined;
    if (held !== undefined && (held.length > 0 || this.#heldHead !== undefined)) this.#read(held);
  }

  /** Takes the held bytes out (raw bytes after an upgrade) and stops reading. */
  takeHeld(): Buffer {
    const held = this.#held ?? EMPTY;
    this.stop();
    return held;
  }

  /** Reads nothing more. */
  stop(): void {
    this.#stopped = true;
    this.#held = undefined;
    this.#heldHead = undefined;
  }

  #read(chunk: Buffer): void {
    let data = chunk;
    while (!this.#stopped) {
      if (this.#body === undefined) {
        let head = this.#heldHead;
        this.#heldHead = undefined;
        if (head === undefined) {
          if (data.length === 0) return;
          const got = this.#heads.push(data);
          if (got === null) return;
          data = got.rest;
          head = got.head;
        }
        this.#head = head;
        const verdict = this.#sink.head(head, data);
        if (verdict === 'hold') {
          this.#heldHead = head;
          this.#held = data;
          return;
        }
        if (!verdict) {
          this.stop();
          return;
        }
        this.#body = createBodyFramer(head.framing);
      }
      if (!this.#body.done) {
        if (data.length === 0) return;
        const part = this.#body.push(data);
        if (part.bytes.length > 0) this.#sink.body(part.bytes);
        data = part.rest;
        if (!part.done || this.#stopped) return;
      }
      this.#body = undefined;
      if (!this.#sink.end(this.#head!) && !this.#stopped) {
        this.#held = data;
        return;
      }
    }
  }
}
