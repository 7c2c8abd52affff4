import { performance } from 'node:perf_hooks';
import { Duplex } from 'node:stream';
import { ErrorCodes, withoutStack } from '../errors.js';
import { encodeHeader, Flag, FrameType, INITIAL_WINDOW_BYTES } from './frame.js';
import type { Sendable } from './frame-writer.js';
import { MuxError, protocolError } from './mux-error.js';

/** What a stream needs from its session. */
export interface StreamHost {
  readonly maxWindowBytes: number;
  /** Queues a frame without payload (window update, FIN, RST). */
  sendControl(type: FrameType, flags: number, streamId: number, length: number): void;
  /** The stream has data or a FIN to send. */
  /** `stream` has something to send; `bytes` of data were just queued (0 for a FIN or a window opening). */
  markReady(stream: MuxStream, bytes?: number): void;
  /** The stream is done on the wire; the session forgets it. */
  forget(stream: MuxStream): void;
  /** Smoothed round-trip time, once measured. */
  rttMs(): number | undefined;
  /** True while the socket's buffer is full. */
  congested(): boolean;
}

type Callback = (err?: Error | null) => void;

/** Windows grow only while a reader drains half a window within this many RTTs. */
const GROWTH_RTTS = 4;
/** Floor for that interval, so loopback's microsecond RTT does not forbid growth. */
const MIN_GROWTH_INTERVAL_MS = 5;

/**
 * One yamux stream, as a Node Duplex. Receive window is granted as the reader consumes data
 * (when it is handed to the Readable on demand), never as it arrives, so a paused reader stops the
 * sender after one window. The window grows while the reader keeps up and shrinks back once it
 * falls behind, so a slow reader (a user on a slow link downloading from a fast node) holds about
 * the initial window in memory, not the largest. Writes wait for send window, so `write()` returns
 * false once the peer's window is spent and the Writable buffer fills.
 */
export class MuxStream extends Duplex implements Sendable {
  /** @internal scheduler membership. */
  inReady = false;

  #sendWindow = INITIAL_WINDOW_BYTES;
  readonly #outQueue: Buffer[] = [];
  readonly #outCallbacks: (Callback | undefined)[] = [];
  #outBytes = 0;
  #fin: 'open' | 'pending' | 'sent' = 'open';
  #finalCallback: Callback | undefined;

  #recvWindow = INITIAL_WINDOW_BYTES;
  #windowTarget = INITIAL_WINDOW_BYTES;
  #consumedUngranted = 0;
  /** Window given up by shrinking, still to be kept back from the next grants. */
  #withheld = 0;
  #lastGrantAt = performance.now();
  readonly #inQueue: Buffer[] = [];
  #inBytes = 0;
  #wantRead = false;
  #remoteFin = false;
  #endPushed = false;
  #wireDone = false;

  readonly #host: StreamHost;

