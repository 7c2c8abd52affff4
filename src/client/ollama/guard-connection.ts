/**
 * One tunnel stream served as HTTP/1.1 by the guard, with the project's own parsers (no node:http):
 * request heads read one at a time (bounded), each request handed to the guard, the next one read
 * once its answer has ended; bytes that came early (pipelined) wait for their turn. A body is read
 * whole only when the guard asks (bounded in size and time); any other is skipped after the answer.
 * A head that does not parse gets 400 (431 when too long) and the stream ends. The super node never
 * ends a stream while an answer is due: an end then means the user left, and the request is cut.
 */

import type { Duplex } from 'node:stream';
import { Cancel, type CancelSignal } from '../../cancel.js';
import { ErrorCodes, ProximaError } from '../../errors.js';
import type { BodyLimits } from '../../http/request-body.js';
import type { Logger } from '../../log.js';
import { createBodyFramer } from '../../proto/http/body.js';
import { type HttpError, httpErrorResponse, REQUEST_SIDE } from '../../proto/http/error.js';
import type { BodyFramer } from '../../proto/http/framing.js';
import { type RequestHead, RequestHeadParser } from '../../proto/http/request-head.js';
import { abortStream } from '../../streams/stream-relay.js';
import { WholeBody } from './chunked-body.js';

/** Bytes read ahead of the request being answered before the stream is paused. */
const MAX_AHEAD_BYTES = 256 * 1024;
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/** One request on a guarded stream, as the guard answers it. */
export class GuardRequest {
  readonly head: RequestHead;
  /** The target's path, without its query, as sent. */
  readonly path: string;
  /** Fires when the stream ends or closes before the answer did: the user left. */
  readonly signal: CancelSignal;
  readonly stream: Duplex;
  /** The status answered, once a head went out. */
  status = 0;
  headSent = false;
  finished = false;
  /** The stream ends after this answer (a refusal that leaves a body unread, a request with `Connection: close`). */
  closeAfter: boolean;
  readonly #readBody: (limits: BodyLimits) => Promise<Buffer>;

  constructor(head: RequestHead, stream: Duplex, signal: CancelSignal, readBody: (limits: BodyLimits) => Promise<Buffer>) {
    this.head = head;
    this.path = head.target.split('?', 1)[0]!;
    this.stream = stream;
    this.signal = signal;
    this.closeAfter = !head.keepAlive;
    this.#readBody = readBody;
  }

  /** The whole body (decoded): PRX_ERR_HTTP_BODY_TOO_LARGE, PRX_ERR_HTTP_BODY_TIMEOUT, PRX_ERR_HTTP_BAD_REQUEST. */
  readBody(limits: BodyLimits): Promise<Buffer> {
    return this.#readBody(limits);
  }

  /**
   * Sends the answer's head, then the first bytes of its body, in one turn: one frame on the tunnel.
   * Never copied into one buffer: that copy was the whole answer when it came with its head (a short
   * one always does), through Node's 8 KiB pool (performance-notes.md, "The node's memory after load").
   */
  sendHead(status: number, head: Buffer, first?: Buffer): boolean {
    this.status = status;
    this.headSent = true;
    if (first === undefined || first.length === 0) return this.stream.write(head);
    // A head passed as Ollama sent it lies just before the body read with it: one view; else two writes.
    if (head.buffer === first.buffer && head.byteOffset + head.length === first.byteOffset) {
      return this.stream.write(Buffer.from(head.buffer, head.byteOffset, head.length + first.length));
    }
    this.stream.write(head);
    return this.stream.write(first);
  }

  /** Sends a whole answer in one write. */
  reply(status: number, bytes: Buffer): void {
    this.sendHead(status, bytes);
    this.finished = true;
  }
}

