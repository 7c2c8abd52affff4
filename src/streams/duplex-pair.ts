/**
 * Two Duplex streams joined back to back in memory (Node 22 has `stream.duplexPair`; Node 20 has
 * none): what one end writes the other reads, the same Buffers, never copied, with backpressure.
 * An end crosses as an end (half-close works both ways). A destroy before both directions ended
 * crosses as an abrupt close, like a TCP reset: the other end closes without its readable side
 * ending, so a cut-off message is never taken for a complete one.
 */
import { Duplex } from 'node:stream';

/** One end of a pair. */
export class PairEnd extends Duplex {
  /** What node:http reports as `req.socket.remoteAddress` when it serves this end. */
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  #other: PairEnd | undefined;
  /** The other end's write, waiting for this end to be read before it may write again. */
  #blockedWrite: (() => void) | undefined;

  constructor() {
    // Each side ends on its own; only reading both ends (or a destroy) closes an end.
    super({ allowHalfOpen: true });
  }

  /** Joins two fresh ends; see duplexPair. */
  static join(a: PairEnd, b: PairEnd): void {
    a.#other = b;
    b.#other = a;
  }

  override _read(): void {
    const blocked = this.#blockedWrite;
    this.#blockedWrite = undefined;
    blocked?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    // Delivered on the next tick, never inside write(): the writer must not see the reader's
    // reaction (a whole answer, say) before its write call has returned.
    process.nextTick(PairEnd.#deliver, this.#other!, chunk, callback);
  }

  /**
   * What was written while corked crosses together, in one tick: node:http corks a head and the
   * first chunk (size line, bytes, CRLF), and a reader that forwards them to a socket then sends
   * them in one write instead of one per tick.
   */
  override _writev(chunks: { chunk: Buffer }[], callback: (err?: Error | null) => void): void {
    process.nextTick(PairEnd.#deliverAll, this.#other!, chunks, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    process.nextTick(PairEnd.#deliver, this.#other!, null, callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const other = this.#other!;
    // Once both directions have ended the other end closes on its own, after reading what it has.
    if (!other.destroyed && (err !== null || !this.writableFinished || !this.readableEnded)) other.destroy();
    callback(err);
  }

  /** Pushes what the other end wrote into `to`; the write completes once `to` has room for more. */
  static #deliver(to: PairEnd, chunk: Buffer | null, callback: () => void): void {
    if (to.destroyed) return callback();
    if (to.push(chunk) || chunk === null) callback();
    else to.#blockedWrite = callback;
  }

  /** #deliver for a batch: every chunk is pushed (a full reader only delays the next write). */
  static #deliverAll(to: PairEnd, chunks: { chunk: Buffer }[], callback: () => void): void {
    if (to.destroyed) return callback();
    let room = true;
    for (const { chunk } of chunks) room = to.push(chunk);
    if (room) callback();
    else to.#blockedWrite = callback;
  }
}

/** Two joined ends: what `a` writes `b` reads, and the other way round. */
export function duplexPair(): [a: PairEnd, b: PairEnd] {
  const a = new PairEnd();
  const b = new PairEnd();
  PairEnd.join(a, b);
  return [a, b];
}
