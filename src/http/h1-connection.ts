/**
 * One HTTP/1.1 exchange at a time on one stream (a tunnel stream to a node): the request written
 * with its head, the answer read with the project's own parsers (src/proto/http), strictly: 1xx heads
 * skipped, Content-Length, chunked (decoded for the caller) and close-delimited bodies, anything
 * ambiguous refused. The stream is offered again (`onIdle`) only after an answer read to its end on
 * a connection both sides keep; anything else ends or resets it (`onGone`).
 */

import type { Duplex } from 'node:stream';
import { Readable } from 'node:stream';
import type { CancelSignal } from '../cancel.js';
import { ChunkedFramer } from '../proto/http/chunked.js';
import { RESPONSE_SIDE } from '../proto/http/error.js';
import type { ResponseHead } from '../proto/http/response-head.js';
import { MAX_RESPONSE_HEAD_BYTES, ResponseHeadParser } from '../proto/http/response-head.js';
import { abortStream } from '../streams/stream-relay.js';
import type { DispatchRequest, DispatchResponse } from './dispatcher.js';
import { writeRequest } from './h1-request.js';

/** What a connection tells its pool. */
export interface H1ConnectionEvents {
  /** The answer was read whole and the stream may carry the next request. */
  onIdle(connection: H1Connection): void;
  /** The stream is done with (ended, reset or failed): it carries nothing more. */
  onGone(connection: H1Connection): void;
}

/** A failure of the stream or of the answer: a plain Error, as the callers treat any failure on the way to a node. */
function failure(message: string, cause?: unknown): Error {
  return new Error(message, cause === undefined ? undefined : { cause });
}

/** The answer's body; destroying it before its end resets the stream. */
class ResponseBody extends Readable {
  readonly #connection: H1Connection;
  constructor(connection: H1Connection) {
    super({ highWaterMark: 64 * 1024 });
    this.#connection = connection;
  }
  override _read(): void {
    this.#connection.resumeReading();
  }
  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#connection.bodyDestroyed(this);
    callback(err);
  }
}

/** The exchange in progress. */
interface Exchange {
  method: string;
  resolve(response: DispatchResponse): void;
  reject(err: Error): void;
  signal: CancelSignal | undefined;
  onAbort: () => void;
  /** Set once the final head is read. */
  body?: ResponseBody;
  /** True once the caller has the answer: a failure then errors its body instead of rejecting. */
  resolved: boolean;
  framing?: 'length' | 'chunked' | 'close';
  remaining: number;
  chunked?: ChunkedFramer;
  keepAlive: boolean;
  /** True once the whole request was handed to the stream. */
  sent: boolean;
}

/** A stream carrying one exchange at a time. */
export class H1Connection {
  readonly stream: Duplex;
  readonly #events: H1ConnectionEvents;
  readonly #heads = new ResponseHeadParser({ maxHeadBytes: MAX_RESPONSE_HEAD_BYTES });
  #exchange: Exchange | undefined;
  #gone = false;