/** Serves HTTP on one stream; `done` settles once the stream has closed. */
export class GuardConnection {
  readonly done: Promise<void>;
  readonly #stream: Duplex;
  readonly #handle: (request: GuardRequest) => Promise<void>;
  readonly #logger: Logger;
  readonly #idleTimeoutMs: number;
  readonly #parser: RequestHeadParser;
  /** One timer for the stream's life, refreshed after each answer; it does nothing while a request is in progress. */
  readonly #idle: NodeJS.Timeout;
  /** The request in progress, from its head to the end of its answer. */
  #current: { request: GuardRequest; abort: Cancel } | undefined;
  /** Bytes received and not yet taken. */
  #ahead: Buffer[] = [];
  #aheadBytes = 0;
  /** Reading the current request's body: where it ends, and who takes it. */
  #body: { framer: BodyFramer; take: ((bytes: Buffer, done: boolean) => void) | undefined; fail?: (err: Error) => void } | undefined;
  #closed = false;

  constructor(
    stream: Duplex,
    options: { handle: (request: GuardRequest) => Promise<void>; logger: Logger; idleTimeoutMs: number; maxHeadBytes: number },
  ) {
    this.#stream = stream;
    this.#handle = options.handle;
    this.#logger = options.logger;
    this.#idleTimeoutMs = options.idleTimeoutMs;
    this.#parser = new RequestHeadParser({ maxHeadBytes: options.maxHeadBytes });
    this.done = new Promise((resolve) =>
      stream.once('close', () => {
        this.#closed = true;
        clearTimeout(this.#idle);
        // A body still being read is given up now: its timer and what it gathered go with it.
        const body = this.#body;
        if (body?.fail !== undefined) {
          body.take = () => undefined;
          body.fail(new Error('the stream closed'));
        }
        this.#current?.abort.abort(new ProximaError(ErrorCodes.TARGET_UNREACHABLE, 'the request was cancelled'));
        resolve();
      }),
    );
    stream.on('error', () => undefined); // a reset: 'close' follows, and does the rest
    stream.on('end', () => {
      if (this.#current !== undefined) return abortStream(stream);
      this.#closed = true;
      stream.end();
    });
    stream.on('data', (chunk: Buffer) => this.#received(chunk));
    this.#idle = setTimeout(() => this.#idled(), this.#idleTimeoutMs);
    this.#idle.unref();
  }

  /** Cuts the stream and the request in progress. */
  destroy(): void {
    abortStream(this.#stream);
  }

  #idled(): void {
    if (this.#current !== undefined || this.#closed) return; // refreshed when the answer ends
    this.#closed = true;
    this.#stream.end();
  }

  #received(chunk: Buffer): void {
    if (this.#closed) return;
    this.#ahead.push(chunk);
    this.#aheadBytes += chunk.length;
    this.#pump();
    if (this.#aheadBytes > MAX_AHEAD_BYTES) this.#stream.pause();
  }

  /** Takes what was received: into the head parser, the body being read or skipped; else it waits. */
  #pump(): void {
    while (this.#ahead.length > 0 && !this.#closed) {
      if (this.#body !== undefined) {
        if (this.#body.take === undefined && this.#current !== undefined) return; // the guard has not asked for it (yet)
        const chunk = this.#shift();
        let part: { bytes: Buffer; done: boolean; rest: Buffer };
        try {
          part = this.#body.framer.push(chunk);
        } catch (err) {
          const fail = this.#body.fail;
          this.#body = undefined;
          this.#ahead = [];
          this.#aheadBytes = 0;
          // The guard reading the body answers in its API's shape; else the framing cannot be trusted.
          if (fail !== undefined) return fail(err as Error);
          return this.#refuseHead(err as HttpError);
        }
        if (part.rest.length > 0) this.#unshift(part.rest);
        const take = this.#body.take;
        if (part.done) this.#body = undefined;
        take?.(part.bytes, part.done);
        continue;
      }
      if (this.#current !== undefined) return;
      let got: ReturnType<RequestHeadParser['push']>;
      try {
        got = this.#parser.push(this.#shift());
      } catch (err) {
        return this.#refuseHead(err as HttpError);
      }
      if (got === null) continue;
      if (got.rest.length > 0) this.#unshift(got.rest);
      this.#begin(got.head);
    }
    if (this.#aheadBytes <= MAX_AHEAD_BYTES && this.#stream.isPaused()) this.#stream.resume();
  }

  /**
   * A body of a declared length that came whole in the chunk after its head (a chat's, nearly
   * always), taken at once without a WholeBody, a timer and their closures; copied out of the
   * tunnel's chunk, which it would otherwise keep for the answer's life.
   */
  #bodyAhead(framer: BodyFramer, length: number): Buffer | undefined {
    const chunk = this.#ahead[0];
    if (chunk === undefined || chunk.length < length) return undefined;
    const part = framer.push(this.#shift());
    if (part.rest.length > 0) this.#unshift(part.rest);
    this.#body = undefined;
    return Buffer.from(part.bytes);
  }

  #shift(): Buffer {
    const chunk = this.#ahead.shift()!;
    this.#aheadBytes -= chunk.length;
    return chunk;
  }

  #unshift(chunk: Buffer): void {
    this.#ahead.unshift(chunk);
    this.#aheadBytes += chunk.length;
  }

  #refuseHead(err: HttpError): void {
    this.#logger.debug('bad request from the super node', { err });
    this.#closed = true;
    // With a request in progress, its answer and this one would interleave: the stream is cut.
    if (this.#current !== undefined) return abortStream(this.#stream);
    const status = typeof err.status === 'number' ? err.status : 400;
    this.#stream.end(httpErrorResponse(status, { errorCode: err.code }));
  }

  #begin(head: RequestHead): void {
    const abort = new Cancel();
    const framing = head.framing;
    if (framing.kind !== 'none') this.#body = { framer: createBodyFramer(framing, { side: REQUEST_SIDE }), take: undefined };
    if (framing.kind !== 'none' && head.expectContinue) this.#stream.write(CONTINUE);
    const request = new GuardRequest(head, this.#stream, abort, (limits) => this.#readBody(head, limits));
    this.#current = { request, abort };
    void this.#handle(request).then(() => this.#answered(request));
  }

  #answered(request: GuardRequest): void {
    this.#current = undefined;
    if (this.#closed || this.#stream.destroyed) return;
    if (!request.finished) return abortStream(this.#stream);
    if (request.closeAfter) {
      this.#closed = true;
      return void this.#stream.end();
    }
    // A body the guard did not read (a refused request, a GET with one) is skipped, not sent on.
    if (this.#body !== undefined) this.#body.take = () => undefined;
    this.#idle.refresh();
    this.#pump();
  }

  #readBody(head: RequestHead, limits: BodyLimits): Promise<Buffer> {
    const body = this.#body;
    if (body === undefined) return Promise.resolve(Buffer.alloc(0));
    const framing = head.framing;
    if (framing.kind === 'length' && body.take === undefined && framing.length <= limits.maxBodyBytes) {
      const ahead = this.#bodyAhead(body.framer, framing.length);
      if (ahead !== undefined) return Promise.resolve(ahead);
    }
    return new Promise((resolve, reject) => {
      let whole: WholeBody;
      try {
        whole = new WholeBody({
          chunked: framing.kind === 'chunked',
          ...(framing.kind === 'length' ? { length: framing.length } : {}),
          maxBytes: limits.maxBodyBytes,
          tooLarge: () => new ProximaError(ErrorCodes.HTTP_BODY_TOO_LARGE, `the request body is larger than ${limits.maxBodyBytes} bytes`),
        });
      } catch (err) {
        return reject(err);
      }
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      body.fail = (err) => {
        settled = true;
        clearTimeout(timer);
        reject(new ProximaError(ErrorCodes.HTTP_BAD_REQUEST, 'the request body could not be read', { cause: err }));
      };
      body.take = (bytes, done) => {
        try {
          whole.add(bytes);
        } catch (err) {
          settled = true;
          clearTimeout(timer);
          body.take = () => undefined;
          return reject(err);
        }
        if (!done) return;
        settled = true;
        body.fail = undefined;
        clearTimeout(timer);
        resolve(whole.whole());
      };
      this.#pump();
      // A body that came with its head (a chat's, nearly always) is read by now: no timer for it.
      if (settled) return;
      timer = setTimeout(() => {
        body.take = () => undefined;
        reject(new ProximaError(ErrorCodes.HTTP_BODY_TIMEOUT, `the request body took longer than ${limits.bodyTimeoutMs} ms`));
      }, limits.bodyTimeoutMs);
    });
  }
}
