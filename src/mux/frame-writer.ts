import type { Duplex } from 'node:stream';

type Callback = (err?: Error | null) => void;

/** A stream as the writer sees it: something that can emit one frame at a time. */
export interface Sendable {
  inReady: boolean;
  hasSendable(): boolean;
  writeFrame(sink: (buf: Buffer) => void, maxFrameBytes: number, done: Callback[]): void;
}

/**
 * Schedules frames onto the socket. Control frames (window updates, pings, SYN/ACK/FIN/RST) go
 * first; then ready streams take turns, one frame of at most `maxFrameBytes` each, so a bulk
 * upload cannot hold back a chat stream for more than a frame per competing stream. Frames go out
 * corked in one writev, header and payload as separate buffers, never copied together.
 *
 * When: small frames wait for the end of the turn of the event loop (setImmediate, after every
 * socket read and timer of it), so that fifty requests read in one turn cross the tunnel in one
 * write, not fifty. Once FLUSH_NOW_BYTES of data wait, they go at once (process.nextTick), as every
 * write did before: bulk data reaches the socket read by read, and the socket's buffer, not the
 * streams' queues, is what fills up. When the socket's buffer passes `sendBufferBytes`, data waits
 * for 'drain': the socket's own backpressure reaches every stream's `write()` (a stream takes
 * writes while this writer is not `congested`).
 */
/** Data queued beyond this goes to the socket now instead of at the end of the turn: one read's worth. */
export const FLUSH_NOW_BYTES = 64 * 1024;

export class FrameWriter {
  readonly #control: Buffer[] = [];
  readonly #ready: Sendable[] = [];
  /** A flush at the end of the turn, and one now (next tick), are scheduled. */
  #scheduled = false;
  #urgent = false;
  /** Data bytes queued since the last flush. */
  #unflushed = 0;
  #waitingDrain = false;
  #closed = false;
  readonly #sink = (buf: Buffer): void => {
    this.#socket.write(buf);
  };

  readonly #sendBufferBytes: number;
  readonly #maxFrameBytes: number;
  readonly #socket: Duplex;

  constructor(socket: Duplex, maxFrameBytes: number, sendBufferBytes: number) {
    this.#sendBufferBytes = sendBufferBytes;
    this.#maxFrameBytes = maxFrameBytes;
    this.#socket = socket;
    socket.on('drain', this.#onDrain);
  }

  /** Bytes waiting in the socket's own buffer. */
  get buffered(): number {
    return this.#socket.writableLength;
  }

  /** True while data waits for the socket to drain. */
  get congested(): boolean {
    return this.#waitingDrain || this.#socket.writableLength >= this.#sendBufferBytes;
  }

  /** Queues a frame without payload; it is written before any data. */
  writeControl(header: Buffer): void {
    if (this.#closed) return;
    this.#control.push(header);
    this.#schedule();
  }

  /** A stream has something to send: `bytes` of data just queued (0 for a FIN or an opened window). */
  markReady(stream: Sendable, bytes = 0): void {
    if (this.#closed) return;
    this.#unflushed += bytes;
    if (!stream.inReady) {
      stream.inReady = true;
      this.#ready.push(stream);
    }
    this.#schedule();
  }

  /** Writes what is queued now, synchronously (used before ending the socket). */
  flushNow(): void {
    this.#flush();
  }

  /** Drops everything queued; nothing more will be written. */
  close(): void {
    this.#closed = true;
    this.#control.length = 0;
    for (const s of this.#ready) s.inReady = false;
    this.#ready.length = 0;
    this.#socket.off('drain', this.#onDrain);
  }

  readonly #schedule = (): void => {
    if (this.#unflushed >= FLUSH_NOW_BYTES) {
      if (this.#urgent) return;
      this.#urgent = true;
      process.nextTick(this.#flushUrgent);
      return;
    }
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flushAtTurnEnd);
  };

  readonly #flushUrgent = (): void => {
    this.#urgent = false;
    this.#flush();
  };

  readonly #flushAtTurnEnd = (): void => {
    this.#scheduled = false;
    this.#flush();
  };

  readonly #onDrain = (): void => {
    this.#waitingDrain = false;
    if (this.#ready.length > 0) this.#schedule();
  };

  readonly #flush = (): void => {
    this.#unflushed = 0;
    if (this.#closed || this.#socket.destroyed || !this.#socket.writable) return;
    const done: Callback[] = [];
    this.#socket.cork();
    for (const header of this.#control) this.#socket.write(header);
    this.#control.length = 0;
    while (!this.#waitingDrain && this.#ready.length > 0) {
      const stream = this.#ready.shift()!;
      stream.inReady = false;
      if (!stream.hasSendable()) continue;
      stream.writeFrame(this.#sink, this.#maxFrameBytes, done);
      if (stream.hasSendable() && !stream.inReady) {
        stream.inReady = true;
        this.#ready.push(stream);
      }
      if (this.#socket.writableLength >= this.#sendBufferBytes) {
        // A write has returned false, so 'drain' will come; a Duplex with a larger high-water mark
        // may not promise one, so look again on the next turn of the loop instead.
        if (this.#socket.writableNeedDrain) this.#waitingDrain = true;
        else setImmediate(this.#schedule);
        break;
      }
    }
    this.#socket.uncork();
    for (const cb of done) cb();
  };
}