  constructor(stream: Duplex, events: H1ConnectionEvents) {
    this.stream = stream;
    this.#events = events;
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('end', () => this.#onEnd());
    stream.on('error', (err: Error) => this.#fail(failure(`the stream to the node failed: ${err.message}`, err)));
    stream.on('close', () => this.#fail(failure('the stream to the node closed before the answer was complete')));
  }

  /** Sends `request`, whose head is `head` (requestHead); resolves with the answer's head and body. One at a time. */
  send(head: Buffer, request: DispatchRequest): Promise<DispatchResponse> {
    if (this.#exchange !== undefined || this.#gone) return Promise.reject(failure('the stream is not free'));
    const { signal } = request;
    return new Promise<DispatchResponse>((resolve, reject) => {
      const exchange: Exchange = {
        method: request.method,
        resolve,
        reject,
        signal,
        onAbort: () => this.#fail(signal!.reason as Error),
        remaining: 0,
        resolved: false,
        keepAlive: false,
        sent: false,
      };
      this.#exchange = exchange;
      signal?.addEventListener('abort', exchange.onAbort, { once: true });
      writeRequest(this.stream, head, request.body, (err) => {
        if (err !== undefined) this.#fail(err);
        else if (this.#exchange === exchange) exchange.sent = true;
      });
    });
  }

  /** Ends an idle stream gracefully. */
  end(): void {
    if (!this.stream.destroyed && !this.stream.writableEnded) this.stream.end();
  }

  /** Cuts the stream and fails the exchange in progress with `err`. */
  destroy(err: Error): void {
    this.#fail(err);
  }

  /** The body's reader wants more. */
  resumeReading(): void {
    if (this.stream.isPaused()) this.stream.resume();
  }

  /** The body was destroyed: before its end, the rest of the answer is not to be read. */
  bodyDestroyed(body: ResponseBody): void {
    if (this.#exchange?.body === body) this.#fail(failure('the answer was dropped before its end'));
  }

  #onData(chunk: Buffer): void {
    const exchange = this.#exchange;
    if (exchange === undefined) return this.#fail(failure('the node sent bytes with no request'));
    try {
      if (exchange.body === undefined) this.#readHead(exchange, chunk);
      else this.#readBody(exchange, chunk);
    } catch (err) {
      this.#fail(failure(`the node's answer is malformed: ${(err as Error).message}`, err));
    }
  }

  #readHead(exchange: Exchange, input: Buffer): void {
    let chunk = input;
    for (;;) {
      const got = this.#heads.push(chunk);
      if (got === null) return;
      const framing = got.head.framing(exchange.method);
      chunk = got.rest;
      if (framing.kind === 'interim') continue;
      if (framing.kind === 'upgrade') throw RESPONSE_SIDE.syntax(`unexpected ${got.head.status} answer`);
      exchange.body = new ResponseBody(this);
      exchange.keepAlive = got.head.keepAlive && framing.kind !== 'close';
      if (framing.kind === 'chunked') {
        exchange.framing = 'chunked';
        exchange.chunked = new ChunkedFramer(RESPONSE_SIDE, { maxChunkLineBytes: 1024, maxTrailerBytes: 16 * 1024 });
      } else {
        exchange.framing = framing.kind === 'close' ? 'close' : 'length';
        exchange.remaining = framing.kind === 'length' ? framing.length : 0;
      }
      const response = { statusCode: got.head.status, headers: headersOf(got.head), body: exchange.body };
      // The body bytes that came with the head are read first: a fault in them rejects the request.
      if (exchange.framing === 'length' && exchange.remaining === 0) this.#complete(exchange, chunk.length === 0);
      else if (chunk.length > 0) this.#readBody(exchange, chunk);
      exchange.resolved = true;
      exchange.resolve(response);
      return;
    }
  }

  #readBody(exchange: Exchange, chunk: Buffer): void {
    const body = exchange.body!;
    let more = true;
    if (exchange.framing === 'close') {
      more = body.push(chunk);
    } else if (exchange.framing === 'length') {
      const take = Math.min(exchange.remaining, chunk.length);
      exchange.remaining -= take;
      more = body.push(take === chunk.length ? chunk : chunk.subarray(0, take));
      if (exchange.remaining === 0) return this.#complete(exchange, take === chunk.length);
    } else {
      // One push per read, not per chunk: a streamed answer's tokens come a chunk each, often
      // dozens in one read, and each push is a 'data' event the caller handles whole (one relay
      // pass, one write to the user). The read is ours alone: its chunk data is moved together in it.
      const part = exchange.chunked!.decodeInPlace(chunk);
      if (part.data.length > 0) more = body.push(part.data);
      if (part.done) return this.#complete(exchange, part.rest.length === 0);
    }
    if (!more) this.stream.pause();
  }

  /** The answer is whole; `clean` is false when bytes followed it. */
  #complete(exchange: Exchange, clean: boolean): void {
    this.#exchange = undefined;
    exchange.signal?.removeEventListener('abort', exchange.onAbort);
    exchange.body!.push(null);
    if (clean && exchange.keepAlive && exchange.sent && !this.#gone) {
      if (this.stream.isPaused()) this.stream.resume();
      this.#events.onIdle(this);
      return;
    }
    this.#gone = true;
    if (clean && exchange.sent) this.end();
    else abortStream(this.stream);
    this.#events.onGone(this);
  }

  #onEnd(): void {
    const exchange = this.#exchange;
    if (exchange?.framing === 'close') return this.#complete(exchange, true);
    if (exchange !== undefined) return this.#fail(failure('the node ended the stream before the answer was complete'));
    // Idle: the node closed its side; ours goes too.
    if (this.#gone) return;
    this.#gone = true;
    this.end();
    this.#events.onGone(this);
  }

  #fail(err: Error): void {
    const exchange = this.#exchange;
    this.#exchange = undefined;
    if (exchange !== undefined) {
      exchange.signal?.removeEventListener('abort', exchange.onAbort);
      const { body } = exchange;
      if (!exchange.resolved) {
        body?.destroy();
        exchange.reject(err);
      } else if (body !== undefined && !body.destroyed) {
        // A caller that stopped listening must not see the error thrown as uncaught.
        if (body.listenerCount('error') === 0) body.on('error', ignore);
        body.destroy(err);
      }
    }
    abortStream(this.stream);
    if (this.#gone) return;
    this.#gone = true;
    this.#events.onGone(this);
  }
}

function ignore(): void {}

/** The answer's headers by lower-case name; a field on several lines is an array. */
function headersOf(head: ResponseHead): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const { list, lowerNames } = head.fields;
  for (let i = 0; i < list.length; i++) {
    const name = lowerNames[i]!;
    const value = list[i]![1];
    const had = out[name];
    if (had === undefined) out[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else out[name] = [had, value];
  }
  return out;
}
