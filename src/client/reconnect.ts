/**
 * When a node tries again: exponential backoff with full jitter, a random wait between 0 and
 * min(maxDelayMs, initialDelayMs × 2^attempt), so that nodes do not all come back at the same
 * instant after a super node restarts. A session that stayed up for a while resets the schedule.
 * Errors that retrying cannot fix (a refused token, another protocol version) stop it.
 */
import { ErrorCodes, ProximaError } from '../errors.js';
import { RetryLaterError } from '../proto/control/messages.js';

/** Time and chance, injectable so that tests can run the schedule without waiting. */
export interface ReconnectClock {
  /** Milliseconds, for measuring how long a session lived. */
  now(): number;
  /** A number in [0, 1). */
  random(): number;
  /** Calls `fn` after `ms`; returns a function that cancels it. */
  schedule(fn: () => void, ms: number): () => void;
}

/** The real clock. The reconnect timer is not unref()ed: waiting to reconnect is the client's work. */
export const systemClock: ReconnectClock = {
  now: () => performance.now(),
  random: Math.random,
  schedule(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/** The schedule's bounds. */
export interface BackoffOptions {
  initialDelayMs: number;
  maxDelayMs: number;
  random?: () => number;
}

/** The delays of one run of failures. */
export class Backoff {
  readonly #initialDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions) {
    this.#initialDelayMs = options.initialDelayMs;
    this.#maxDelayMs = options.maxDelayMs;
    this.#random = options.random ?? Math.random;
  }

  /** Failures since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The ceiling of the next delay: initialDelayMs doubled per failure, at most maxDelayMs. */
  get ceilingMs(): number {
    return Math.min(this.#maxDelayMs, this.#initialDelayMs * 2 ** Math.min(this.#attempt, 52));
  }

  /** The wait before the next attempt (full jitter over the ceiling); counts one more failure. */
  next(): number {
    const delayMs = Math.round(this.#random() * this.ceilingMs);
    this.#attempt++;
    return delayMs;
  }

  /** Starts over from initialDelayMs. */
  reset(): void {
    this.#attempt = 0;
  }
}

/** How long the super node asked this node to wait before its next try (0: it did not ask). */
export function askedWaitMs(err: unknown): number {
  return err instanceof RetryLaterError ? err.retryAfterMs : 0;
}

/** True for errors that no retry can fix: the node must be reconfigured or upgraded. */
export function isFatal(err: unknown): err is ProximaError {
  return err instanceof ProximaError && (err.code === ErrorCodes.AUTH_FAILED || err.code === ErrorCodes.VERSION_MISMATCH);
}

/** A wait that can be cut short. */
export interface Pause {
  /** Resolves after the delay, or at once when cut short. */
  done: Promise<void>;
  cutShort(): void;
}

/** Waits `ms` on `clock`. */
export function pause(clock: ReconnectClock, ms: number): Pause {
  let cutShort = (): void => undefined;
  const done = new Promise<void>((resolve) => {
    const cancel = clock.schedule(resolve, ms);
    cutShort = () => {
      cancel();
      resolve();
    };
  });
  return { done, cutShort };
}
