/**
 * The clocks of one attempt on a node: the first byte (a cold model load is slow: 5 min by
 * default), the silence between chunks after it, and the whole request (off by default), plus the
 * SSE keep-alive ticks while the first token is awaited. Any clock that runs out calls `expire`
 * once with PRX_ERR_NODE_TIMEOUT; `stop()` clears them all.
 */
import { ErrorCodes, ProximaError } from '../../../errors.js';

/** The limits of one attempt, from `routing` and `api` in server.yaml. */
export interface CallTimeouts {
  firstByteTimeoutMs: number;
  idleTimeoutMs: number;
  /** 0: none. */
  totalTimeoutMs: number;
  /** SSE keep-alive interval; 0 when the answer is not an SSE stream. */
  keepAliveIntervalMs: number;
}

/** The timers of one attempt. */
export class CallClock {
  readonly #timeouts: CallTimeouts;
  readonly #node: string;
  readonly #expire: (err: ProximaError) => void;
  #waiting: NodeJS.Timeout | undefined;
  #total: NodeJS.Timeout | undefined;
  #ticks: NodeJS.Timeout | undefined;
  #gotFirstByte = false;
  #stopped = false;

  /** Starts the first-byte and total clocks; `startMs` (performance.now()) is when the request arrived. */
  constructor(timeouts: CallTimeouts, startMs: number, node: string, expire: (err: ProximaError) => void) {
    this.#timeouts = timeouts;
    this.#node = node;
    this.#expire = expire;
    this.#wait(timeouts.firstByteTimeoutMs, 'sent nothing within');
    if (timeouts.totalTimeoutMs > 0) {
      const leftMs = Math.max(0, timeouts.totalTimeoutMs - (performance.now() - startMs));
      this.#total = setTimeout(() => this.#fire(`did not finish within ${timeouts.totalTimeoutMs} ms`), leftMs);
    }
  }

  /** Calls `tick` every keep-alive interval until the first byte (SSE streams only). */
  keepAlive(tick: () => void): void {
    if (this.#timeouts.keepAliveIntervalMs <= 0 || this.#gotFirstByte || this.#stopped) return;
    this.#ticks = setInterval(tick, this.#timeouts.keepAliveIntervalMs);
  }

  /** The first byte came: keep-alives stop, the idle clock starts. */
  firstByte(): void {
    if (this.#gotFirstByte || this.#stopped) return;
    this.#gotFirstByte = true;
    clearInterval(this.#ticks);
    this.#wait(this.#timeouts.idleTimeoutMs, 'went silent for');
  }

  /** A chunk came: the idle clock starts over. */
  activity(): void {
    if (this.#gotFirstByte && !this.#stopped) this.#waiting?.refresh();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#waiting);
    clearTimeout(this.#total);
    clearInterval(this.#ticks);
  }

  #wait(ms: number, what: string): void {
    clearTimeout(this.#waiting);
    this.#waiting = setTimeout(() => this.#fire(`${what} ${ms} ms`), ms);
  }

  #fire(why: string): void {
    if (this.#stopped) return;
    this.stop();
    this.#expire(new ProximaError(ErrorCodes.NODE_TIMEOUT, `node ${this.#node} ${why}`));
  }
}
