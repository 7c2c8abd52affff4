import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { ErrorCodes } from '../errors.js';
import { FrameDecoder } from './decoder.js';
import { encodeHeader, Flag, type FrameHeader, FrameType, GoAwayCode } from './frame.js';
import { FrameWriter } from './frame-writer.js';
import { Keepalive } from './keepalive.js';
import { asMuxError, goAwayCodeFor, MuxError, protocolError, remoteGoAway, sessionEnded } from './mux-error.js';
import { type MuxOptions, resolveMuxOptions } from './options.js';
import { MuxStream, type StreamHost } from './stream.js';
import { StreamTable } from './stream-table.js';

/** How long an ended socket may linger (flushing a GoAway) before it is destroyed. */
const LINGER_MS = 2_000;

export interface SessionEvents {
  /** The peer opened a stream. */
  stream: [stream: MuxStream];
  /** The peer sent GoAway(normal): no new streams may be opened; open ones may finish. */
  goaway: [];
  heartbeat: [rttMs: number]; // a ping was answered (keepalive or explicit): the peer is alive
  /** The socket is closed and every timer cleared; `err` is set when the end was abnormal. */
  close: [err: Error | undefined];
}

/**
 * A yamux session over any Duplex (a TCP or TLS socket). It never emits 'error': failures end the
 * session, destroy its streams with a coded MuxError, and are reported by 'close'.
 */
export class Session extends EventEmitter<SessionEvents> implements StreamHost {
  readonly options: MuxOptions;
  readonly maxWindowBytes: number;
  readonly #streams: StreamTable;
  readonly #decoder: FrameDecoder;
  readonly #writer: FrameWriter;
  readonly #keepalive: Keepalive;
  #state: 'open' | 'closing' | 'ended' = 'open';
  #localGoAway = false;
  #remoteGoAway = false;
  #endError: Error | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  #lingerTimer: NodeJS.Timeout | undefined;
  readonly #closedPromise: Promise<void>;
  readonly #socket: Duplex;

