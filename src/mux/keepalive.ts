import { performance } from 'node:perf_hooks';
import { ErrorCodes } from '../errors.js';
import { Flag } from './frame.js';
import { sessionEnded } from './mux-error.js';

interface PendingPing {
  startedAt: number;
  resolve: (rttMs: number) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export interface KeepaliveOptions {
  /** 0 disables the periodic ping (explicit pings still work). */
  intervalMs: number;
  timeoutMs: number;
  send(flags: number, opaque: number): void;
  /** The periodic ping went unanswered: the peer is gone. */
  onTimeout(): void;
  /** A ping was answered. */
  onAnswer?(rttMs: number): void;
}

/**
 * Pings: measures round-trip time (which drives window growth) and, when enabled, detects a peer
 * that vanished without closing the connection. Timers are unref'd; stop() clears them all.
 */
export class Keepalive {
  /** Smoothed RTT (RFC 6298 weights), once a ping was answered. */
  srttMs: number | undefined;
  readonly #pending = new Map<number, PendingPing>();
  #seq = 0;
  #interval: NodeJS.Timeout | undefined;
  #stopped = false;

  readonly #options: KeepaliveOptions;

  constructor(options: KeepaliveOptions) {
    this.#options = options;
  }

  /** Sends a first ping at once (to learn the RTT), then one every intervalMs. */
  start(): void {
    this.ping(this.#options.timeoutMs).catch(() => this.#options.intervalMs > 0 && !this.#stopped && this.#options.onTimeout());
    if (this.#options.intervalMs === 0) return;
    this.#interval = setInterval(() => {
      if (this.#pending.size > 0) return; // one outstanding ping at a time; its own timer judges it
      this.ping(this.#options.timeoutMs).catch(() => !this.#stopped && this.#options.onTimeout());
    }, this.#options.intervalMs);
    this.#interval.unref();
  }

  ping(timeoutMs: number): Promise<number> {
    if (this.#stopped) return Promise.reject(sessionEnded(ErrorCodes.MUX_SESSION_CLOSED, 'the session is closed'));
    this.#seq = (this.#seq + 1) >>> 0;
    const opaque = this.#seq;
    return new Promise((resolve, reject) => {
      // The verdict waits one turn of the loop: if the event loop was blocked, the answer may be
      // sitting unread in the socket, and the I/O phase after this timer will deliver it.
      const timer = setTimeout(
        () =>
          setImmediate(() => {
            if (!this.#pending.delete(opaque)) return;
            reject(sessionEnded(ErrorCodes.MUX_KEEPALIVE_TIMEOUT, `ping unanswered after ${timeoutMs} ms`));
          }).unref(),
        timeoutMs,
      );
      timer.unref();
      this.#pending.set(opaque, { startedAt: performance.now(), resolve, reject, timer });
      this.#options.send(Flag.SYN, opaque);
    });
  }

  /** A ping answer arrived. */
  onPong(opaque: number): void {
    const p = this.#pending.get(opaque);
    if (p === undefined) return;
    this.#pending.delete(opaque);
    clearTimeout(p.timer);
    const rtt = performance.now() - p.startedAt;
    this.srttMs = this.srttMs === undefined ? rtt : 0.875 * this.srttMs + 0.125 * rtt;
    p.resolve(rtt);
    this.#options.onAnswer?.(rtt);
  }

  /** Clears every timer and fails outstanding pings with `err`. Safe to call twice. */
  stop(err: Error): void {
    this.#stopped = true;
    clearInterval(this.#interval);
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
  }
}
