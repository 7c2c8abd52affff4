/**
 * Two streams piped into each other, the way a tunnel must: bytes with backpressure, an end (FIN)
 * passed on as an end, and anything abrupt passed on as abrupt. A reset on one side resets the
 * other, so the far end sees an error, never a short body it could take for a complete one.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { noteBytesRead } from '../runtime/index.js';

/** How a relay ended. */
export interface RelayResult {
  /** True when both directions ended with an end (FIN) and neither side failed. */
  clean: boolean;
}

/**
 * Ends `stream` abruptly: a TCP reset for a connected socket (the peer reads ECONNRESET, not EOF),
 * a plain destroy for anything else (a yamux stream sends RST on destroy). A socket that has sent
 * its FIN is only destroyed: the peer has its end already, and Node cannot reset a socket whose
 * shutdown is under way (the reset fails and the handle is never closed). Idempotent.
 */
export function abortStream(stream: Duplex): void {
  if (stream.destroyed || resetting.has(stream)) return;
  if (stream instanceof Socket && !stream.connecting && !stream.writableEnded && stream.readyState !== 'closed') {
    resetSocket(stream);
    return;
  }
  stream.destroy();
}

/** Sockets whose reset is under way (see resetSocket). */
const resetting = new WeakSet<Duplex>();

/**
 * Resets a TCP connection. On Node 20, resetAndDestroy() within a turn of the event loop after a
 * write reached the kernel sends a FIN, not a reset (measured: 20 of 20), and a FIN after a partial
 * body can pass for a complete answer. So: hold back whatever is not written yet (cork), ignore
 * further writes and ends, stop reading, and reset two turns later, once no write is in flight.
 */
function resetSocket(socket: Socket): void {
  resetting.add(socket);
  socket.cork();
  socket.pause();
  socket.write = (() => false) as Socket['write'];
  socket.end = (() => socket) as Socket['end'];
  setImmediate(() =>
    setImmediate(() => {
      if (!socket.destroyed) socket.resetAndDestroy();
    }),
  );
}

/** True when `stream` closed after both of its directions ended normally. */
export function closedCleanly(stream: Duplex): boolean {
  return stream.readableEnded && stream.writableFinished && stream.errored === null;
}

/**
 * Pipes `a` and `b` both ways until both have closed. Ends are passed on as ends (half-close works
 * both ways); an error or a close without both ends aborts the other side. Resolves once both have
 * emitted 'close'. Either side may already have ended or closed when the relay starts.
 */
export function relay(a: Duplex, b: Duplex): Promise<RelayResult> {
  return new Promise((resolve) => {
    let open = 2;
    let clean = true;
    const onClose = (self: Duplex, other: Duplex) => (): void => {
      if (!closedCleanly(self)) {
        clean = false;
        abortStream(other);
      }
      if (--open === 0) resolve({ clean });
    };
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      self.on('error', noop);
      if (self.closed) queueMicrotask(onClose(self, other));
      else self.once('close', onClose(self, other));
      forward(self, other);
    }
  });
}

/** One direction: data with backpressure, then the end. */
function forward(from: Duplex, to: Duplex): void {
  const onEnd = (): void => {
    if (!to.destroyed && !to.writableEnded) to.end();
  };
  if (from.readableEnded) {
    onEnd();
    return;
  }
  from.on('data', (chunk: Buffer) => {
    noteBytesRead(chunk.length);
    if (to.destroyed) return;
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.once('end', onEnd);
  // The side may have been paused for backpressure before the relay took over.
  from.resume();
}

function noop(): void {}