  constructor(socket: Duplex, options: Partial<MuxOptions> & Pick<MuxOptions, 'role'>) {
    super();
    this.#socket = socket;
    this.options = resolveMuxOptions(options);
    this.maxWindowBytes = this.options.maxWindowBytes;
    this.#streams = new StreamTable(this.options.role, this.options.maxStreams);
    this.#writer = new FrameWriter(socket, this.options.maxFrameBytes, this.options.sendBufferBytes);
    this.#decoder = new FrameDecoder({
      onHeader: (h) => this.#onHeader(h),
      onData: (h, chunk) => this.#streams.get(h.streamId)?.onData(chunk),
      onFrameEnd: (h) => this.#onFrameEnd(h),
    });
    this.#keepalive = new Keepalive({
      intervalMs: this.options.keepaliveIntervalMs,
      timeoutMs: this.options.keepaliveTimeoutMs,
      send: (flags, opaque) => this.#writer.writeControl(encodeHeader(FrameType.Ping, flags, 0, opaque)),
      onAnswer: (rttMs) => this.emit('heartbeat', rttMs),
      onTimeout: () =>
        this.#fail(
          sessionEnded(ErrorCodes.MUX_KEEPALIVE_TIMEOUT, `peer did not answer a ping within ${this.options.keepaliveTimeoutMs} ms`),
        ),
    });
    this.#closedPromise = new Promise((resolve) => {
      socket.once('close', () => {
        this.#onSocketGone(undefined);
        this.#clearTimers();
        resolve();
        this.emit('close', this.#endError);
      });
    });
    (socket as Partial<Pick<import('node:net').Socket, 'setNoDelay'>>).setNoDelay?.(true); // we batch writes ourselves
    socket.on('data', this.#onSocketData);
    socket.on('end', () => this.#onSocketGone(undefined));
    socket.on('error', (err) => this.#onSocketGone(err));
    this.#keepalive.start();
  }

  /** Streams open now. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** True until close() or destroy() is called or the connection ends. */
  get isOpen(): boolean {
    return this.#state === 'open' && !this.#remoteGoAway;
  }

  /** Smoothed round-trip time from pings, once one has been answered. */
  rttMs(): number | undefined {
    return this.#keepalive.srttMs;
  }

  /** Resolves when the socket has closed and every timer is cleared. */
  get closed(): Promise<void> {
    return this.#closedPromise;
  }

  /** Measures one round trip; rejects with PRX_ERR_MUX_KEEPALIVE_TIMEOUT if unanswered in time. */
  ping(timeoutMs = this.options.keepaliveTimeoutMs): Promise<number> {
    if (this.#state === 'ended') return Promise.reject(this.#ended());
    return this.#keepalive.ping(timeoutMs);
  }

  /** Opens a stream. Throws PRX_ERR_MUX_GOAWAY, _TOO_MANY_STREAMS or _SESSION_CLOSED when it cannot. */
  open(): MuxStream {
    if (this.#state === 'ended') throw this.#ended();
    if (this.#state === 'closing' || this.#remoteGoAway) {
      throw new MuxError(ErrorCodes.MUX_GOAWAY, 'the session is going away: no new streams');
    }
    const stream = new MuxStream(this, this.#streams.nextId());
    this.#streams.add(stream);
    this.sendControl(FrameType.WindowUpdate, Flag.SYN, stream.id, 0);
    return stream;
  }

  /** Graceful: sends GoAway, lets open streams finish (up to closeTimeoutMs), then ends the socket. */
  close(): Promise<void> {
    if (this.#state === 'open') {
      this.#state = 'closing';
      this.#sendGoAway(GoAwayCode.Normal);
      if (this.#streams.size === 0) this.#endSocket(true);
      else {
        this.#closeTimer = setTimeout(
          () =>
            this.destroy(
              sessionEnded(ErrorCodes.MUX_SESSION_CLOSED, `streams still open after ${this.options.closeTimeoutMs} ms of closing`),
            ),
          this.options.closeTimeoutMs,
        );
        this.#closeTimer.unref();
      }
    }
    return this.#closedPromise;
  }

  /** Abrupt: every open stream fails at once. A GoAway is still sent if the socket can take it. */
  destroy(err?: Error): Promise<void> {
    if (this.#state !== 'ended') {
      if (!this.#localGoAway) this.#sendGoAway(goAwayCodeFor(err));
      this.#end(err, err ?? sessionEnded(ErrorCodes.MUX_SESSION_CLOSED, 'the session was destroyed'));
      this.#endSocket(false);
    }
    return this.#closedPromise;
  }

  sendControl(type: FrameType, flags: number, streamId: number, length: number): void {
    this.#writer.writeControl(encodeHeader(type, flags, streamId, length));
  }

  congested(): boolean {
    return this.#writer.congested;
  }

  markReady(stream: MuxStream, bytes = 0): void {
    this.#writer.markReady(stream, bytes);
  }

  forget(stream: MuxStream): void {
    this.#streams.remove(stream);
    if (this.#state === 'closing' && this.#streams.size === 0) this.#endSocket(true);
  }

  readonly #onSocketData = (chunk: Buffer): void => {
    try {
      this.#decoder.push(chunk);
    } catch (err) {
      this.#fail(err);
    }
  };

  #onHeader(h: FrameHeader): void {
    if (h.type === FrameType.Ping) {
      if (h.streamId !== 0) throw protocolError(ErrorCodes.MUX_PROTOCOL, `Ping on stream ${h.streamId}`);
      if (h.flags & Flag.SYN) {
        // A peer that floods pings but never reads gets no more answers than the buffer can take.
        if (this.#writer.buffered < 4 * this.options.sendBufferBytes) {
          this.#writer.writeControl(encodeHeader(FrameType.Ping, Flag.ACK, 0, h.length));
        }
      } else if (h.flags & Flag.ACK) this.#keepalive.onPong(h.length);
      return;
    }
    if (h.type === FrameType.GoAway) {
      if (h.streamId !== 0) throw protocolError(ErrorCodes.MUX_PROTOCOL, `GoAway on stream ${h.streamId}`);
      this.#onGoAway(h.length);
      return;
    }
    if (h.streamId === 0) throw protocolError(ErrorCodes.MUX_STREAM_ID, 'stream frame on stream id 0');
    const stream = h.flags & Flag.SYN ? this.#accept(h.streamId) : this.#streams.get(h.streamId);
    if (stream === undefined) return; // a stream already closed or refused: its payload is dropped
    if (h.type === FrameType.Data) stream.expectData(h.length);
    else stream.grantSend(h.length);
  }

  #onFrameEnd(h: FrameHeader): void {
    if (h.type !== FrameType.Data && h.type !== FrameType.WindowUpdate) return;
    const stream = this.#streams.get(h.streamId);
    if (stream === undefined) return;
    if (h.flags & Flag.RST) stream.onReset();
    else if (h.flags & Flag.FIN) stream.onRemoteFin();
  }

  #accept(id: number): MuxStream | undefined {
    if (!this.#streams.admitRemote(id) || this.#state !== 'open') {
      this.sendControl(FrameType.WindowUpdate, Flag.RST, id, 0);
      this.options.logger.debug('refused a stream', { streamId: id, open: this.#streams.size });
      return undefined;
    }
    const stream = new MuxStream(this, id);
    this.#streams.add(stream);
    this.sendControl(FrameType.WindowUpdate, Flag.ACK, id, 0);
    this.emit('stream', stream);
    return stream;
  }

  #onGoAway(code: number): void {
    if (code === GoAwayCode.Normal) {
      if (!this.#remoteGoAway) {
        this.#remoteGoAway = true;
        this.emit('goaway');
      }
      return;
    }
    this.#remoteGoAway = true;
    this.#localGoAway = true; // the peer is gone; answering its GoAway would be noise
    this.destroy(remoteGoAway(code));
  }

  #fail(err: unknown): void {
    const error = asMuxError(err);
    this.options.logger.warn('yamux session failed', { err: error });
    if (error.code === ErrorCodes.MUX_KEEPALIVE_TIMEOUT) {
      this.#end(error, error);
      this.#socket.destroy();
      return;
    }
    void this.destroy(error);
  }

  #onSocketGone(err: Error | undefined): void {
    if (this.#state === 'ended') return;
    const clean = err === undefined && this.#streams.size === 0 && (this.#localGoAway || this.#remoteGoAway);
    const lost = clean ? undefined : sessionEnded(ErrorCodes.MUX_CONNECTION_LOST, 'the connection dropped while the session was open', err);
    this.#end(lost, lost ?? sessionEnded(ErrorCodes.MUX_SESSION_CLOSED, 'session closed'));
    this.#endSocket(true);
  }

  /** Marks the session ended and fails every stream with `streamError`. */
  #end(sessionError: Error | undefined, streamError: Error): void {
    this.#state = 'ended';
    this.#endError = sessionError;
    this.#decoder.stop();
    this.#keepalive.stop(streamError);
    for (const stream of this.#streams.list()) stream.abort(streamError);
    this.#streams.clear();
  }

  #sendGoAway(code: GoAwayCode): void {
    this.#localGoAway = true;
    this.sendControl(FrameType.GoAway, 0, 0, code);
  }

  /**
   * Flushes what is queued (a GoAway at least) and ends the socket. Graceful: half-close and keep
   * reading until the peer's FIN. Abrupt: close as soon as our bytes are out, whatever the peer does.
   * Either way a linger timer destroys a socket whose peer never cooperates.
   */
  #endSocket(graceful: boolean): void {
    if (this.#state !== 'ended') this.#end(undefined, this.#ended());
    clearTimeout(this.#closeTimer);
    this.#writer.flushNow();
    this.#writer.close();
    if (this.#socket.destroyed) return;
    if (graceful) {
      this.#socket.end();
      this.#socket.resume(); // a paused socket would never see the peer's FIN
    } else {
      this.#socket.end(() => this.#socket.destroy());
    }
    if (this.#lingerTimer === undefined) {
      this.#lingerTimer = setTimeout(() => this.#socket.destroy(), LINGER_MS);
      this.#lingerTimer.unref();
    }
  }

  #clearTimers(): void {
    clearTimeout(this.#closeTimer);
    clearTimeout(this.#lingerTimer);
    this.#keepalive.stop(this.#ended());
  }

  #ended(): MuxError {
    return sessionEnded(ErrorCodes.MUX_SESSION_CLOSED, 'the session is closed');
  }
}
