/**
 * The user's end of a public connection, as the super node writes to it and ends it: the writes of
 * one turn leave together; a graceful end keeps reading (and dropping) what the user still sends for
 * a while, so the last answer is not lost to the TCP reset unread bytes would cause; an abrupt end
 * resets, so a cut-off body is never taken for a complete one.
 */
import type { Socket } from 'node:net';
import { abortStream } from '../../streams/stream-relay.js';

/** How long a gracefully ended connection waits for the user to close its side before it is cut. */
export const LINGER_MS = 2_000;

/** Writes and endings of the user's socket. */
export class ClientSocket {
  #corked = false;
  #lingerTimer: NodeJS.Timeout | undefined;

  constructor(readonly socket: Socket) {
    socket.setNoDelay(true); // a streamed token goes out as it comes, not with the next one
    socket.once('close', () => clearTimeout(this.#lingerTimer));
  }

  /** Writes `bytes`; those of one turn (a head and its body, say) go out in one write. False when full. */
  write(bytes: Buffer): boolean {
    if (!this.#corked) {
      this.#corked = true;
      this.socket.cork();
      process.nextTick(this.#uncork);
    }
    return this.socket.write(bytes);
  }

  /** Ends after what was written; drops what still arrives; cuts the socket after LINGER_MS. */
  end(): void {
    this.socket.end();
    this.socket.resume();
    if (!this.socket.closed) this.#lingerTimer = setTimeout(() => this.socket.destroy(), LINGER_MS);
  }

  /** Cuts the connection with a reset (a plain close once our end is sent). */
  reset(): void {
    abortStream(this.socket);
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.socket.uncork();
  };
}
