/**
 * One request to Ollama on a pooled socket: the head and body in one write, Ollama's response head
 * parsed by the project's own parser, then its body handed on as the bytes came (chunked framing
 * included), a framer finding where it ends so that the socket can serve the next request. No
 * time limit past the connect: a cold model takes minutes, and the caller aborts through `signal`.
 */
import type { CancelSignal } from '../../cancel.js';
import { ErrorCodes, ProximaError } from '../../errors.js';
import { createBodyFramer } from '../../proto/http/body.js';
import { RESPONSE_SIDE } from '../../proto/http/error.js';
import type { BodyFramer, ResponseFraming } from '../../proto/http/framing.js';
import { MAX_RESPONSE_HEAD_BYTES, type ResponseHead, ResponseHeadParser } from '../../proto/http/response-head.js';
import { WholeBody } from './chunked-body.js';
import { cancelled, type OllamaPool, type PooledSocket, type SocketUser } from './ollama-pool.js';

/** Body bytes kept before relay() is called; beyond them Ollama's socket is paused. */
const HOLD_BYTES = 64 * 1024;

/** Told of each part of the body as it comes: `done` with the last; false pauses Ollama until resume(). */
export type BodySink = (bytes: Buffer, done: boolean) => boolean;

/** One request to Ollama and its answer. Start it with {@link OllamaCall.start}. */
export class OllamaCall {
  readonly #pool: OllamaPool;
  #pooled: PooledSocket | undefined;
  readonly #method: string;
  readonly #parser = new ResponseHeadParser({ maxHeadBytes: MAX_RESPONSE_HEAD_BYTES });
  #head: ResponseHead | undefined;
  #framing: ResponseFraming | undefined;
  #framer: BodyFramer | undefined;
  /** Bytes after the head, not yet handed on. */
  #pending: Buffer | undefined;
  #sink: BodySink | undefined;
  /** The sink returned false: the socket stays paused until resume(). */
  #sinkFull = false;
  #settled = false;
  /** Why the call failed, for a relay() asked after it did. */
  #failure: Error | undefined;
  /**
   * The promise of start() or relay(), settled through its own resolve and reject as given, never
   * through an arrow function that captures them: such a closure on the call kept every call's
   * objects alive through young-generation collections until a full one (docs/performance-notes.md,
   * "Closures over a promise's resolvers").
   */
  #onHead: ((call: OllamaCall) => void) | undefined;
  #resolveEnd: (() => void) | undefined;
  #rejectEnd: ((err: Error) => void) | undefined;
  /** Ollama ended a close-delimited body before relay() was called. */
  #endedEarly = false;
  readonly #onAbort = (): void => this.#fail(cancelled(this.#signal));
  /** What the socket emits, while this call has it. */
  readonly #user: SocketUser = {
    data: (chunk) => this.#read(chunk),
    end: () => this.#ended(),
    error: (err) => this.#fail(err),
    close: () => this.#fail(new ProximaError(ErrorCodes.HTTP_BAD_RESPONSE, 'Ollama closed the connection')),
  };
  readonly #signal: CancelSignal | undefined;

  private constructor(pool: OllamaPool, method: string, signal: CancelSignal | undefined) {
    this.#pool = pool;
    this.#method = method;
    this.#signal = signal;
  }

  /**
   * Writes `request` (a complete head, and the body; or its parts) on a socket of `pool`; resolves with the call
   * once Ollama's final response head has come. Rejects with the system's error when Ollama cannot
   * be reached, PRX_ERR_HTTP_BAD_RESPONSE for an answer that does not parse.
   */
  static start(pool: OllamaPool, method: string, request: Buffer | readonly Buffer[], signal?: CancelSignal): Promise<OllamaCall> {
    if (signal?.aborted === true) return Promise.reject(cancelled(signal));
    const call = new OllamaCall(pool, method, signal);
    return new Promise((resolve, reject) => {
      call.#onHead = resolve;
      call.#rejectEnd = reject;
      // The socket's events reach the call from here on (takeIdle and acquire set its user).
      const idle = pool.takeIdle(call.#user);
      if (idle === undefined) pool.acquire(call.#user, signal).then((pooled) => call.#send(pooled, request), reject);
      else call.#send(idle, request);
    });
  }

  #send(pooled: PooledSocket, request: Buffer | readonly Buffer[]): void {
    this.#pooled = pooled;
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
    const { socket } = pooled;
    if (Buffer.isBuffer(request)) socket.write(request);
    else {
      // Parts written corked leave in one writev: a large body is not copied behind its head.
      socket.cork();
      for (const part of request) socket.write(part);
      socket.uncork();
    }
  }

  /** Ollama's final response head. */
  get head(): ResponseHead {
    return this.#head!;
  }

  /** How the body is delimited: `none`, `length`, `chunked` or `close` (until Ollama closes). */
  get framing(): ResponseFraming {
    return this.#framing!;
  }

  /**
   * Hands the body on to `sink` as it comes: what came with the head synchronously, within this
   * call. Resolves after the last part; rejects (the socket destroyed) when the answer is cut.
   */
  relay(sink: BodySink): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#sink = sink;
      this.#resolveEnd = resolve;
      this.#rejectEnd = reject;
      const first = this.#pending ?? Buffer.alloc(0);
      this.#pending = undefined;
      this.#body(first);
      if (this.#endedEarly) this.#ended();
      // Paused by #hold, the socket flows again, unless the sink has just asked for a pause.
      if (!this.#settled && !this.#sinkFull) this.#pooled!.socket.resume();
    });
  }

  /** Reads the whole body (decoded), PRX_ERR_HTTP_BAD_RESPONSE past `maxBytes`. */
  async readWhole(maxBytes: number): Promise<Buffer> {
    const framing = this.#framing!;
    const tooLarge = (): ProximaError => new ProximaError(ErrorCodes.HTTP_BAD_RESPONSE, `Ollama answered more than ${maxBytes} bytes`);
    const body = new WholeBody({ chunked: framing.kind === 'chunked', maxBytes, tooLarge });
    let failed: Error | undefined;
    await this.relay((bytes) => {
      if (failed !== undefined) return true;
      try {
        body.add(bytes);
      } catch (err) {
        failed = err as Error;
        this.#fail(failed);
      }
      return true;
    });
    if (failed !== undefined) throw failed;
    return body.whole();
  }

  /** Resumes reading after the sink returned false. */
  resume(): void {
    this.#sinkFull = false;
    if (!this.#settled) this.#pooled!.socket.resume();
  }

  /** Cuts the request: the socket is closed (Ollama sees the user leave). */
  destroy(err?: Error): void {
    this.#fail(err ?? new ProximaError(ErrorCodes.TARGET_UNREACHABLE, 'the request was cancelled'));
  }

  #read(chunk: Buffer): void {
    if (this.#settled) return;
    if (this.#head === undefined) return this.#readHead(chunk);
    if (this.#sink === undefined) return this.#hold(chunk);
    this.#body(chunk);
  }

  /**
   * Keeps body bytes that came before relay() was called (a turn of the event loop at most: the
   * caller relays as soon as it has the head); past HOLD_BYTES the socket is paused. Pausing after
   * every head instead cost each chat a read stop and start (two epoll_ctl calls).
   */
  #hold(chunk: Buffer): void {
    const pending = this.#pending;
    this.#pending = pending === undefined || pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    if (this.#pending.length >= HOLD_BYTES) this.#pooled!.socket.pause();
  }

  #readHead(chunk: Buffer): void {
    let rest = chunk;
    try {
      while (this.#head === undefined) {
        const got = this.#parser.push(rest);
        if (got === null) return;
        rest = got.rest;
        const framing = got.head.framing(this.#method);
        if (framing.kind === 'interim') continue; // 100 Continue and the like: node:http dropped them too
        if (framing.kind === 'upgrade') throw RESPONSE_SIDE.syntax('Ollama switched protocols');
        this.#head = got.head;
        this.#framing = framing;
        this.#framer = createBodyFramer(framing, { side: RESPONSE_SIDE });
      }
    } catch (err) {
      return this.#fail(err as Error);
    }
    this.#pending = rest;
    if (rest.length >= HOLD_BYTES) this.#pooled!.socket.pause(); // until the caller says where the body goes
    const onHead = this.#onHead!;
    this.#onHead = undefined;
    onHead(this);
  }

  #body(chunk: Buffer): void {
    let part: { bytes: Buffer; done: boolean; rest: Buffer };
    try {
      part = this.#framer!.push(chunk);
    } catch (err) {
      return this.#fail(err as Error);
    }
    if (part.done) return this.#finish(part.bytes, part.rest.length === 0);
    if (part.bytes.length > 0 && !this.#sink!(part.bytes, false)) {
      this.#sinkFull = true;
      this.#pooled!.socket.pause();
    }
  }

  /** Ollama ended its side: the end of a close-delimited body, else a cut answer. */
  #ended(): void {
    if (this.#settled) return;
    if (this.#framing?.kind === 'close') {
      if (this.#sink !== undefined) return this.#finish(Buffer.alloc(0), false);
      this.#endedEarly = true; // relay() ends the body once it has handed on what came
      return;
    }
    this.#fail(new ProximaError(ErrorCodes.HTTP_BAD_RESPONSE, 'Ollama closed the connection before the answer ended'));
  }

  #finish(last: Buffer, clean: boolean): void {
    this.#settled = true;
    this.#detach();
    const reusable = clean && this.#framing!.kind !== 'close' && this.#head!.keepAlive && this.#pool.keepsAlive;
    this.#pool.release(this.#pooled!, reusable);
    this.#sink!(last, true);
    this.#resolveEnd?.();
  }

  #fail(err: Error): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#failure = err;
    this.#detach();
    if (this.#pooled !== undefined) this.#pool.release(this.#pooled, false);
    const reject = this.#rejectEnd;
    this.#onHead = undefined;
    reject?.(err);
  }

  #detach(): void {
    this.#signal?.removeEventListener('abort', this.#onAbort);
  }
}
