/**
 * Pull-style reads from a socket, for a handshake that alternates reads and writes before the
 * socket is handed on (to a yamux session). The socket is paused except while a read waits, so a
 * peer can make the reader hold at most one chunk beyond what a step asked for; `release` gives the
 * bytes read too far back to the socket (`unshift`) for its next owner.
 */
import type { Duplex } from 'node:stream';

/** Turns bytes into values, keeping what it has not used; the control codec's MessageDecoder fits. */
export interface ChunkDecoder<T> {
  /** Adds `chunk`; returns at most `limit` complete values. May throw on bad input. */
  push(chunk: Buffer, limit: number): T[];
  /** Takes the bytes after the last value returned. */
  takeRest(): Buffer;
}

const EMPTY = Buffer.alloc(0);

/** Reads a socket one step at a time. Create it on a fresh socket; call `release` when done. */
export class SocketReader {
  readonly #socket: Duplex;
  readonly #lost: (cause?: Error) => Error;
  #buffered: Buffer = EMPTY;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;

  /** `lost` makes the error for a connection that ends or fails before the reads are done. */
  constructor(socket: Duplex, lost: (cause?: Error) => Error) {
    this.#socket = socket;
    this.#lost = lost;
    socket.pause();
    socket.on('data', this.#onData).on('end', this.#onEnd).on('close', this.#onEnd).on('error', this.#onError);
  }

  /** The error that ended reading (a timeout, an abort, the connection lost), if any. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Fails the waiting read and every later one with `err`; the first failure wins. */
  fail(err: Error): void {
    this.#failure ??= err;
    this.#wakeUp();
  }

  /** Resolves with exactly `count` bytes. */
  async bytes(count: number): Promise<Buffer> {
    while (this.#buffered.length < count) await this.#more();
    const out = this.#buffered.subarray(0, count);
    this.#buffered = this.#buffered.subarray(count);
    return out;
  }

  /** Resolves with the next value `decoder` makes; the bytes after it stay here for the next read. */
  async next<T>(decoder: ChunkDecoder<T>): Promise<T> {
    for (;;) {
      const input = this.#buffered;
      this.#buffered = EMPTY;
      const [value] = decoder.push(input, 1);
      if (value !== undefined) {
        this.#buffered = decoder.takeRest();
        return value;
      }
      await this.#more();
    }
  }

  /** Stops reading and gives unread bytes back to the socket, which stays paused for its next owner. */
  release(): void {
    this.#socket.off('data', this.#onData).off('end', this.#onEnd).off('close', this.#onEnd).off('error', this.#onError);
    if (this.#buffered.length > 0 && !this.#socket.destroyed) this.#socket.unshift(this.#buffered);
    this.#buffered = EMPTY;
    this.fail(this.#lost());
  }

  /** Waits for the next chunk; rejects once the reader has failed (bytes already read are used first). */
  #more(): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#wake = () => (this.#failure === undefined ? resolve() : reject(this.#failure));
      this.#socket.resume();
    });
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#socket.pause();
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    this.#wakeUp();
  };

  readonly #onEnd = (): void => this.fail(this.#lost());

  readonly #onError = (err: Error): void => this.fail(this.#lost(err));
}