  constructor(
    host: StreamHost,
    readonly id: number,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: 64 * 1024, writableHighWaterMark: 64 * 1024 });
    this.#host = host;
  }

  /** Receive window the peer may still fill, and the window it grows towards (for tests and metrics). */
  get windows(): { recv: number; target: number; send: number } {
    return { recv: this.#recvWindow, target: this.#windowTarget, send: this.#sendWindow };
  }

  /** Bytes received and held back from the readable side while its reader is paused (for tests and metrics). */
  get heldBytes(): number {
    return this.#inBytes;
  }

  /** @internal A Data frame header announced `length` bytes: check them against the window. */
  expectData(length: number): void {
    if (length > this.#recvWindow) {
      throw protocolError(
        ErrorCodes.MUX_WINDOW_EXCEEDED,
        `stream ${this.id}: Data frame of ${length} bytes exceeds the remaining window of ${this.#recvWindow}`,
      );
    }
    this.#recvWindow -= length;
  }

  /** @internal Payload from the wire. */
  onData(chunk: Buffer): void {
    if (this.#remoteFin || this.destroyed) return;
    if (this.#wantRead && this.#inBytes === 0) {
      this.#consumedUngranted += chunk.length;
      this.#wantRead = this.push(chunk);
      this.#maybeGrant();
    } else {
      this.#inQueue.push(chunk);
      this.#inBytes += chunk.length;
      if (this.#inBytes + this.readableLength > this.#windowTarget / 4) this.#shrinkWindow();
    }
  }

  /**
   * The reader has more than a quarter of the window waiting (not half: a sender may always have
   * half in flight, and a paused reader would keep its large window): the reader, not the window,
   * limits the stream, and a larger window would only hold more of the sender's bytes here. Halves
   * the window (not below the initial one); the difference is kept back from the next grants.
   */
  #shrinkWindow(): void {
    const smaller = Math.max(INITIAL_WINDOW_BYTES, this.#windowTarget / 2);
    this.#withheld += this.#windowTarget - smaller;
    this.#windowTarget = smaller;
  }

  /** @internal The peer half-closed. */
  onRemoteFin(): void {
    if (this.#remoteFin) return;
    this.#remoteFin = true;
    this.#deliver();
    this.#checkWireDone();
  }

  /** @internal The peer reset the stream. */
  onReset(): void {
    this.#wireDone = true;
    this.#host.forget(this);
    this.destroy(withoutStack(() => new MuxError(ErrorCodes.MUX_STREAM_RESET, `stream ${this.id} was reset by the peer`)));
  }

  override _read(): void {
    this.#wantRead = true;
    this.#deliver();
  }

  #deliver(): void {
    while (this.#wantRead && this.#inQueue.length > 0) {
      const chunk = this.#inQueue.shift()!;
      this.#inBytes -= chunk.length;
      this.#consumedUngranted += chunk.length;
      this.#wantRead = this.push(chunk);
    }
    if (this.#remoteFin && this.#inQueue.length === 0 && !this.#endPushed) {
      this.#endPushed = true;
      this.push(null);
    }
    this.#maybeGrant();
  }

  /**
   * Grants consumed bytes back once half a window is consumed (less what a shrink keeps back),
   * doubling the window for a reader that has caught up with everything that arrived, fast.
   */
  #maybeGrant(): void {
    if (this.#remoteFin || this.#wireDone || this.#consumedUngranted < this.#windowTarget / 2) return;
    const kept = Math.min(this.#withheld, this.#consumedUngranted);
    this.#withheld -= kept;
    let delta = this.#consumedUngranted - kept;
    const now = performance.now();
    const rtt = this.#host.rttMs();
    const max = this.#host.maxWindowBytes;
    if (
      this.#windowTarget < max &&
      rtt !== undefined &&
      this.#withheld === 0 &&
      this.#inBytes === 0 &&
      now - this.#lastGrantAt < Math.max(GROWTH_RTTS * rtt, MIN_GROWTH_INTERVAL_MS)
    ) {
      const grown = Math.min(this.#windowTarget * 2, max);
      delta += grown - this.#windowTarget;
      this.#windowTarget = grown;
    }
    this.#lastGrantAt = now;
    this.#consumedUngranted = 0;
    if (delta === 0) return;
    this.#recvWindow += delta;
    this.#host.sendControl(FrameType.WindowUpdate, 0, this.id, delta);
  }

  /** @internal The peer granted more send window. */
  grantSend(delta: number): void {
    this.#sendWindow += delta;
    if (this.#outBytes > 0) this.#host.markReady(this);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: Callback): void {
    this.#enqueue(chunk, callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: Callback): void {
    const last = chunks.length - 1;
    for (let i = 0; i <= last; i++) this.#enqueue(chunks[i]!.chunk, i === last ? callback : undefined);
  }

  override _final(callback: Callback): void {
    this.#fin = 'pending';
    this.#finalCallback = callback;
    this.#host.markReady(this);
  }

  #enqueue(chunk: Buffer, callback: Callback | undefined): void {
    this.#outQueue.push(chunk);
    this.#outBytes += chunk.length;
    // Like a socket taking bytes into its buffer: accept at once what the window already covers
    // and the connection can take; otherwise hold the callback, and the Writable fills up.
    if (callback !== undefined && this.#outBytes <= this.#sendWindow && !this.#host.congested()) {
      this.#outCallbacks.push(undefined);
      callback();
    } else {
      this.#outCallbacks.push(callback);
    }
    this.#host.markReady(this, chunk.length);
  }

  /** @internal True when a frame can be written now. */
  hasSendable(): boolean {
    if (this.#wireDone) return false;
    return (this.#outBytes > 0 && this.#sendWindow > 0) || (this.#fin === 'pending' && this.#outBytes === 0);
  }

  /** @internal Writes one frame (header, then payload views) to `sink`; collects finished callbacks. */
  writeFrame(sink: (buf: Buffer) => void, maxFrameBytes: number, done: Callback[]): void {
    if (this.#wireDone) return;
    const size = Math.min(this.#outBytes, this.#sendWindow, maxFrameBytes);
    if (size === 0) {
      if (this.#fin === 'pending' && this.#outBytes === 0) {
        sink(encodeHeader(FrameType.WindowUpdate, Flag.FIN, this.id, 0));
        this.#finSent(done);
      }
      return;
    }
    const withFin = this.#fin === 'pending' && size === this.#outBytes;
    sink(encodeHeader(FrameType.Data, withFin ? Flag.FIN : 0, this.id, size));
    let left = size;
    while (left > 0) {
      const head = this.#outQueue[0]!;
      if (head.length <= left) {
        sink(head);
        left -= head.length;
        this.#outQueue.shift();
        const cb = this.#outCallbacks.shift();
        if (cb !== undefined) done.push(cb);
      } else {
        sink(head.subarray(0, left));
        this.#outQueue[0] = head.subarray(left);
        left = 0;
      }
    }
    this.#outBytes -= size;
    this.#sendWindow -= size;
    if (withFin) this.#finSent(done);
  }

  #finSent(done: Callback[]): void {
    this.#fin = 'sent';
    if (this.#finalCallback !== undefined) done.push(this.#finalCallback);
    this.#finalCallback = undefined;
    this.#checkWireDone();
  }

  #checkWireDone(): void {
    if (this.#fin === 'sent' && this.#remoteFin && !this.#wireDone) {
      this.#wireDone = true;
      this.#host.forget(this);
    }
  }

  /** @internal The session ended: fail the stream without touching the wire. */
  abort(err: Error): void {
    this.#wireDone = true;
    this.destroy(err);
  }

  override _destroy(err: Error | null, callback: Callback): void {
    if (!this.#wireDone) {
      // Not closed cleanly in both directions: tell the peer, so it sees an error and not a hang.
      this.#wireDone = true;
      this.#host.sendControl(FrameType.WindowUpdate, Flag.RST, this.id, 0);
    }
    this.#host.forget(this);
    this.#outQueue.length = 0;
    this.#outCallbacks.length = 0;
    this.#inQueue.length = 0;
    this.#outBytes = 0;
    this.#inBytes = 0;
    callback(err);
  }
}
