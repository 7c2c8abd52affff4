/**
 * A response written straight to the user's connection (HttpResponse), framed as node:http's
 * ServerResponse frames it (Node 20, _http_outgoing.js and _http_server.js), byte for byte: the
 * same status line, headers in the order set, Date, Connection and Keep-Alive, then Content-Length
 * when end() gives the whole body before the head went out, chunked otherwise; no body for HEAD,
 * 204 and 304. Because it writes the framing itself, it knows where the response ends and whether
 * the connection may carry another: its sink hears both, nothing parses the bytes again.
 */
import { EventEmitter } from 'node:events';
import type { OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';
import { chunkParts, LAST_CHUNK } from '../proto/http/chunked.js';
import { asksChunked, checkHeader, type HeaderValue, hasBadFieldChar, pairsOf, renderHead } from './served-head.js';
import { STATUS_REASONS } from './status-reasons.js';

/** Where a response goes. */
export interface ResponseSink {
  /** Bytes for the user; false when the user's socket is full (call `drained()` when it is not). */
  write(bytes: Buffer): boolean;
  /** The last byte is written; `keepAlive` false when the connection must close after it. */
  end(keepAlive: boolean): void;
  /** The handler cut the response (`destroy()`); `started` when bytes of it went out. */
  cut(started: boolean): void;
}

/** What node:http would know of the request and the server. */
export interface ServedResponseOptions {
  method: string;
  /** The request allows another on the connection (HTTP/1.1 without close, 1.0 with keep-alive). */
  keepAlive: boolean;
  /** An HTTP/1.0 request: no chunked answer unless its TE asks for one. */
  http10: boolean;
  /** The request's TE field (HTTP/1.0 only matters). */
  te?: string | undefined;
  /** What `Keep-Alive: timeout=` says, in seconds; 0 says nothing. */
  keepAliveSeconds: number;
}

type Value = HeaderValue;

/** A response for one request of a public connection. */
export class ServedResponse extends EventEmitter {
  statusCode = 200;
  statusMessage = '';
  readonly #sink: ResponseSink;
  readonly #o: ServedResponseOptions;
  /** Headers set before the head: lower-case name → [name as set, value]. */
  readonly #headers = new Map<string, [string, Value]>();
  /** The rendered head, once decided; undefined before. */
  #head: Buffer | undefined;
  #headOut = false;
  #hasBody: boolean;
  #chunked = false;
  #last = false;
  #removed = { connection: false, contentLength: false, te: false };
  #contentLength: number | undefined;
  #ended = false;
  #finished = false;
  #destroyed = false;
  #needDrain = false;
  #closed = false;

  constructor(sink: ResponseSink, options: ServedResponseOptions) {
    super();
    this.#sink = sink;
    this.#o = options;
    this.#hasBody = options.method !== 'HEAD';
  }

  get headersSent(): boolean {
    return this.#head !== undefined;
  }

  /** Bytes of it went to the user. */
  get started(): boolean {
    return this.#headOut;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  get writableEnded(): boolean {
    return this.#ended;
  }

  get writableFinished(): boolean {
    return this.#finished;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get socket(): null {
    return null;
  }

  setHeader(name: string, value: Value): this {
    if (this.#head !== undefined) throw new Error(`cannot set ${name} after the head is sent`);
    checkHeader(name, value);
    this.#headers.set(name.toLowerCase(), [name, value]);
    return this;
  }

  getHeader(name: string): number | string | string[] | undefined {
    return this.#headers.get(name.toLowerCase())?.[1] as number | string | string[] | undefined;
  }

  hasHeader(name: string): boolean {
    return this.#headers.has(name.toLowerCase());
  }

  removeHeader(name: string): void {
    if (this.#head !== undefined) throw new Error(`cannot remove ${name} after the head is sent`);
    const key = name.toLowerCase();
    if (key === 'connection') this.#removed.connection = true;
    else if (key === 'content-length') this.#removed.contentLength = true;
    else if (key === 'transfer-encoding') this.#removed.te = true;
    this.#headers.delete(key);
  }

  writeHead(
    status: number,
    reason?: string | OutgoingHttpHeaders | OutgoingHttpHeader[],
    obj?: OutgoingHttpHeaders | OutgoingHttpHeader[],
  ): this {
    if (this.#head !== undefined) throw new Error('the head is sent already');
    if (!Number.isInteger(status) || status < 100 || status > 999) throw new RangeError(`invalid status code ${status}`);
    let given = obj;
    if (typeof reason === 'string') this.statusMessage = reason;
    else {
      if (this.statusMessage === '') this.statusMessage = STATUS_REASONS[status] ?? 'unknown';
      given ??= reason;
    }
    this.statusCode = status;
    let lines: [string, Value][];
    if (this.#headers.size > 0) {
      for (const [name, value] of pairsOf(given)) this.setHeader(name, value);
      lines = [...this.#headers.values()];
    } else {
      lines = pairsOf(given);
      for (const [name, value] of lines) checkHeader(name, value);
    }
    if (hasBadFieldChar(this.statusMessage)) throw new Error('invalid character in the status message');
    if (status === 204 || status === 304 || status < 200) this.#hasBody = false;
    const o = this.#o;
    const head = renderHead(`HTTP/1.1 ${status} ${this.statusMessage}\r\n`, lines, {
      statusCode: status,
      hasBody: this.#hasBody,
      shouldKeepAlive: o.keepAlive,
      chunkedByDefault: !o.http10 || asksChunked(o.te),
      removed: this.#removed,
      contentLength: this.#contentLength,
      keepAliveSeconds: o.keepAliveSeconds,
    });
    this.#head = head.bytes;
    this.#chunked = head.chunked;
    this.#last = head.last;
    return this;
  }

  write(chunk: string | Uint8Array): boolean {
    if (this.#ended || this.#destroyed) return false;
    if (this.#head === undefined) this.writeHead(this.statusCode);
    if (!this.#hasBody) return true;
    const data = toBuffer(chunk);
    if (this.#chunked) {
      if (data.length === 0) return this.#flushHead();
      let more = true;
      for (const part of chunkParts(data)) more = this.#send(part);
      return more;
    }
    return this.#send(data);
  }

  end(chunk?: string | Uint8Array): this {
    if (this.#ended || this.#destroyed) return this;
    const data = chunk === undefined ? undefined : toBuffer(chunk);
    if (this.#head === undefined) {
      this.#contentLength = data?.length ?? 0;
      this.writeHead(this.statusCode);
    }
    if (data !== undefined && data.length > 0) this.write(data);
    if (this.#hasBody && this.#chunked) this.#send(LAST_CHUNK);
    else this.#flushHead();
    this.#ended = true;
    this.#finished = true;
    this.#sink.end(!this.#last);
    process.nextTick(() => {
      this.emit('finish');
      this.#close();
    });
    return this;
  }

  flushHeaders(): void {
    if (this.#head === undefined) this.writeHead(this.statusCode);
    this.#flushHead();
  }

  destroy(_error?: Error): this {
    if (this.#destroyed || this.#finished) return this;
    this.#destroyed = true;
    process.nextTick(() => this.#close());
    this.#sink.cut(this.#headOut);
    return this;
  }

  /** The user's socket takes writes again. */
  drained(): void {
    if (!this.#needDrain || this.#destroyed) return;
    this.#needDrain = false;
    this.emit('drain');
  }

  /** The connection is gone (the user left, or it closed): 'close', and nothing more is written. */
  abandon(): void {
    if (this.#destroyed || this.#finished) return;
    this.#destroyed = true;
    process.nextTick(() => this.#close());
  }

  #close(): void {
    this.#closed = true;
    this.emit('close');
  }

  #flushHead(): boolean {
    return this.#headOut ? !this.#needDrain : this.#send(undefined);
  }

  #send(data: Buffer | undefined): boolean {
    let room = true;
    if (!this.#headOut) {
      this.#headOut = true;
      room = this.#sink.write(this.#head!);
    }
    if (data !== undefined) room = this.#sink.write(data);
    if (!room) this.#needDrain = true;
    return !this.#needDrain;
  }
}

function toBuffer(chunk: string | Uint8Array): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
